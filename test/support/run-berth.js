'use strict';
// Runs the `berth` CLI straight from the TypeScript sources (for multi-process tests).
require('./register-ts.js');

require('../../src/cli/main.ts').run(process.argv);
