/**
 * The real servers of `bench:scale`: nats-server processes (one JetStream server, or a 3-node
 * JetStream cluster on loopback, as test/support/nats.ts starts them for the tests) and `berth
 * master` processes (bin/berth.js, flags as an operator would give them). Each is started through
 * scale-lifeline.js, so none outlives the orchestrator, even when that is SIGKILLed.
 *
 * Readiness is polled with a bound (nats-server's `/healthz`; a master's Operator.GetHealth):
 * neither offers a push notification to another process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { berthV1 } from '../src/common/rpc/proto';

const LIFELINE = path.join(__dirname, 'scale-lifeline.js');
const BERTH = path.resolve(__dirname, '..', '..', 'bin', 'berth.js');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A child process started by the orchestrator (through the lifeline). */
export class ServerProcess {
  readonly exited: Promise<void>;
  private exitedNow = false;
  /** Set before a deliberate stop or kill: its exit is then no failure. */
  expectedExit = false;
  private stderrTail = '';

  /**
   * `echo`: also copy the child's output to this process's stderr (diagnostics, never stdout).
   * `parentOfBinary`: `proc` is the lifeline running a non-Node binary (a nats-server) as its child.
   */
  constructor(readonly name: string, readonly proc: ChildProcess, onUnexpectedExit: (err: Error) => void, echo = false, private readonly parentOfBinary = false) {
    for (const out of [proc.stdout, proc.stderr]) {
      out?.setEncoding('utf8');
      out?.on('data', (chunk: string) => {
        this.stderrTail = (this.stderrTail + chunk).slice(-4000);
        if (echo) process.stderr.write(chunk);
      });
    }
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
      this.exitedNow = true;
      if (!this.expectedExit) onUnexpectedExit(new Error(`${name} exited unexpectedly (${signal ?? `code ${code}`})${this.stderrTail === '' ? '' : `:\n${this.stderrTail}`}`));
      resolve();
    }));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return !this.exitedNow;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  /** SIGTERM, then SIGKILL after `ms`. */
  async stop(ms: number): Promise<void> {
    this.expectedExit = true;
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), ms);
    await this.exited;
    clearTimeout(timer);
  }

  /**
   * Kills it now. A lifeline running a binary is not SIGKILLed (that would leave the binary
   * running, orphaned): closing its channel makes it SIGKILL the binary and exit.
   */
  kill(): void {
    this.expectedExit = true;
    if (!this.alive) return;
    if (this.parentOfBinary && this.proc.connected) this.proc.disconnect();
    else this.proc.kill('SIGKILL');
  }
}

/** Distinct free loopback ports (held open together so none is handed out twice). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** nats-server: $BERTH_NATS_SERVER, then PATH, then the sbin directories a non-root PATH lacks. */
export function findNatsServer(): string {
  const fromEnv = process.env['BERTH_NATS_SERVER'];
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  for (const candidate of [...(fromEnv ? [fromEnv] : []), ...dirs.filter(Boolean).map((d) => path.join(d, 'nats-server'))]) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error('nats-server not found (looked at $BERTH_NATS_SERVER, on PATH, /usr/sbin, /usr/local/sbin, /usr/local/bin): install nats-server');
}

export interface NatsCluster {
  readonly urls: string[];
  readonly servers: ServerProcess[];
}

/**
 * Starts `count` (1 or 3) JetStream servers with store directories under `root`, and resolves
 * once every one reports healthy (in a cluster: caught up with its meta group).
 */
export async function startNats(count: 1 | 3, root: string, onUnexpectedExit: (err: Error) => void, echo = false, readyTimeoutMs = 30_000): Promise<NatsCluster> {
  const binary = findNatsServer();
  const ports = await freePorts(count * 3); // client, monitor and route port per server
  const servers: ServerProcess[] = [];
  const monitors: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i + 1}`;
    const storeDir = path.join(root, `nats-${name}`);
    fs.mkdirSync(storeDir, { recursive: true });
    const clientPort = ports[i * 3]!;
    const monitorPort = ports[i * 3 + 1]!;
    monitors.push(monitorPort);
    let args: string[];
    if (count === 1) {
      args = ['-a', '127.0.0.1', '-p', String(clientPort), '-m', String(monitorPort), '-n', name, '-js', '-sd', storeDir];
    } else {
      const routePorts = Array.from({ length: count }, (_, j) => ports[j * 3 + 2]!);
      const config = path.join(root, `nats-${name}.conf`);
      fs.writeFileSync(config, [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${clientPort}`,
        `http: 127.0.0.1:${monitorPort}`,
        `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
        'cluster {',
        '  name: berth-bench',
        `  listen: 127.0.0.1:${routePorts[i]}`,
        '  routes: [',
        ...routePorts.filter((_, j) => j !== i).map((p) => `    nats://127.0.0.1:${p}`),
        '  ]',
        '}',
        '',
      ].join('\n'));
      args = ['-c', config];
    }
    const proc = fork(LIFELINE, ['--exec', binary, '--rm', root, '--', ...args], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    servers.push(new ServerProcess(`nats-server ${name}`, proc, onUnexpectedExit, echo, true));
  }
  const deadline = Date.now() + readyTimeoutMs;
  for (let i = 0; i < count; i++) {
    for (;;) {
      if (!servers[i]!.alive) throw new Error(`nats-server n${i + 1} exited during startup:\n${servers[i]!.stderr}`);
      if (await httpStatus(monitors[i]!, '/healthz') === 200) break;
      if (Date.now() > deadline) throw new Error(`nats-server n${i + 1} not healthy after ${readyTimeoutMs} ms:\n${servers[i]!.stderr}`);
      await sleep(50);
    }
  }
  return { urls: ports.filter((_, j) => j % 3 === 0).map((p) => `nats://127.0.0.1:${p}`), servers };
}

