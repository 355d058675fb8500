#!/usr/bin/env node
'use strict';
// The `berth` command. The TypeScript sources are compiled to dist/ by `npm run build`
// (run automatically by `npm install` in a checkout, through the `prepare` script).
require('../dist/src/cli/main.js').main(process.argv).catch((err) => {
  process.stderr.write(`berth: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
