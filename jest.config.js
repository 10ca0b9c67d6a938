// @ts-check
/** @type {import('jest').Config['transform']} */
const transform = { '^.+\\.ts$': ['ts-jest', {}] };

/**
 * Three tiers, each a jest project:
 * - unit: single modules, no I/O beyond temp files;
 * - integration: the real app over embedded PostgreSQL (PGlite), driven by supertest;
 * - e2e: the built server as real processes over HTTP, with real PostgreSQL, Redis and nginx;
 * - container: the image and both compose stacks on a real Docker engine, deploys included.
 *
 * @type {import('jest').Config}
 */
module.exports = {
  reporters: ['default', '<rootDir>/tests/helpers/summary-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/tests/unit/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/tests/helpers/unit.setup.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/tests/integration/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/tests/helpers/integration.setup.ts'],
      globalSetup: '<rootDir>/tests/helpers/pglite-template.global-setup.ts',
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/tests/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/tests/helpers/e2e.global-setup.ts',
      globalTeardown: '<rootDir>/tests/helpers/e2e.global-teardown.ts',
      slowTestThreshold: 30,
      setupFilesAfterEnv: ['<rootDir>/tests/helpers/e2e.setup.ts'],
    },
    {
      displayName: 'container',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/tests/container/**/*.test.ts'],
      // Needs a Docker engine (fails, saying how to get one, when none answers); builds the
      // image once for every file.
      globalSetup: '<rootDir>/tests/helpers/container.global-setup.ts',
      globalTeardown: '<rootDir>/tests/helpers/container.global-teardown.ts',
      slowTestThreshold: 60,
      setupFilesAfterEnv: ['<rootDir>/tests/helpers/e2e.setup.ts'],
    },
  ],
};
