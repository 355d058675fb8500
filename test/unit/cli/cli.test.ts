import { main } from '../../../src/cli/main';

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'berth', ...args], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

describe('berth CLI', () => {
  test('--help lists the commands', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: berth/);
    expect(r.stdout).toMatch(/resources/);
  });

  test('--version prints the package version', async () => {
    const r = await run('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(require('../../../package.json').version);
  });

  test('resources prints the normalised declaration and totals', async () => {
    const r = await run('resources', 'mem:8192;cpus:4;ports:[31000-31009];cpus(ads):1.5');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cpus: 5\.5/);
    expect(r.stdout).toMatch(/ports: 10 values/);
  });

  test('resources --json prints the JSON form', async () => {
    const r = await run('resources', '--json', 'cpus:2');
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ name: 'cpus', type: 'SCALAR', scalar: { value: 2 } })]);
  });

  test('invalid resources exit 2 with the offending part named', async () => {
    const r = await run('resources', 'cpus:4;mem:-5');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mem:-5/);
  });

  test('berth master with bad configuration exits 78 naming every problem and its source', async () => {
    const r = await run('master', '--grpc-port', 'abc');
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/grpc\.port: must be an integer between 0 and 65535, got "abc" \(from flag --grpc-port\)/);
    expect(r.stderr).toMatch(/auth.*auth\.enabled: false/);
  });

  test('berth master --help-config lists settings with their environment variables', async () => {
    const r = await run('master', '--help-config');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/BERTH_GRPC_PORT/);
  });

  test('an unknown command exits 2', async () => {
    const r = await run('nonsense');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
  });

  test('berth frameworks: --help-config lists its settings; bad configuration exits 78 naming the field', async () => {
    const help = await run('frameworks', '--help-config');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/BERTH_PLUGINS/);
    expect(help.stdout).toMatch(/BERTH_PLUGIN_OPTIONS/);
    const bad = await run('frameworks', '--plugin-options', '{not json', '--store', 'nats');
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/pluginOptions: must be JSON/);
    expect(bad.stderr).toMatch(/nats\.servers: must list at least one NATS URL/);
  });
});

describe('docs/cli.md', () => {
  test('is the reference generated from the command tree (run npm run docs:cli after changing a command)', () => {
    const fs = require('node:fs') as typeof import('node:fs');
    const path = require('node:path') as typeof import('node:path');
    const { buildProgram } = require('../../../src/cli/main') as typeof import('../../../src/cli/main');
    const { cliReference } = require('../../../src/cli/reference') as typeof import('../../../src/cli/reference');
    const expected = cliReference(buildProgram({ stdout: () => undefined, stderr: () => undefined }));
    expect(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'cli.md'), 'utf8')).toBe(expected);
  });
});
