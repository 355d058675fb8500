/**
 * The HA topology of deploy/ (deploy/docker-compose.yml) brought up as processes on loopback, from
 * the same files: three nats-server from deploy/nats/*.conf (a JetStream cluster), three
 * `berth master` from deploy/config/master.yaml (registry on NATS, 3 replicas), two `berth agent`
 * from deploy/config/agent.yaml (process containerizer), and `berth frameworks` from
 * deploy/config/frameworks.yaml (state in NATS); authentication on, with the tokens
 * deploy/make-tokens.sh writes and the ACLs of deploy/config/acls.yaml. Only ports, directories,
 * ids and file locations are overridden, with flags, as an operator would. Then an app is deployed
 * through the frameworks' berth.v1.Services API, and its two instances run (one per agent), pass
 * their health checks and answer on their ports. Everything is killed and removed at the end.
 *
 * Differences from deploy/: ports are free loopback ports instead of the fixed ones; the NATS store
 * directories are temporary; with nats-server 2.9 (Debian bookworm's) the `sync_interval: always`
 * line is dropped (2.9 rejects it; set BERTH_NATS_SERVER to a 2.10 binary to keep it); the agents
 * run process tasks, not Docker ones.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadBerthProto } from '../../src/common/rpc/proto';
import { findFiles } from '../support/find-files';
import { findNatsServer, freePorts } from '../support/nats';

jest.setTimeout(90_000);

const ROOT = path.resolve(__dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const RUN_BERTH = path.join(ROOT, 'test/support/run-berth.js');

// ---------------------------------------------------------------------------------------------
// Processes: every child is tracked, killed at the end, and SIGKILLed if the test process exits.
// ---------------------------------------------------------------------------------------------

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  log(): string;
}
const procs: Proc[] = [];
process.once('exit', () => {
  for (const p of procs) p.child.kill('SIGKILL');
});

function start(name: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
  // No BERTH_* from whoever runs the tests: the files and the flags below are the whole config.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_')));
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...clean, ...env } });
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const p: Proc = { name, child, exited, log: () => log };
  procs.push(p);
  return p;
}

function berth(name: string, args: readonly string[]): Proc {
  return start(name, process.execPath, [RUN_BERTH, ...args]);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
async function stop(p: Proc, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

function httpGet(port: number, urlPath: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * Polls `cond` every 100 ms until it returns a value (not undefined); throws after `ms` with `what`
 * and the logs of the processes that died. Polling: these are other processes, with no push signal.
 */
async function until<T>(what: string, ms: number, cond: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    for (const p of procs) {
      if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}) while waiting for ${what}:\n${p.log()}`);
    }
    const v = await cond();
    if (v !== undefined) return v;
    if (Date.now() > end) {
      throw new Error(`not within ${ms} ms: ${what}\n${procs.map((p) => `--- ${p.name}\n${p.log().slice(-3000)}`).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// NATS from deploy/nats/*.conf
// ---------------------------------------------------------------------------------------------

/**
 * deploy/nats/nats-{1,2,3}.conf with every 127.0.0.1 port mapped to a free one (routes follow),
 * the store directory moved under `dir`, and sync_interval dropped for nats-server < 2.10.
 */
async function natsConfigs(dir: string, binary: string): Promise<{ files: string[]; clientPorts: number[]; monitorPorts: number[]; version: string }> {
  const texts = [1, 2, 3].map((i) => fs.readFileSync(path.join(DEPLOY, 'nats', `nats-${i}.conf`), 'utf8'));
  const original = [...new Set(texts.flatMap((t) => [...t.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]))))];
  const fresh = await freePorts(original.length);
  const map = new Map(original.map((p, i) => [p, fresh[i]!]));
  const version = /v(\d+)\.(\d+)(?:\.\d+)?/.exec(spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  const before210 = version !== null && Number(version[1]) === 2 && Number(version[2]) < 10;
  const files = texts.map((text, i) => {
    let t = text.replace(/127\.0\.0\.1:(\d+)/g, (_, p: string) => `127.0.0.1:${map.get(Number(p))}`);
    const store = path.join(dir, `nats-${i + 1}`);
    fs.mkdirSync(store);
    t = t.replace(/store_dir: \S+/, `store_dir: ${JSON.stringify(store)}`);
    if (before210) t = t.replace(/^\s*sync_interval: always\n/m, '');
    const file = path.join(dir, `nats-${i + 1}.conf`);
    fs.writeFileSync(file, t);
    return file;
  });
  const port = (i: number, key: 'listen' | 'http'): number => Number(new RegExp(`^${key}: 127\\.0\\.0\\.1:(\\d+)`, 'm').exec(fs.readFileSync(files[i]!, 'utf8'))![1]);
  const note = `nats-server ${version?.[0] ?? '(unknown version)'}${before210 ? ', without sync_interval (needs 2.10)' : ', sync_interval: always'}`;
  return { files, clientPorts: [0, 1, 2].map((i) => port(i, 'listen')), monitorPorts: [0, 1, 2].map((i) => port(i, 'http')), version: note };
}

