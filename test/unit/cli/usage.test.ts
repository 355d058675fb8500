import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../../src/cli/main';
import { cliCommand, packagePath, packageRoot } from '../../../src/cli/invocation';
import { addressInUse, nearest } from '../../../src/cli/usage';

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'berth', ...args], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

const ROOT = packageRoot()!;

describe('unknown commands', () => {
  test.each([[[]], [['--help']]])('berth agnt %p exits 2 naming it, without printing help', async (extra) => {
    const r = await run('agnt', ...extra);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^berth: unknown command "agnt" — did you mean ".*berth agent"\?/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a word with no near command is named, with where to list the commands', async () => {
    const r = await run('no-such-command', '--help');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "no-such-command" \(.*berth --help lists the commands\)/);
    expect(r.stderr).not.toMatch(/did you mean/);
  });

  test('an unknown subcommand is named with its parent, also under help', async () => {
    const r = await run('app', 'lst', '--help');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^berth app: unknown command "lst" — did you mean ".*berth app list"\?/);
    const h = await run('help', 'mastr');
    expect(h.code).toBe(2);
    expect(h.stderr).toMatch(/did you mean ".*berth master"/);
  });

  test('known commands still work: help of a daemon lists its flags, a subcommand of agent runs as itself', async () => {
    const help = await run('help', 'master');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--grpc-port <value>/);
    const agentHelp = await run('agent', 'list', '--help');
    expect(agentHelp.code).toBe(0);
    expect(agentHelp.stdout).toMatch(/Usage: berth agent list/);
    expect(agentHelp.stdout).not.toMatch(/--work-dir/);
  });

  test('nearest prefers a prefix, then the smallest edit distance, and gives up when nothing is close', () => {
    expect(nearest('dep', ['deploy', 'deployment', 'dev'])).toBe('deploy');
    expect(nearest('mastr', ['master', 'maintenance'])).toBe('master');
    expect(nearest('tsak', ['task', 'top'])).toBe('task');
    expect(nearest('zzzzzz', ['master', 'agent'])).toBeUndefined();
  });
});

describe('addressInUse', () => {
  test('reads the address from a gRPC bind error and from an HTTP listen error', () => {
    const grpc = new Error('cannot bind gRPC server to 127.0.0.1:5050: No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:5050]');
    expect(addressInUse(grpc)).toBe('127.0.0.1:5050');
    const cause = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:5051'), { code: 'EADDRINUSE', address: '127.0.0.1', port: 5051 });
    expect(addressInUse(new Error('cannot listen on 127.0.0.1:5051', { cause }))).toBe('127.0.0.1:5051');
    expect(addressInUse(new Error('something else'))).toBeUndefined();
  });
});

describe('cliCommand: hints are printed as the person can run them', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('`berth` when a berth on the shell\'s PATH is this installation (npm link)', () => {
    fs.symlinkSync(path.join(ROOT, 'bin', 'berth.js'), path.join(dir, 'berth'));
    expect(cliCommand({ PATH: `/nonexistent${path.delimiter}${dir}` }, os.tmpdir(), ROOT)).toBe('berth');
  });

  test('not for a berth on a PATH entry npm added for its own scripts (node_modules/.bin)', () => {
    const npmBin = path.join(dir, 'node_modules', '.bin');
    fs.mkdirSync(npmBin, { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'bin', 'berth.js'), path.join(npmBin, 'berth'));
    expect(cliCommand({ PATH: npmBin, INIT_CWD: ROOT }, ROOT, ROOT)).toBe('npx berth');
  });

  test('not for another installation\'s berth; `npx berth` in the checkout, else node with the path', () => {
    fs.writeFileSync(path.join(dir, 'berth'), '#!/bin/sh\n', { mode: 0o755 });
    expect(cliCommand({ PATH: dir }, ROOT, ROOT)).toBe('npx berth');
    expect(cliCommand({ PATH: dir, INIT_CWD: path.join(ROOT, 'docs') }, ROOT, ROOT)).toBe(`node ${path.join('..', 'bin', 'berth.js')}`);
    expect(cliCommand({ PATH: dir }, dir, ROOT)).toBe(`node ${path.join(ROOT, 'bin', 'berth.js')}`);
  });

  test('paths inside the package are given relative to the person\'s directory when inside it', () => {
    expect(packagePath('examples/hello-framework', {}, ROOT, ROOT)).toBe('./examples/hello-framework');
    expect(packagePath('examples/hello-framework', {}, dir, ROOT)).toBe(path.join(ROOT, 'examples', 'hello-framework'));
  });
});
