#!/usr/bin/env -S node --max-semi-space-size=8
'use strict';
// The `berth` command. Run as `berth` or `npx berth`, node starts with V8's young generation capped at
// 8 MiB per semi-space (docs/operations.md, Sizing): an idle daemon then stays near 75 MiB instead of
// 80–110 MiB depending on when V8 last shrank it. `node bin/berth.js` does not read this line.
// The TypeScript sources are compiled to dist/ by `npm run build`
// (run by `npm install`/`npm ci` in a checkout, through the `prepare` script).
require('../dist/src/cli/main.js').run(process.argv);
