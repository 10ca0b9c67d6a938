// @ts-check
/** @type {import('jest').Config['transform']} */
const transform = { '^.+\\.ts$': ['ts-jest', {}] };

/**
 * Three tiers, each a jest project:
 * - unit: single modules, no I/O beyond temp files;
 * - integration: the real app over embedded PostgreSQL (PGlite), driven by supertest;
 * - e2e: the built server as real processes over HTTP, with real PostgreSQL, Redis and nginx.
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
  ],
};
