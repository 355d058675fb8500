/**
 * Configuration errors found as a daemon starts make it exit 78 (EX_CONFIG), which the systemd units
 * do not restart (RestartPreventExitStatus=78, checked in test/unit/deploy.test.ts), with every
 * problem on stderr naming the setting or file (issue 15, point 17). Each case starts the real
 * `berth` process and waits for it to refuse; none of them gets as far as serving.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBerthToExit } from '../support/master-process';

describe('a daemon with a bad configuration exits 78 and says why', () => {
  let dir: string;
  const file = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode: 0o600 });
    return f;
  };
  const master = (...args: string[]) => runBerthToExit(['master', '--grpc-port', '0', '--http-port', '0', '--work-dir', path.join(dir, 'master'), ...args]);
  const frameworks = (...args: string[]) => runBerthToExit(['frameworks', '--masters', '127.0.0.1:1', '--grpc-port', '0', '--work-dir', path.join(dir, 'frameworks'), ...args], { cwd: dir });

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-config-exit-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const goodTokens = () => file('tokens.yaml', 'principals:\n  - name: ops\n    token: a-long-enough-token-0123\n');

  test('a tokens file with a short token', async () => {
    const tokens = file('short.yaml', 'principals:\n  - name: ops\n    token: short\n');
    const r = await master('--auth-tokens-file', tokens);
    expect([r.code, r.stderr]).toEqual([78, `berth master: invalid configuration:\n  principals[0].token: must be at least 16 characters (better: use tokenSha256) (in file ${tokens}, named by auth.tokensFile)\n`]);
  });

  test('an ACLs file naming a principal the tokens file lacks (master and framework host)', async () => {
    const tokens = goodTokens();
    const acls = file('acls.yaml', 'rules:\n  - { principal: ghost, action: view }\n');
    const expected = `rules: principal "ghost" is not in the tokens file ${tokens} (in file ${acls}, named by auth.aclsFile)`;
    const m = await master('--auth-tokens-file', tokens, '--auth-acls-file', acls);
    expect([m.code, m.stderr]).toEqual([78, expect.stringContaining(`berth master: invalid configuration:\n  ${expected}\n`)]);
    const f = await frameworks('--auth-tokens-file', tokens, '--auth-acls-file', acls);
    expect([f.code, f.stderr]).toEqual([78, expect.stringContaining(`berth frameworks: invalid configuration:\n  ${expected}\n`)]);
  });

  test('auth disabled while a tokens file is set is a contradiction, whichever spelling of false', async () => {
    const tokens = goodTokens();
    for (const no of ['false', 'off', 'NO', '0']) {
      const r = await master('--auth-enabled', no, '--auth-tokens-file', tokens);
      expect([r.code, r.stderr]).toEqual([
        78,
        `berth master: invalid configuration:\n  auth.enabled: is false, but auth.tokensFile (${tokens}) is set: authentication would be off without a word; remove auth.enabled to authenticate with the file, or remove the file to run without authentication, got "${no}" (from flag --auth-enabled)\n`,
      ]);
    }
    // The environment variable too.
    const env = await runBerthToExit(['master', '--grpc-port', '0', '--http-port', '0', '--work-dir', path.join(dir, 'master')], { env: { ...process.env, BERTH_AUTH_ENABLED: 'false', BERTH_AUTH_TOKENS_FILE: tokens } });
    expect([env.code, env.stderr]).toEqual([78, expect.stringContaining('auth.enabled: is false, but auth.tokensFile')]);
  });

  test('a boolean that is none of the spellings the message lists', async () => {
    const r = await master('--auth-enabled', 'maybe');
    expect([r.code, r.stderr]).toEqual([78, expect.stringContaining('auth.enabled: must be true or false (also accepted, in any case: 1/0, yes/no, on/off), got "maybe" (from flag --auth-enabled)\n')]);
  });

  test('a plugin that cannot be loaded, or that refuses its options, stops the framework host', async () => {
    const missing = await frameworks('--auth-enabled', 'false', '--plugins', './no-such-plugin');
    expect([missing.code, missing.stderr]).toEqual([78, `berth frameworks: invalid configuration:\n  plugins: plugin "./no-such-plugin" cannot be loaded: no module ${path.join(dir, 'no-such-plugin')}\n`]);
    const options = await frameworks('--auth-enabled', 'false', '--plugins', 'jobs', '--plugin-options', '{"jobs": {"historySize": 0, "colour": "red"}}');
    expect(options.code).toBe(78);
    expect(options.stderr).toMatch(/^berth frameworks: invalid configuration:\n {2}pluginOptions\.jobs: plugin "jobs" refuses its options: options\.historySize: .*, got 0\n {2}pluginOptions\.jobs: plugin "jobs" refuses its options: options: unknown option\(s\) colour\n$/);
  });

  test('a plugin token file for no such plugin, or one that cannot be read, stops the framework host naming it', async () => {
    const unknown = await frameworks('--auth-enabled', 'false', '--plugins', 'jobs', '--plugin-token-files', '{"reports": "/etc/berth/reports.token"}');
    expect([unknown.code, unknown.stderr]).toEqual([78, expect.stringContaining('pluginTokenFiles: reports: no such plugin (plugins: jobs)')]);
    const unreadable = await frameworks('--auth-enabled', 'false', '--plugins', 'jobs', '--plugin-token-files', JSON.stringify({ jobs: path.join(dir, 'no-such.token') }));
    expect([unreadable.code, unreadable.stderr]).toEqual([78, expect.stringContaining(`pluginTokenFiles.jobs: cannot read ${path.join(dir, 'no-such.token')}: ENOENT`)]);
    const notJson = await frameworks('--auth-enabled', 'false', '--plugin-token-files', '{jobs');
    expect([notJson.code, notJson.stderr]).toEqual([78, expect.stringContaining('pluginTokenFiles: must be JSON')]);
  });

  test('berth dev hands its modules file to its master and agent: a module that refuses its options is exit 78 naming it', async () => {
    const modules = path.join(dir, 'dev-modules.yaml');
    fs.writeFileSync(modules, `modules:\n  - module: ${path.resolve(__dirname, '..', '..', 'examples', 'modules', 'rotating-logger.js')}\n    options: { keep: 0 }\n`);
    const r = await runBerthToExit(['dev', '--work-dir', path.join(dir, 'dev'), '--grpc-port', '0', '--http-port', '0', '--agent-http-port', '0', '--frameworks-port', '0', '--frameworks-http-port', '0', '--containerizers', 'process', '--modules', modules]);
    expect([r.code, r.stderr]).toEqual([78, expect.stringContaining('modules[0].options.keep: module "rotating-logger": must be an integer of at least 1, got 0')]);
  });
});
