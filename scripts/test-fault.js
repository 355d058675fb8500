#!/usr/bin/env node
'use strict';
/**
 * `npm run test:fault -- [--iterations N] [jest arguments…]`: the fault-injection suite (test/fault)
 * alone, each scenario repeating its fault N times (default 1, as `npm test` and CI run it). Starts
 * nats-server/dockerd first when they are missing and the user is root, as `npm test` does.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
let iterations = '1';
const rest = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--iterations') iterations = args[++i] ?? '';
  else if (args[i].startsWith('--iterations=')) iterations = args[i].slice('--iterations='.length);
  else rest.push(args[i]);
}
if (!/^[1-9]\d*$/.test(iterations)) {
  process.stderr.write(`test:fault: --iterations must be a positive integer, got ${JSON.stringify(iterations)}\n`);
  process.exit(2);
}
const root = path.join(__dirname, '..');
const services = spawnSync('bash', [path.join(__dirname, 'ensure-services.sh')], { stdio: 'inherit', cwd: root });
if (services.status !== 0) process.exit(services.status ?? 1);
const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), 'test/fault', ...rest], {
  stdio: 'inherit', cwd: root, env: { ...process.env, BERTH_FAULT_ITERATIONS: iterations },
});
process.exit(jest.status ?? 1);
