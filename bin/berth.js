#!/usr/bin/env node
'use strict';
// The `berth` command. The TypeScript sources are compiled to dist/ by `npm run build`
// (run by `npm install`/`npm ci` in a checkout, through the `prepare` script).
require('../dist/src/cli/main.js').run(process.argv);
