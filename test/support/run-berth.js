'use strict';
// Runs the `berth` CLI straight from the TypeScript sources (for multi-process tests), so tests
// never depend on a stale dist/. TypeScript is transpiled on load with swc, as jest does.
const { transformSync } = require('@swc/core');
const fs = require('node:fs');

require.extensions['.ts'] = function compile(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' },
  });
  module._compile(code, filename);
};

require('../../src/cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err) => {
    process.stderr.write(`berth: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  });
