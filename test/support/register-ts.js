'use strict';
// Lets a child process `require` the TypeScript sources directly (multi-process tests), so tests
// never depend on a stale dist/: TypeScript is transpiled on load with swc, as jest does.
// Use as `node -r test/support/register-ts.js some-file.ts` or require it first. `require('berth')`
// (how examples/ and plugins import the SDK) resolves to the SDK's sources, as jest's moduleNameMapper does.
const { transformSync } = require('@swc/core');
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');

const SDK = path.join(__dirname, '../../src/frameworks/sdk/index.ts');
const resolve = Module._resolveFilename;
Module._resolveFilename = function resolveBerth(request, ...rest) {
  return resolve.call(this, request === 'berth' ? SDK : request, ...rest);
};

require.extensions['.ts'] = function compile(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' },
  });
  module._compile(code, filename);
};
