// Kept only for the integration tier's imports (tests/integration/health.test.ts and
// database-errors.test.ts), which its owner moves to harness/ports: then delete this file.
export { freePort } from '../../../harness/ports';
