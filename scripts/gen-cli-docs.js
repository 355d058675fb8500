'use strict';
// Writes docs/cli.md from the command tree (run after `npm run build`: npm run docs:cli).
const fs = require('node:fs');
const path = require('node:path');
const { buildProgram } = require('../dist/src/cli/main.js');
const { cliReference } = require('../dist/src/cli/reference.js');

const program = buildProgram({ stdout: () => undefined, stderr: () => undefined });
fs.writeFileSync(path.join(__dirname, '..', 'docs', 'cli.md'), cliReference(program));
process.stdout.write('docs/cli.md written\n');