export interface MasterSpec {
  readonly id: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly workDir: string;
  /** Flags after the ones every master gets (registry, ids, ports, work dir). */
  readonly args: readonly string[];
}

export interface MasterHandle extends MasterSpec {
  readonly grpcAddress: string;
  readonly httpAddress: string;
  readonly server: ServerProcess;
}

/** Starts `berth master` (bin/berth.js, the installed command) with the lifeline preloaded. */
export function startMaster(spec: MasterSpec, natsUrls: readonly string[], replicas: number, execArgv: readonly string[], onUnexpectedExit: (err: Error) => void, echo = false): MasterHandle {
  fs.mkdirSync(spec.workDir, { recursive: true });
  const args = [
    'master',
    '--registry-kind', 'nats',
    '--nats-servers', natsUrls.join(','),
    '--nats-replicas', String(replicas),
    '--master-id', spec.id,
    '--grpc-host', '127.0.0.1',
    '--grpc-port', String(spec.grpcPort),
    '--http-host', '127.0.0.1',
    '--http-port', String(spec.httpPort),
    '--work-dir', spec.workDir,
    '--auth-enabled', 'false',
    ...spec.args,
  ];
  // The master's log (JSON lines) is kept for the failure message, and echoed when asked.
  const proc = fork(BERTH, args, { execArgv: ['-r', LIFELINE, ...execArgv], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const server = new ServerProcess(`master ${spec.id}`, proc, onUnexpectedExit, echo);
  return { ...spec, grpcAddress: `127.0.0.1:${spec.grpcPort}`, httpAddress: `127.0.0.1:${spec.httpPort}`, server };
}

/** An Operator client per master address, reused across polls. */
const operators = new Map<string, grpc.Client>();

function operator(address: string): grpc.Client {
  let client = operators.get(address);
  if (client === undefined) {
    client = new (berthV1().Operator)(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    operators.set(address, client);
  }
  return client;
}

export function closeOperators(): void {
  for (const c of operators.values()) c.close();
  operators.clear();
}

function unaryCall<T>(address: string, method: string, request: unknown, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    (operator(address) as unknown as Record<string, (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void>)[method]!(
      request, { deadline: Date.now() + ms }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Operator.GetHealth of one master; undefined when it does not answer within `ms`. */
export async function health(address: string, ms = 1000): Promise<{ healthy: boolean; leader: boolean } | undefined> {
  return unaryCall<{ healthy: boolean; leader: boolean }>(address, 'GetHealth', {}, ms).catch(() => undefined);
}

/** Whether the master accepts a call only a leader answers (Operator.GetMaster). */
export async function acceptsCalls(address: string, ms = 1000): Promise<boolean> {
  return unaryCall<unknown>(address, 'GetMaster', {}, ms).then(() => true, () => false);
}

/** Polls GetHealth of `masters` until exactly one says it leads; returns it. Bounded by `ms`. */
export async function waitForLeader(masters: readonly MasterHandle[], ms: number, everyMs = 100): Promise<MasterHandle> {
  const end = Date.now() + ms;
  for (;;) {
    const answers = await Promise.all(masters.map(async (m) => ({ m, h: await health(m.grpcAddress, 500) })));
    const leaders = answers.filter((a) => a.h?.leader === true);
    if (leaders.length === 1 && await acceptsCalls(leaders[0]!.m.grpcAddress)) return leaders[0]!.m;
    if (Date.now() > end) throw new Error(`no single leader within ${ms} ms (leaders: ${leaders.map((l) => l.m.id).join(', ') || 'none'})`);
    await sleep(everyMs);
  }
}

/** HTTP status of GET http://127.0.0.1:port/path (0 when it does not answer). */
export function httpStatus(port: number, urlPath: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** GET of a text document (the master's /metrics); undefined when it does not answer. */
export function httpText(port: number, urlPath: string, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve(undefined);
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** The value of one sample (`name{labels}` exactly as exposed) in a Prometheus text document. */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample) && line[sample.length] === ' ') return Number(line.slice(sample.length + 1));
  }
  return undefined;
}
