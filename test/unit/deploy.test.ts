/**
 * deploy/ checked with the real tools and the real schemas:
 * - the example configs (deploy/config) load and validate with the daemons' own loader and schemas,
 *   also with the overrides deploy/docker-compose.yml gives each service, and agree with each other
 *   (NATS URLs, master addresses, ports);
 * - the ACL example and the tokens deploy/make-tokens.sh writes load with the master's auth loader;
 * - deploy/docker-compose.yml passes `docker-compose config`;
 * - the systemd units pass `systemd-analyze verify`, the sysusers file `systemd-sysusers --dry-run`;
 * - the NATS configs pass `nats-server -t` (2.9 does not know sync_interval: see natsCheckable);
 * - the Dockerfile has what it must (no registry here to build it: a lint).
 * A validator that is missing fails its test with the command that installs it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { agentConfigSchema } from '../../src/agent/config';
import { loadConfig } from '../../src/common/config';
import { frameworksConfigSchema } from '../../src/frameworks/host/config';
import { hashToken, loadAclsFile, loadAuth, type Authenticator } from '../../src/common/auth';
import { masterConfigSchema, type MasterConfig } from '../../src/master/config';
import { MasterMetrics } from '../../src/master/metrics';
import { AgentMetrics } from '../../src/agent/metrics';

const ROOT = path.resolve(__dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const at = (...p: string[]): string => path.join(DEPLOY, ...p);
const read = (...p: string[]): string => fs.readFileSync(at(...p), 'utf8');

/** The first of `names` found on PATH or in the sbin directories a non-root PATH lacks. */
function which(...names: string[]): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin', '/sbin', '/bin'];
  for (const name of names) {
    if (path.isAbsolute(name) && fs.existsSync(name)) return name;
    for (const d of dirs) {
      const candidate = path.join(d, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // next
      }
    }
  }
  return undefined;
}

/** The validator's path, or a failure that says how to install it. */
function requireTool(name: string, install: string): string {
  const found = which(name);
  if (found === undefined) throw new Error(`${name} is not installed, so this check cannot run: ${install}`);
  return found;
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string } = {}): { code: number; out: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const tmpDirs: string[] = [];
function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The compose file, parsed once (merge keys `<<:` resolved as compose does).
// ---------------------------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  command?: string[];
  user?: string;
  network_mode?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
}
const compose = YAML.parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;
const berthServices = Object.entries(services).filter(([, s]) => s.image?.startsWith('berth:'));
const daemonOf = (s: ComposeService): string => s.command![0]!;

/** The host file a service's container path is mounted from (`./config/x.yaml:/etc/berth/x.yaml:ro`). */
function hostPathOf(s: ComposeService, containerPath: string): string {
  for (const v of s.volumes ?? []) {
    const [src, dst] = v.split(':');
    if (dst === containerPath) return path.resolve(DEPLOY, src!);
  }
  throw new Error(`no volume mounts ${containerPath}`);
}

const schemas = { master: masterConfigSchema, agent: agentConfigSchema, frameworks: frameworksConfigSchema } as const;

