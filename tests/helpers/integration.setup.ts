import { takeReplyViolations } from './test-app';

// Each file opens its own embedded database (about 1 s); leave room on a loaded CI machine.
jest.setTimeout(30_000);

// Every API reply a test caused must match what its route declares (status, body schema, error
// code): a reply that drifts from its documented schema fails the test that sent it.
afterEach(() => {
  const violations = takeReplyViolations();
  if (violations.length > 0) {
    throw new Error(
      `replies that do not match their route's declaration:\n${violations
        .map(({ route, status, problem }) => `  ${route} -> ${status}: ${problem}`)
        .join('\n')}`,
    );
  }
});
