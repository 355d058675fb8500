import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentConfigSchema, agentResources, detectedResources, parseAttributes } from '../../../src/agent/config';
import { ConfigError, configToken, loadConfig } from '../../../src/common/config';
import { main } from '../../../src/cli/main';

describe('agent config', () => {
  it('detects cpus, mem, disk and ports, keeping what the operator names', () => {
    expect(detectedResources(8, 16 * 1024 ** 3)).toBe('cpus:8;mem:15360;disk:10240;ports:[31000-32000]');
    expect(detectedResources(1, 1024 ** 3)).toBe('cpus:1;mem:512;disk:10240;ports:[31000-32000]');
    const r = agentResources('cpus:2;ports:[4000-4001]');
    expect(r.scalar('cpus')).toBe(2000);
    expect(r.ranges('ports')).toEqual([{ begin: 4000, end: 4001 }]);
    expect(r.scalar('disk')).toBe(10_240_000);
    expect(r.scalar('mem')).toBeGreaterThan(0);
  });

  it('parses attributes text into text, scalar and range attributes', () => {
    expect(parseAttributes('rack:r1; level:2 ;slots:[1-4,8-9]')).toEqual([
      { name: 'rack', text: 'r1' },
      { name: 'level', scalar: 2 },
      { name: 'slots', ranges: [{ begin: 1, end: 4 }, { begin: 8, end: 9 }] },
    ]);
    expect(parseAttributes('')).toEqual([]);
    expect(() => parseAttributes('rack')).toThrow(/name:value/);
    expect(() => parseAttributes('a:1;a:2')).toThrow(/twice/);
  });

  it('loads defaults, flags and env, and names every bad field', () => {
    const c = loadConfig({ schema: agentConfigSchema, flags: { master: '10.0.0.1:5050' }, env: { BERTH_ATTRIBUTES: 'rack:r1' } });
    expect(c.master).toBe('10.0.0.1:5050');
    expect(c.attributes).toBe('rack:r1');
    expect(c.containerizers).toBe('auto');
    expect(c.killTasksOnShutdown).toBe(false);
    let err: unknown;
    try {
      loadConfig({ schema: agentConfigSchema, flags: { master: 'nohost', resources: 'cpus:x', attributes: 'bad' }, env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.message).join('\n')).toMatch(/master[\s\S]*resources[\s\S]*attributes/);
  });

  it('has an HTTP port (flags --http-host/--http-port, env BERTH_HTTP_*), 0 for an ephemeral one', () => {
    const d = loadConfig({ schema: agentConfigSchema, flags: {}, env: {} });
    expect(d.http).toEqual({ host: '127.0.0.1', port: 5052 });
    const c = loadConfig({ schema: agentConfigSchema, flags: { httpPort: '0' }, env: { BERTH_HTTP_HOST: '0.0.0.0' } });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 0 });
    expect(() => loadConfig({ schema: agentConfigSchema, flags: { httpPort: '70000' }, env: {} })).toThrow(/http\.port/);
    expect(() => loadConfig({ schema: agentConfigSchema, flags: {}, env: { BERTH_HTTP_PORT: '-1' } })).toThrow(/http\.port/);
  });

  it('sandbox GC settings: a week, 10 % headroom, checked every minute; durations as text; bad values named', () => {
    const d = loadConfig({ schema: agentConfigSchema, flags: {}, env: {} });
    expect([d.gcDelayMs, d.gcDiskHeadroom, d.diskWatchIntervalMs]).toEqual([7 * 86_400_000, 0.1, 60_000]);
    const c = loadConfig({ schema: agentConfigSchema, flags: { gcDelayMs: '2d' }, env: { BERTH_GC_DISK_HEADROOM: '0.25', BERTH_DISK_WATCH_INTERVAL_MS: '30s' } });
    expect([c.gcDelayMs, c.gcDiskHeadroom, c.diskWatchIntervalMs]).toEqual([2 * 86_400_000, 0.25, 30_000]);
    expect(() => loadConfig({ schema: agentConfigSchema, flags: { gcDiskHeadroom: '1.5' }, env: {} })).toThrow(/gcDiskHeadroom/);
    expect(() => loadConfig({ schema: agentConfigSchema, flags: { diskWatchIntervalMs: '10ms' }, env: {} })).toThrow(/diskWatchIntervalMs/);
    expect(() => loadConfig({ schema: agentConfigSchema, flags: { gcDelayMs: 'soon' }, env: {} })).toThrow(/gcDelayMs/);
  });

  it('`berth agent` exits 78 on a bad configuration', async () => {
    const out: string[] = [];
    const code = await main(['node', 'berth', 'agent', '--master', 'nohost'], { stdout: (s) => out.push(s), stderr: (s) => out.push(s) });
    expect(code).toBe(78);
    expect(out.join('')).toMatch(/berth agent: invalid configuration/);
  });

  it('takes the bearer token from token or tokenFile (not both) and never echoes it in errors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-token-'));
    try {
      const file = path.join(dir, 'token');
      fs.writeFileSync(file, '  a-secret-token-value\n');
      expect(configToken(loadConfig({ schema: agentConfigSchema, flags: { tokenFile: file }, env: {} }))).toBe('a-secret-token-value');
      expect(configToken(loadConfig({ schema: agentConfigSchema, flags: {}, env: { BERTH_TOKEN: 'from-env-token' } }))).toBe('from-env-token');
      expect(configToken(loadConfig({ schema: agentConfigSchema, flags: {}, env: {} }))).toBeUndefined();
      expect(() => loadConfig({ schema: agentConfigSchema, flags: { token: 'a-secret-token-value', tokenFile: file }, env: {} })).toThrow(/not both/);
      expect(() => configToken({ tokenFile: path.join(dir, 'missing') })).toThrow(/tokenFile: cannot read .*ENOENT/);
      fs.writeFileSync(file, '\n');
      expect(() => configToken({ tokenFile: file })).toThrow(/is empty/);
      let err: unknown;
      try {
        loadConfig({ schema: agentConfigSchema, flags: { token: '' }, env: {} });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/token/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