/** Loads a service's config as its container would: its --config file plus its environment. */
function serviceConfig(s: ComposeService): Record<string, unknown> {
  const daemon = daemonOf(s) as keyof typeof schemas;
  const i = s.command!.indexOf('--config');
  const file = hostPathOf(s, s.command![i + 1]!);
  return loadConfig({ schema: schemas[daemon] as never, file, env: s.environment ?? {} }) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------

describe('example configs (deploy/config) with the real schemas', () => {
  // env: {} so that BERTH_* variables of whoever runs the tests do not leak in.
  const master = loadConfig({ schema: masterConfigSchema, file: at('config/master.yaml'), env: {} });
  const agent = loadConfig({ schema: agentConfigSchema, file: at('config/agent.yaml'), env: {} });
  const frameworks = loadConfig({ schema: frameworksConfigSchema, file: at('config/frameworks.yaml'), env: {} });

  it('master.yaml: HA on NATS with 3 replicas, authentication on', () => {
    expect(master.registry.kind).toBe('nats');
    expect(master.nats.replicas).toBe(3);
    expect(master.nats.servers).toHaveLength(3);
    expect(master.auth).toMatchObject({ enabled: true, tokensFile: '/etc/berth/tokens.yaml', aclsFile: '/etc/berth/acls.yaml' });
    expect(master.workDir).toBe('/var/lib/berth-master');
    // Durations in the file's text form were understood.
    expect(master.nats.leaseMs).toBe(3_000);
    expect(master.agentReregisterTimeoutMs).toBe(600_000);
  });

  it('agent.yaml: keeps tasks on shutdown and recovers them, token from a file', () => {
    expect(agent).toMatchObject({ killTasksOnShutdown: false, recover: 'reconnect', workDir: '/var/lib/berth-agent', tokenFile: '/etc/berth/agent.token' });
    expect(agent.token).toBeUndefined();
    // Every master of master.yaml's HA layout (5050, 5150, 5250 on one host, as the compose file).
    expect(String(agent.master).split(',')).toHaveLength(3);
  });

  it('frameworks.yaml: state in NATS with 3 replicas, every master listed', () => {
    expect(frameworks).toMatchObject({ store: 'nats', nats: { replicas: 3 }, tokenFile: '/etc/berth/frameworks.token' });
    expect(frameworks.masters).toHaveLength(3);
    expect(frameworks.nats.servers).toEqual(master.nats.servers);
  });

  it('the NATS URLs are the client ports of deploy/nats/*.conf', () => {
    const listens = natsConfs().map((c) => `nats://${c.listen}`);
    expect([...master.nats.servers].sort()).toEqual(listens.sort());
  });

  it('a typo in the file is still caught (the loader is strict), so the checks above mean something', () => {
    const dir = tmpDir('berth-deploy-typo-');
    fs.writeFileSync(path.join(dir, 'm.yaml'), read('config/master.yaml').replace('registry:\n  kind: nats', 'registry:\n  knd: nats'));
    expect(() => loadConfig({ schema: masterConfigSchema, file: path.join(dir, 'm.yaml'), env: {} })).toThrow(/registry\.knd: unknown key.*did you mean registry\.kind/);
  });
});

describe('tokens (deploy/make-tokens.sh) and ACLs (deploy/config/acls.yaml)', () => {
  const dir = path.join(tmpDir('berth-deploy-tokens-'), 'secrets');
  let made: { code: number; out: string };
  beforeAll(() => {
    made = run('sh', [at('make-tokens.sh'), dir]);
  });

  it('make-tokens.sh writes one token per principal and their SHA-256, secrets readable by the owner only', () => {
    expect(made).toMatchObject({ code: 0 });
    const doc = YAML.parse(fs.readFileSync(path.join(dir, 'tokens.yaml'), 'utf8')) as { principals: { name: string; tokenSha256: string }[] };
    expect(doc.principals.map((p) => p.name)).toEqual(['agent', 'frameworks', 'operator']);
    for (const p of doc.principals) {
      const file = path.join(dir, `${p.name}.token`);
      const token = fs.readFileSync(file, 'utf8').trim();
      expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect(hashToken(token)).toBe(p.tokenSha256);
      expect(fs.statSync(file).mode & 0o077).toBe(0);
    }
    // Run again: keeps what exists.
    const before = fs.readFileSync(path.join(dir, 'tokens.yaml'), 'utf8');
    expect(run('sh', [at('make-tokens.sh'), dir]).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'tokens.yaml'), 'utf8')).toBe(before);
  });

  it('the master loads them (every principal of the ACLs is in the tokens file) and they grant what each daemon needs', () => {
    const { authenticator, authorizer } = loadAuth({ enabled: true, tokensFile: path.join(dir, 'tokens.yaml'), aclsFile: at('config/acls.yaml') });
    expect((authenticator as Authenticator).principals.sort()).toEqual(['agent', 'frameworks', 'operator']);
    const bearer = (who: string) => ({ authorization: `Bearer ${fs.readFileSync(path.join(dir, `${who}.token`), 'utf8').trim()}` });
    const agent = authenticator!.authenticate(bearer('agent'));
    const fw = authenticator!.authenticate(bearer('frameworks'));
    const op = authenticator!.authenticate(bearer('operator'));
    expect([agent?.name, fw?.name, op?.name]).toEqual(['agent', 'frameworks', 'operator']);
    expect(authorizer!.allowed(agent, 'register_agent', 'some-agent-id')).toBe(true);
    expect(authorizer!.allowed(fw, 'register_framework', 'web')).toBe(true);
    expect(authorizer!.allowed(fw, 'run_task', '*')).toBe(true);
    expect(authorizer!.allowed(op, 'drain_agent', 'some-agent-id')).toBe(true);
    expect(authorizer!.allowed(op, 'set_quota', 'web')).toBe(true);
    // Least privilege: no one does what is not theirs.
    expect(authorizer!.allowed(agent, 'register_framework', 'web')).toBe(false);
    expect(authorizer!.allowed(fw, 'drain_agent', 'x')).toBe(false);
    expect(authorizer!.allowed(fw, 'set_quota', 'web')).toBe(false);
    expect(authorizer!.allowed(op, 'register_agent', 'x')).toBe(false);
    expect(authorizer!.allowed(undefined, 'view')).toBe(false);
    expect(loadAclsFile(at('config/acls.yaml'))).toBeDefined();
  });
});

