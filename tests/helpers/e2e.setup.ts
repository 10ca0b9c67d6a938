import { stopAll } from '../../harness/processes';
import { removeTempDirs } from '../../harness/temp-dirs';

// e2e tests start servers and run traffic; they are bounded by their own waits (a server's
// readiness alone may take up to 120 s on a busy machine), not by jest.
jest.setTimeout(300_000);

// Whatever a test file started and did not stop (a failing test skips its own clean-up) is
// stopped when the file ends, and its temp folders removed. The harness's own exit hooks cannot
// do it here: jest runs a test file with a process object of its own, whose 'exit' never fires.
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});
