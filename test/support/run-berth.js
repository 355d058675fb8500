'use strict';
// Runs the `berth` CLI straight from the TypeScript sources (for multi-process tests).
require('./register-ts.js');

require('../../src/cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    process.stderr.write(`berth: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  });