describe('deploy/docker-compose.yml', () => {
  it('passes `docker-compose config`', () => {
    const dc = requireTool('docker-compose', 'apt-get install -y docker-compose (scripts/ensure-services.sh does it as root)');
    const r = run(dc, ['-f', at('docker-compose.yml'), 'config', '--quiet']);
    expect(r).toEqual({ code: 0, out: '' });
    const full = run(dc, ['-f', at('docker-compose.yml'), 'config', '--services']);
    expect(full.out.split('\n').filter(Boolean).sort()).toEqual(
      ['agent-1', 'agent-2', 'frameworks', 'master-1', 'master-2', 'master-3', 'nats-1', 'nats-2', 'nats-3']);
  });

  it('the config of every Berth service, with its environment, validates with the real schema', () => {
    expect(berthServices.map(([n]) => n).sort()).toEqual(['agent-1', 'agent-2', 'frameworks', 'master-1', 'master-2', 'master-3']);
    for (const [name, s] of berthServices) {
      try {
        serviceConfig(s);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
    }
  });

  it('HA: 3 NATS servers, 3 masters with their own ids on 3 replicas, the frameworks host on NATS', () => {
    const masters = berthServices.filter(([, s]) => daemonOf(s) === 'master').map(([, s]) => serviceConfig(s) as MasterConfig);
    expect(masters).toHaveLength(3);
    expect(new Set(masters.map((m) => m.masterId)).size).toBe(3);
    for (const m of masters) expect(m).toMatchObject({ registry: { kind: 'nats' }, nats: { replicas: 3 } });
    const addresses = masters.map((m) => `${m.grpc.host}:${m.grpc.port}`);
    const fw = serviceConfig(services['frameworks']!) as { masters: string[]; store: string };
    expect(fw.store).toBe('nats');
    expect([...fw.masters].sort()).toEqual([...addresses].sort());
    const nats = Object.entries(services).filter(([, s]) => s.image?.startsWith('nats:'));
    expect(nats).toHaveLength(3);
    for (const [name, s] of nats) {
      expect(s.image).toMatch(/^nats:2\.(1\d|[2-9]\d)/); // 2.10 or later: sync_interval
      expect(hostPathOf(s, '/etc/nats/nats.conf')).toBe(at('nats', `${name}.conf`));
    }
  });

  it('agents: root with the Docker socket, work dir at the same path as on the host, their own ports and names', () => {
    const agents = berthServices.filter(([, s]) => daemonOf(s) === 'agent');
    expect(agents).toHaveLength(2);
    const configs = agents.map(([, s]) => serviceConfig(s) as { workDir: string; hostname: string; resources: string; containerizers: string; master: string });
    for (const [i, [, s]] of agents.entries()) {
      expect(s.user).toBe('root');
      expect(s.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
      const wd = configs[i]!.workDir;
      expect(s.volumes).toContain(`${wd}:${wd}`);
      expect(configs[i]!.containerizers).toBe('docker');
    }
    expect(new Set(configs.map((c) => c.hostname)).size).toBe(2);
    expect(new Set(configs.map((c) => c.workDir)).size).toBe(2);
    expect(configs[0]!.resources).not.toBe(configs[1]!.resources);
  });

  it('master and frameworks run as the image user (non-root); every service on the host network has its own ports', () => {
    for (const [name, s] of berthServices) {
      if (daemonOf(s) !== 'agent') expect([name, s.user]).toEqual([name, undefined]);
    }
    const ports: string[] = [];
    for (const [name, s] of Object.entries(services)) {
      expect([name, s.network_mode]).toEqual([name, 'host']);
      if (s.image?.startsWith('nats:')) {
        const c = natsConfs().find((n) => n.name === name)!;
        ports.push(c.listen, c.http, c.clusterListen);
      } else {
        const c = serviceConfig(s) as { grpc?: { host: string; port: number }; http?: { host: string; port: number } };
        if (c.grpc) ports.push(`${c.grpc.host}:${c.grpc.port}`);
        if (c.http) {
          ports.push(`${c.http.host}:${c.http.port}`);
          // The health check probes this service's own HTTP port.
          expect([name, s.healthcheck?.test.join(' ')]).toEqual([name, expect.stringContaining(`http://${c.http.host}:${c.http.port}/health/live`)]);
        }
      }
    }
    expect(ports.length).toBeGreaterThan(10);
    expect(ports.filter((p, i) => ports.indexOf(p) !== i)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('systemd units (deploy/systemd)', () => {
  const UNITS = ['berth-master.service', 'berth-agent.service', 'berth-frameworks.service'];
  const unit = (name: string): Map<string, string[]> => {
    const keys = new Map<string, string[]>();
    for (const line of read('systemd', name).split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
      if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
    }
    return keys;
  };
  const one = (u: Map<string, string[]>, key: string): string | undefined => u.get(key)?.at(-1);

  it('pass `systemd-analyze verify` with no warning', () => {
    const analyze = requireTool('systemd-analyze', 'apt-get install -y systemd');
    // verify insists that ExecStart's binary exists: point a copy of each unit at a stub `berth`.
    const dir = tmpDir('berth-units-');
    const stub = path.join(dir, 'berth');
    fs.writeFileSync(stub, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    for (const name of UNITS) {
      const text = read('systemd', name);
      expect(text).toContain('ExecStart=/usr/local/bin/berth ');
      fs.writeFileSync(path.join(dir, name), text.replaceAll('/usr/local/bin/berth', stub));
    }
    const r = run(analyze, ['verify', ...UNITS.map((n) => path.join(dir, n))]);
    expect(r).toEqual({ code: 0, out: '' });
    // The check is real: an unknown key is reported.
    fs.writeFileSync(path.join(dir, 'berth-master.service'), read('systemd', 'berth-master.service').replace('[Service]', '[Service]\nRestartSecs=5'));
    expect(run(analyze, ['verify', path.join(dir, 'berth-master.service')]).out).toMatch(/Unknown key/);
  });

  it('the sysusers file passes `systemd-sysusers --dry-run` and creates the user the units run as', () => {
    const sysusers = requireTool('systemd-sysusers', 'apt-get install -y systemd');
    const root = tmpDir('berth-sysusers-');
    const r = run(sysusers, [`--root=${root}`, '--dry-run', at('systemd', 'berth.sysusers.conf')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Creating user 'berth'/);
  });

  it('restart on failure with a pause, not on a bad config (exit 78); config from /etc/berth', () => {
    for (const name of UNITS) {
      const u = unit(name);
      const daemon = name.replace(/^berth-|\.service$/g, '');
      expect([name, one(u, 'Restart')]).toEqual([name, 'on-failure']);
      expect([name, one(u, 'RestartSec')]).toEqual([name, '5s']);
      expect([name, one(u, 'RestartPreventExitStatus')]).toEqual([name, '78']);
      expect([name, one(u, 'StartLimitBurst')]).toEqual([name, '10']);
      expect([name, one(u, 'ExecStart')]).toEqual([name, `/usr/local/bin/berth ${daemon} --config /etc/berth/${daemon}.yaml`]);
      expect([name, one(u, 'EnvironmentFile')]).toEqual([name, `-/etc/berth/${daemon}.env`]);
      expect([name, one(u, 'WantedBy')]).toEqual([name, 'multi-user.target']);
      // V8's JIT needs writable, executable memory.
      expect([name, u.has('MemoryDenyWriteExecute')]).toEqual([name, false]);
    }
  });

  it('every daemon starts with V8\'s young generation capped at 8 MiB per semi-space (docs/operations.md, Sizing)', () => {
    for (const name of UNITS) expect([name, one(unit(name), 'Environment')]).toEqual([name, 'NODE_OPTIONS=--max-semi-space-size=8']);
  });

  it('master and frameworks: user berth, hardened; their workDir is the StateDirectory', () => {
    const master = loadConfig({ schema: masterConfigSchema, file: at('config/master.yaml'), env: {} });
    const frameworks = loadConfig({ schema: frameworksConfigSchema, file: at('config/frameworks.yaml'), env: {} });
    for (const [name, workDir] of [['berth-master.service', master.workDir], ['berth-frameworks.service', frameworks.workDir]] as const) {
      const u = unit(name);
      expect(one(u, 'User')).toBe('berth');
      expect(`/var/lib/${one(u, 'StateDirectory')}`).toBe(workDir);
      for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'RestrictSUIDSGID']) expect([name, key, one(u, key)]).toEqual([name, key, 'yes']);
      expect(one(u, 'ProtectSystem')).toBe('strict');
      expect(one(u, 'CapabilityBoundingSet')).toBe('');
      expect(one(u, 'SystemCallErrorNumber')).toBe('EPERM');
    }
  });

  it('agent: root, KillMode=process so that a restart leaves the tasks running; its workDir is the StateDirectory', () => {
    const agent = loadConfig({ schema: agentConfigSchema, file: at('config/agent.yaml'), env: {} });
    const u = unit('berth-agent.service');
    expect(u.has('User')).toBe(false);
    expect(one(u, 'KillMode')).toBe('process');
    expect(one(u, 'KillSignal')).toBe('SIGTERM');
    expect(agent.killTasksOnShutdown).toBe(false);
    expect(`/var/lib/${one(u, 'StateDirectory')}`).toBe(agent.workDir);
    // No sandboxing that process tasks (children of the agent) would inherit.
    for (const key of ['ProtectSystem', 'PrivateTmp', 'PrivateDevices', 'SystemCallFilter', 'NoNewPrivileges']) expect([key, u.has(key)]).toEqual([key, false]);
    expect(one(u, 'After')).toContain('docker.service');
  });
});

// ---------------------------------------------------------------------------------------------

interface NatsConf { name: string; file: string; text: string; listen: string; http: string; clusterListen: string; routes: string[] }
function natsConfs(): NatsConf[] {
  return [1, 2, 3].map((i) => {
    const text = read('nats', `nats-${i}.conf`);
    const field = (re: RegExp): string => {
      const m = re.exec(text);
      if (!m) throw new Error(`nats-${i}.conf: no match for ${re}`);
      return m[1]!;
    };
    return {
      name: field(/^server_name: (\S+)/m),
      file: at('nats', `nats-${i}.conf`),
      text,
      listen: field(/^listen: (\S+)/m),
      http: field(/^http: (\S+)/m),
      clusterListen: field(/^cluster \{[^}]*?\n\s+listen: (\S+)/m),
      routes: [...text.matchAll(/^\s+(nats:\/\/\S+)\s*$/gm)].map((m) => m[1]!),
    };
  });
}

/** Major and minor version of a nats-server binary. */
function natsVersion(bin: string): [number, number] {
  const m = /v(\d+)\.(\d+)/.exec(run(bin, ['--version']).out);
  if (!m) throw new Error(`cannot read the version of ${bin}`);
  return [Number(m[1]), Number(m[2])];
}

describe('NATS configs (deploy/nats)', () => {
  const confs = natsConfs();

  it('three servers of one JetStream cluster, each routing to the two others, fsync on every write', () => {
    expect(confs.map((c) => c.name)).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const c of confs) {
      expect(c.text).toMatch(/jetstream \{[^}]*\n\s+sync_interval: always\n/);
      expect(c.text).toMatch(/cluster \{\n\s+name: berth\n/);
      expect(c.routes.sort()).toEqual(confs.filter((o) => o !== c).map((o) => `nats://${o.clusterListen}`).sort());
    }
  });

  it('pass `nats-server -t` with the users make-tokens.sh writes (the test run uses BERTH_NATS_SERVER when set, as test/support/nats.ts does)', () => {
    const bin = process.env['BERTH_NATS_SERVER'] || requireTool('nats-server', 'apt-get install -y nats-server (scripts/ensure-services.sh)');
    const [major, minor] = natsVersion(bin);
    const dir = tmpDir('berth-natsconf-');
    // As in compose: the servers' configs with the NATS users of make-tokens.sh beside them.
    expect(run('sh', [path.join(DEPLOY, 'make-tokens.sh'), path.join(dir, 'secrets')]).code).toBe(0);
    fs.copyFileSync(path.join(dir, 'secrets', 'nats-auth.conf'), path.join(dir, 'auth.conf'));
    for (const c of confs) {
      const file = path.join(dir, path.basename(c.file));
      fs.writeFileSync(file, c.text);
      if (major === 2 && minor < 10) {
        // 2.9 (Debian bookworm's) rejects sync_interval, which arrived in 2.10: check the rest, and
        // that this line is all it refuses.
        expect(run(bin, ['-t', '-c', file]).out).toMatch(/unknown field "sync_interval"/);
        fs.writeFileSync(file, c.text.replace(/^\s*sync_interval: always\n/m, ''));
      }
      const r = run(bin, ['-t', '-c', file]);
      expect([c.name, r.code, r.out.trim()]).toEqual([c.name, 0, expect.stringMatching(/is valid/)]);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('deploy/Dockerfile (lint: no registry here to build it)', () => {
  interface Instruction { op: string; args: string; line: number }
  const instructions: Instruction[] = [];
  {
    const lines = read('Dockerfile').split('\n');
    let pending = '';
    let start = 0;
    lines.forEach((raw, i) => {
      const line = raw.trim();
      if (pending === '' && (line === '' || line.startsWith('#'))) return;
      if (pending === '') start = i + 1;
      if (line.startsWith('#')) return; // a comment inside a continued instruction
      pending += `${line.replace(/\\$/, '')} `;
      if (!line.endsWith('\\')) {
        const m = /^(\S+)\s+(.*)$/.exec(pending.trim())!;
        instructions.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
        pending = '';
      }
    });
    if (pending !== '') throw new Error('Dockerfile ends inside a continued instruction');
  }
  const stages: Instruction[][] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') stages.push([]);
    stages.at(-1)?.push(ins);
  }
  const final = stages.at(-1)!;

  it('uses only known instructions, in a valid order', () => {
    const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);
    for (const ins of instructions) expect([ins.line, ins.op, KNOWN.has(ins.op)]).toEqual([ins.line, ins.op, true]);
    const firstFrom = instructions.findIndex((i) => i.op === 'FROM');
    expect(instructions.slice(0, firstFrom).every((i) => i.op === 'ARG')).toBe(true);
    for (const ins of instructions.filter((i) => ['ENTRYPOINT', 'CMD'].includes(i.op))) {
      expect(() => JSON.parse(ins.args)).not.toThrow(); // exec form: signals reach the process
    }
  });

  it('builds in a stage of its own from a pinned Node 20 base and ships only production dependencies', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const arg = instructions.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='))!;
    expect(arg.args).toMatch(/^NODE_IMAGE=node:20(\.\d+)*-\S*slim$/);
    const build = stages[0]!;
    const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(runs).toMatch(/npm ci --ignore-scripts/);
    expect(runs).toMatch(/npm run build/);
    expect(runs).toMatch(/npm prune --omit=dev/);
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['build']).toBeDefined();
    expect(final.filter((i) => i.op === 'COPY').every((i) => i.args.startsWith('--from=build '))).toBe(true);
    // What the runtime needs: everything the npm package ships (package.json "files": the compiled
    // code, the .proto files loaded at run time, the launcher, …), the production dependencies.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    const copied = final.filter((i) => i.op === 'COPY').map((i) => i.args.split(/\s+/)[1]);
    expect(copied).toEqual(expect.arrayContaining([...pkg.files.map((f) => `/src/${f}`), '/src/node_modules', '/src/package.json']));
  });

  it('every path copied from the build context exists (context: the repository root)', () => {
    for (const ins of stages[0]!.filter((i) => i.op === 'COPY')) {
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) expect([ins.line, src, fs.existsSync(path.join(ROOT, src))]).toEqual([ins.line, src, true]);
    }
  });

  it('runs as a non-root user (the master and the frameworks host); PID 1 is an init; the entrypoint is berth', () => {
    const users = final.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    const userIndex = final.findIndex((i) => i.op === 'USER');
    expect(final.slice(userIndex).some((i) => i.op === 'RUN')).toBe(false); // nothing runs as root after it
    expect(final.find((i) => i.op === 'RUN' && i.args.includes('useradd'))?.args).toContain(users.at(-1)!);
    const entry = JSON.parse(final.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entry[0]).toMatch(/tini$/);
    expect(entry).toContain('/opt/berth/bin/berth.js');
    // node's own flag, before the script: V8's young generation capped (docs/operations.md, Sizing).
    expect(entry.indexOf('--max-semi-space-size=8')).toBe(entry.indexOf('/opt/berth/bin/berth.js') - 1);
    expect(final.some((i) => i.op === 'EXPOSE' && ['5050', '5051', '5052', '5060'].every((p) => i.args.split(/\s+/).includes(p)))).toBe(true);
  });

  it('the compose file builds it from the repository root', () => {
    const withBuild = Object.values(compose.services).filter((s) => (s as { build?: unknown }).build !== undefined) as { build: { context: string; dockerfile: string } }[];
    expect(withBuild.length).toBe(berthServices.length);
    for (const s of withBuild) {
      expect(path.resolve(DEPLOY, s.build.context)).toBe(ROOT);
      expect(path.resolve(ROOT, s.build.dockerfile)).toBe(at('Dockerfile'));
    }
  });
});

describe('docs/operations.md', () => {
  it('names only metrics the master and the agent export', async () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
    const exported = `${await new MasterMetrics().exposition()}\n${await new AgentMetrics().exposition()}`;
    const families = new Set([...exported.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const named = [...new Set([...doc.matchAll(/\bberth_[a-z_]+[a-z]\b(?!_?\*)/g)].map((m) => m[0]))];
    expect(named.length).toBeGreaterThan(20);
    const histogramParts = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    expect(named.filter((n) => !families.has(n) && !families.has(histogramParts(n)))).toEqual([]);
    // Every family is documented (process metrics by their prefix).
    const documented = new Set(named);
    const missing = [...families].filter((f) => !documented.has(f) && !/^berth_(agent_)?(process|nodejs)_/.test(f));
    expect(missing).toEqual([]);
  });
});
