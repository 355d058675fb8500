/**
 * docs/cluster.md, "On real machines": what it tells an operator to write is checked with the real
 * loaders — each `/etc/berth/<daemon>.env` it shows, loaded over the deploy/config file it goes with,
 * gives the daemon the masters, NATS servers and addresses the page means; its NATS configuration
 * passes `nats-server -t` with an authorization file beside it. (The loopback section is run for
 * real by test/integration/cluster-doc.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentConfigSchema } from '../../src/agent/config';
import { loadConfig } from '../../src/common/config';
import { frameworksConfigSchema } from '../../src/frameworks/host/config';
import { masterConfigSchema } from '../../src/master/config';
import { findNatsServer } from '../support/nats';

const ROOT = path.resolve(__dirname, '../..');
const doc = fs.readFileSync(path.join(ROOT, 'docs', 'cluster.md'), 'utf8');
const machines = doc.slice(doc.indexOf('## On real machines'));

/** The body of the heredoc the page writes to `file` (`sudo tee FILE > /dev/null <<'EOF' … EOF`). */
function heredoc(file: string): string {
  const m = new RegExp(`sudo tee ${file.replace(/[.]/g, '\\.')} > /dev/null <<'EOF'\\n([\\s\\S]*?)\\nEOF\\n`).exec(machines);
  if (m === null) throw new Error(`docs/cluster.md writes no ${file}`);
  return m[1]!;
}

/** KEY=VALUE lines, as systemd's EnvironmentFile= reads them. */
function envFile(file: string): Record<string, string> {
  return Object.fromEntries(heredoc(file).split('\n').map((line) => {
    const eq = line.indexOf('=');
    return [line.slice(0, eq), line.slice(eq + 1)];
  }));
}

const config = (name: string): string => path.join(ROOT, 'deploy', 'config', `${name}.yaml`);
const NATS = ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222', 'nats://10.0.0.3:4222'];
const MASTERS = ['10.0.0.1:5050', '10.0.0.2:5050', '10.0.0.3:5050'];

describe('docs/cluster.md on real machines', () => {
  it('master.env over deploy/config/master.yaml: its own id and address, the three NATS servers, the dashboard\'s framework host', () => {
    const c = loadConfig({ schema: masterConfigSchema, file: config('master'), env: envFile('/etc/berth/master.env') });
    expect(c).toMatchObject({ masterId: 'master-1', grpc: { host: '10.0.0.1', port: 5050 }, http: { host: '10.0.0.1', port: 5051 }, dashboard: { frameworks: '10.0.0.1:5060' } });
    expect(c.nats.servers).toEqual(NATS);
  });

  it('agent.env over deploy/config/agent.yaml: the three masters, its name and attributes', () => {
    const c = loadConfig({ schema: agentConfigSchema, file: config('agent'), env: envFile('/etc/berth/agent.env') });
    expect(c).toMatchObject({ master: MASTERS.join(','), hostname: 'node-11', attributes: 'rack:r1' });
  });

  it('frameworks.env over deploy/config/frameworks.yaml: the three masters and NATS servers, its API address', () => {
    const c = loadConfig({ schema: frameworksConfigSchema, file: config('frameworks'), env: envFile('/etc/berth/frameworks.env') });
    expect(c.masters).toEqual(MASTERS);
    expect(c.nats?.servers).toEqual(NATS);
    expect(c.grpc).toEqual({ host: '10.0.0.1', port: 5060 });
  });

  it('the NATS configuration passes nats-server -t, its include found beside it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cluster-doc-nats-'));
    try {
      const bin = findNatsServer();
      const version = /v2\.(\d+)\./.exec(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '');
      let text = heredoc('/etc/nats-server.conf').replace('/var/lib/nats', dir);
      // nats-server 2.9 (the test machines' Debian 12) does not know sync_interval; 2.10 checks it.
      if (version !== null && Number(version[1]) < 10) text = text.replace(', sync_interval: always', '');
      fs.writeFileSync(path.join(dir, 'nats-server.conf'), text);
      fs.writeFileSync(path.join(dir, 'nats-auth.conf'), 'authorization { users: [ { user: master, password: "0123456789abcdef" } ] }\n');
      const r = spawnSync(bin, ['-t', '-c', path.join(dir, 'nats-server.conf')], { encoding: 'utf8' });
      expect({ status: r.status, out: `${r.stdout}${r.stderr}` }).toEqual({ status: 0, out: expect.stringMatching(/is valid/) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
