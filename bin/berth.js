#!/usr/bin/env node
'use strict';
// The `berth` command. The TypeScript sources are compiled to dist/ by `npm run build`
// (run by `npm install`/`npm ci` in a checkout, through the `prepare` script).
require('../dist/src/cli/main.js')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    process.stderr.write(`berth: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  });
