const { writeFileSync } = require('node:fs');

/**
 * Ends every run with one line a script can read, "N passed, M failed", and, when
 * TEST_SUMMARY_FILE is set, writes the same counts there as JSON for CI to add up.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const summary = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    const parts = [`${summary.passed} passed`, `${summary.failed} failed`];
    if (summary.skipped) parts.push(`${summary.skipped} skipped`);
    if (process.env.TEST_SUMMARY_FILE)
      writeFileSync(process.env.TEST_SUMMARY_FILE, JSON.stringify(summary));
    process.stdout.write(`\n${parts.join(', ')}\n`);
  }
}
module.exports = SummaryReporter;
