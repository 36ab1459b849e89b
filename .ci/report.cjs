// Reads a vitest JSON report (--reporter=json) for .ci/run.
//   node .ci/report.cjs counts <report>        "N passed, N failed, N skipped"
//   node .ci/report.cjs failed-files <report>  the test files with a failure, relative, one per line
//   node .ci/report.cjs failures <report>      each failed test: file › name: first line of its error
'use strict';
const path = require('node:path');
const [mode, file] = process.argv.slice(2);
const report = require(path.resolve(file));
const failedTests = [];
const failedFiles = new Set();
for (const result of report.testResults) {
  const rel = path.relative(process.cwd(), result.name);
  const failed = result.assertionResults.filter((a) => a.status === 'failed');
  for (const a of failed) {
    const first = (a.failureMessages[0] ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
    failedTests.push(`${rel} › ${a.fullName}: ${first.trim().slice(0, 300)}`);
  }
  // A file can fail with no failed test in it (a hook, an import, an unhandled error).
  if (failed.length > 0 || result.status === 'failed') {
    failedFiles.add(rel);
    if (failed.length === 0) failedTests.push(`${rel}: ${(result.message || 'failed outside a test').split('\n')[0].slice(0, 300)}`);
  }
}
if (mode === 'counts') {
  const skipped = report.numPendingTests + (report.numTodoTests || 0);
  console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
} else if (mode === 'failed-files') {
  for (const f of failedFiles) console.log(f);
} else if (mode === 'failures') {
  for (const t of failedTests) console.log(`  ${t}`);
} else {
  console.error(`usage: node .ci/report.cjs counts|failed-files|failures <report.json>`);
  process.exit(2);
}