// ---------------------------------------------------------------------------------------------

interface AppTask { task_id: string; hostname: string; state: string; healthy?: boolean | null; ports: number[] }

describe('deploy/: the HA topology as processes on loopback', () => {
  let root: string;
  const clients: grpc.Client[] = [];

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-deploy-ha-'));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    // The framework host, then the agents (SIGTERM with --kill-tasks-on-shutdown: they kill their
    // tasks), then the masters, then NATS.
    const byKind = (prefix: string) => procs.filter((p) => p.name.startsWith(prefix));
    for (const kind of ['frameworks', 'agent', 'master', 'nats']) await Promise.all(byKind(kind).map((p) => stop(p)));
    await Promise.all(procs.map((p) => stop(p, 0)));
    // Safety net: any task process left (its pid file is in the sandbox) is killed with its group.
    if (root !== undefined) {
      for (const file of findFiles(root, 'berth-container.json')) {
        const pid = (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: number }).pid;
        if (pid !== undefined && pid > 1) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('3 NATS, 3 masters, 2 agents and the framework host from deploy/ run an app deployed through berth.v1.Services', async () => {
    const t0 = Date.now();
    const mark = (what: string): void => void process.stdout.write(`deploy-ha: ${what} after ${Date.now() - t0} ms\n`);

    // Tokens as an operator makes them, and the example ACLs.
    const secrets = path.join(root, 'secrets');
    const made = spawnSync('sh', [path.join(DEPLOY, 'make-tokens.sh'), secrets], { encoding: 'utf8' });
    expect(made.status).toBe(0);

    // 1. NATS: a 3-node JetStream cluster from deploy/nats.
    const natsBin = findNatsServer();
    const nats = await natsConfigs(root, natsBin);
    // The servers include the NATS users make-tokens.sh wrote (auth.conf next to their configs).
    fs.copyFileSync(path.join(secrets, 'nats-auth.conf'), path.join(root, 'auth.conf'));
    nats.files.forEach((file, i) => start(`nats-${i + 1}`, natsBin, ['-c', file]));
    // /healthz is 200 once JetStream is up and caught up with the cluster's meta group.
    await until('the NATS cluster to be healthy', 20_000, async () =>
      (await Promise.all(nats.monitorPorts.map((p) => httpGet(p, '/healthz')))).every((r) => r?.status === 200) ? true : undefined);
    const natsUrls = nats.clientPorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
    mark(`NATS cluster healthy (${nats.version})`);

    // 2. Three masters from deploy/config/master.yaml.
    const [g1, g2, g3, h1, h2, h3, ah1, ah2, fwPort, ...taskPorts] = await freePorts(15);
    const masters = [[g1!, h1!], [g2!, h2!], [g3!, h3!]].map(([grpcPort, httpPort], i) => {
      const workDir = path.join(root, `master-${i + 1}`);
      fs.mkdirSync(workDir);
      return {
        grpc: `127.0.0.1:${grpcPort}`,
        httpPort: httpPort!,
        proc: berth(`master-${i + 1}`, ['master', '--config', path.join(DEPLOY, 'config/master.yaml'),
          '--master-id', `master-${i + 1}`, '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--work-dir', workDir,
          '--nats-servers', natsUrls, '--nats-password-file', path.join(secrets, 'nats-master.password'),
          '--auth-tokens-file', path.join(secrets, 'tokens.yaml'), '--auth-acls-file', path.join(DEPLOY, 'config/acls.yaml')]),
      };
    });
    // Exactly one leader: /health/ready is 200 on the leader only, 503 on the standbys.
    const leader = await until('one leading master', 30_000, async () => {
      const ready = await Promise.all(masters.map((m) => httpGet(m.httpPort, '/health/ready')));
      if (!ready.every((r) => r !== undefined)) return undefined;
      const leaders = masters.filter((_, i) => ready[i]!.status === 200);
      return leaders.length === 1 && ready.filter((r) => r!.status === 503).length === 2 ? leaders[0] : undefined;
    });
    mark(`leader ${leader.proc.name}`);

    // 3. Two agents from deploy/config/agent.yaml, each pointed at a different master (a standby
    //    redirects to the leader), running process tasks.
    const agentHttp = [ah1!, ah2!];
    const agents = agentHttp.map((httpPort, i) => {
      const workDir = path.join(root, `agent-${i + 1}`);
      const ports = taskPorts.slice(i * 3, i * 3 + 3).map((p) => `${p}-${p}`).join(',');
      return {
        httpPort,
        proc: berth(`agent-${i + 1}`, ['agent', '--config', path.join(DEPLOY, 'config/agent.yaml'),
          '--master', masters[i]!.grpc, '--hostname', `deploy-ha-agent-${i + 1}`, '--work-dir', workDir, '--http-port', String(httpPort),
          '--containerizers', 'process', '--resources', `cpus:2;mem:2048;disk:1024;ports:[${ports}]`,
          '--token-file', path.join(secrets, 'agent.token'), '--kill-tasks-on-shutdown', 'true']),
      };
    });

    // 4. The framework host from deploy/config/frameworks.yaml: services and jobs, state in NATS.
    const fwWorkDir = path.join(root, 'frameworks');
    berth('frameworks', ['frameworks', '--config', path.join(DEPLOY, 'config/frameworks.yaml'),
      '--masters', masters.map((m) => m.grpc).join(','), '--grpc-port', String(fwPort), '--nats-servers', natsUrls,
      '--token-file', path.join(secrets, 'frameworks.token'), '--work-dir', fwWorkDir, '--nats-password-file', path.join(secrets, 'nats-frameworks.password'),
      '--auth-tokens-file', path.join(secrets, 'tokens.yaml'), '--auth-acls-file', path.join(DEPLOY, 'config/acls.yaml')]);

    // /health/ready of an agent: 200 while registered with the (leading) master.
    await until('both agents registered', 30_000, async () =>
      (await Promise.all(agents.map((a) => httpGet(a.httpPort, '/health/ready')))).every((r) => r?.status === 200) ? true : undefined);
    mark('agents registered');

    // 5. Deploy an app through berth.v1.Services: two instances, one per agent, each an HTTP server
    //    on its offered port with an HTTP health check (run by the agent on 127.0.0.1).
    const Services = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1['Services']!;
    const services = new Services(`127.0.0.1:${fwPort}`, grpc.credentials.createInsecure());
    clients.push(services);
    const asOperator = new grpc.Metadata();
    asOperator.set('authorization', `Bearer ${fs.readFileSync(path.join(secrets, 'operator.token'), 'utf8').trim()}`);
    const call = <T>(method: string, request: object): Promise<T> => new Promise((resolve, reject) => {
      (services as unknown as Record<string, (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void>)[method]!
        .call(services, request, asOperator, { deadline: Date.now() + 5000 }, (e, v) => (e ? reject(e) : resolve(v)));
    });
    const server = `require('http').createServer((q, s) => s.end('hello from ' + process.env.BERTH_TASK_ID)).listen(+process.env.PORT0, '127.0.0.1')`;
    const definition = {
      id: '/deploy-ha/hello',
      cmd: `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(server)}`,
      cpus: 0.1,
      mem: 64,
      instances: 2,
      portDefinitions: [{ port: 0, name: 'http' }],
      constraints: [['hostname', 'UNIQUE']],
      healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0, delaySeconds: 0, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 10 }],
    };
    const put = await until('the Services API to accept the app', 30_000, () =>
      call<{ created: boolean; app_id: string }>('PutApp', { definition: JSON.stringify(definition) }).catch((e: grpc.ServiceError) => {
        if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) return undefined; // the host is still starting
        throw e;
      }));
    expect(put).toMatchObject({ created: true, app_id: '/deploy-ha/hello' });
    mark('app accepted');

    const tasks = await until('two healthy TASK_RUNNING instances', 30_000, async () => {
      const app = (await call<{ app: { status: { tasks: AppTask[] } } }>('GetApp', { app_id: '/deploy-ha/hello' })).app;
      const running = app.status.tasks.filter((t) => t.state === 'TASK_RUNNING' && t.healthy === true);
      return running.length === 2 ? running : undefined;
    });
    mark('app running and healthy');
    expect(new Set(tasks.map((t) => t.hostname))).toEqual(new Set(['deploy-ha-agent-1', 'deploy-ha-agent-2']));
    for (const t of tasks) {
      expect(taskPorts).toContain(t.ports[0]);
      expect(await httpGet(t.ports[0]!, '/')).toEqual({ status: 200, body: `hello from ${t.task_id}` });
    }

    // The leader counts them (docs/operations.md lists these metrics). With authentication on, the
    // master's /metrics wants a token whose principal may view: the operator's.
    const operatorToken = fs.readFileSync(path.join(secrets, 'operator.token'), 'utf8').trim();
    const metrics = (await httpGet(leader.httpPort, '/metrics', { authorization: `Bearer ${operatorToken}` }))!.body;
    expect(metrics).toMatch(/^berth_elected 1$/m);
    expect(metrics).toMatch(/^berth_agents\{state="registered"\} 2$/m);
    expect(metrics).toMatch(/^berth_tasks\{state="TASK_RUNNING"\} 2$/m);
    const agentMetrics = (await httpGet(agents[0]!.httpPort, '/metrics'))!.body;
    expect(agentMetrics).toMatch(/^berth_agent_registered 1$/m);
    expect(agentMetrics).toMatch(/^berth_agent_tasks\{state="TASK_RUNNING"\} 1$/m);
    // Authentication is on: the operator API refuses a caller without a token.
    const Operator = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1['Operator']!;
    const operator = new Operator(leader.grpc, grpc.credentials.createInsecure());
    clients.push(operator);
    const refused = await new Promise<grpc.ServiceError | null>((resolve) =>
      (operator as unknown as { GetAgents: (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void })
        .GetAgents({}, { deadline: Date.now() + 5000 }, (e) => resolve(e)));
    expect(refused?.code).toBe(grpc.status.UNAUTHENTICATED);
    mark('checked');
  });
});
