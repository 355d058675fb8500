'use strict';
// Prints one plain closing line, "tests: N passed, N failed, N skipped", after jest's own summary,
// so any CI log reader sees the counts without knowing jest's format.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    process.stdout.write(
      `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped\n`,
    );
  }
}
module.exports = SummaryReporter;
