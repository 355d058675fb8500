/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  reporters: ['default', '<rootDir>/scripts/jest-summary-reporter.js'],
  // Type-checking is `tsc --noEmit` (npm run typecheck); jest only transpiles, with swc for speed.
  transform: {
    '^.+\\.[tj]s$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript', decorators: true },
             transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' },
      module: { type: 'commonjs' },
    }],
  },
  // inversify 8 is ESM-only; jest's CommonJS runtime cannot require(esm) on Node 20, so swc turns
  // inversify's files (and only those of node_modules) into CommonJS too.
  transformIgnorePatterns: ['/node_modules/(?!(inversify|@inversifyjs)/)'],
  testTimeout: 20000,
  // Plugins (examples/) import the SDK by the package's name, as third-party plugins do.
  moduleNameMapper: { '^berth$': '<rootDir>/src/frameworks/sdk/index.ts' },
  // A Docker engine (started when none answers, stopped after) and the busybox test image.
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
};
