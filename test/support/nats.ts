/**
 * Real nats-server processes for tests: one JetStream server, or a 3-node JetStream cluster, on
 * free 127.0.0.1 ports with their own temporary store directories.
 *
 * Readiness is the monitoring endpoint's `/healthz` (200 once JetStream is up and, in a cluster,
 * caught up with its meta group), polled with a bound — the server offers no push notification.
 * Every child is SIGKILLed on `cleanup()` and, as a safety net, when the test process exits or
 * is ended by SIGINT/SIGTERM/SIGHUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /** Number of servers: 1 (a single JetStream server) or 3 (a JetStream cluster). @default 1 */
  readonly cluster?: 1 | 3;
  /** How long to wait for every server to report healthy. @default 20000 */
  readonly readyTimeoutMs?: number;
}

/** Running test servers. Indexes are 0-based. */
export interface NatsTestServers {
  /** Client URLs, one per server (`nats://127.0.0.1:PORT`), stable across restarts. */
  readonly urls: readonly string[];
  /** Whether server `i` is running. */
  running(i: number): boolean;
  /** Stops server `i` gracefully (SIGTERM) and waits for its exit. */
  stop(i: number): Promise<void>;
  /** Kills server `i` (SIGKILL) and waits for its exit. */
  kill(i: number): Promise<void>;
  /** Starts a stopped server `i` again on the same ports and store directory; waits until healthy. */
  restart(i: number): Promise<void>;
  /** Kills every server and removes the store directories. Idempotent. */
  cleanup(): Promise<void>;
}

interface ServerSlot {
  readonly name: string;
  readonly clientPort: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  readonly args: string[];
  child: ChildProcess | undefined;
  stderr: string;
}

const MISSING =
  'nats-server not found (looked on PATH, /usr/sbin, /usr/local/bin, $BERTH_NATS_SERVER): ' +
  'run scripts/ensure-services.sh as root or install nats-server (apt-get install -y nats-server)';

/** Every child of this process, killed on exit if a test forgot `cleanup()`. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts nats-server(s) and resolves once all are healthy. */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsTestServers> {
  const count = options.cluster ?? 1;
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const binary = findNatsServer();
  installExitHook();

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-nats-'));
  const ports = await freePorts(count * 3); // client, monitor and route port per server
  const slots: ServerSlot[] = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i + 1}`;
    const storeDir = path.join(root, name);
    fs.mkdirSync(storeDir);
    const clientPort = ports[i * 3]!;
    const monitorPort = ports[i * 3 + 1]!;
    let args: string[];
    if (count === 1) {
      args = ['-a', '127.0.0.1', '-p', String(clientPort), '-m', String(monitorPort),
        '-n', name, '-js', '-sd', storeDir];
    } else {
      const routePorts = Array.from({ length: count }, (_, j) => ports[j * 3 + 2]!);
      const config = path.join(root, `${name}.conf`);
      fs.writeFileSync(config, clusterConfig({ name, clientPort, monitorPort, storeDir, routePorts, self: i }));
      args = ['-c', config];
    }
    slots.push({ name, clientPort, monitorPort, storeDir, args, child: undefined, stderr: '' });
  }

  const launch = async (slot: ServerSlot): Promise<void> => {
    const child = spawn(binary, slot.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    slot.child = child;
    slot.stderr = '';
    liveChildren.add(child);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      slot.stderr = (slot.stderr + chunk).slice(-4000);
    });
    child.once('exit', () => liveChildren.delete(child));
    await waitHealthy(slot, readyTimeoutMs);
  };

  const stopWith = async (i: number, signal: NodeJS.Signals): Promise<void> => {
    const slot = slotAt(slots, i);
    const child = slot.child;
    slot.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  let cleaned = false;
  const handle: NatsTestServers = {
    urls: slots.map((s) => `nats://127.0.0.1:${s.clientPort}`),
    running: (i) => slotAt(slots, i).child !== undefined,
    stop: (i) => stopWith(i, 'SIGTERM'),
    kill: (i) => stopWith(i, 'SIGKILL'),
    restart: async (i) => {
      const slot = slotAt(slots, i);
      if (slot.child !== undefined) throw new Error(`nats test server ${slot.name} is still running`);
      await launch(slot);
    },
    cleanup: async () => {
      if (cleaned) return;
      cleaned = true;
      await Promise.all(slots.map((_, i) => stopWith(i, 'SIGKILL')));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    await Promise.all(slots.map(launch));
  } catch (err) {
    await handle.cleanup();
    throw err;
  }
  return handle;
}

function slotAt(slots: readonly ServerSlot[], i: number): ServerSlot {
  const slot = slots[i];
  if (slot === undefined) throw new Error(`no nats test server #${i} (have ${slots.length})`);
  return slot;
}

function clusterConfig(p: {
  name: string; clientPort: number; monitorPort: number; storeDir: string; routePorts: number[]; self: number;
}): string {
  const routes = p.routePorts.filter((_, j) => j !== p.self).map((port) => `    nats://127.0.0.1:${port}`);
  return [
    `server_name: ${p.name}`,
    `listen: 127.0.0.1:${p.clientPort}`,
    `http: 127.0.0.1:${p.monitorPort}`,
    `jetstream { store_dir: ${JSON.stringify(p.storeDir)} }`,
    'cluster {',
    '  name: berth-test',
    `  listen: 127.0.0.1:${p.routePorts[p.self]}`,
    '  routes: [',
    ...routes,
    '  ]',
    '}',
    '',
  ].join('\n');
}

/** Locates the binary: $BERTH_NATS_SERVER, then PATH, then the sbin directories a non-root PATH lacks. */
export function findNatsServer(): string {
  const fromEnv = process.env['BERTH_NATS_SERVER'];
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  const candidates = [...(fromEnv ? [fromEnv] : []), ...dirs.filter(Boolean).map((d) => path.join(d, 'nats-server'))];
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(MISSING);
}

/** Polls `/healthz` (no push notification exists) every 50 ms until 200, the process exits, or the bound. */
async function waitHealthy(slot: ServerSlot, timeoutMs: number): Promise<void> {
  const child = slot.child!;
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  const onExit = (): void => {
    exited = true;
  };
  child.once('exit', onExit);
  try {
    for (;;) {
      if (exited || child.exitCode !== null) {
        throw new Error(`nats-server ${slot.name} exited during startup (code ${child.exitCode}):\n${slot.stderr}`);
      }
      if (await healthz(slot.monitorPort)) return;
      if (Date.now() > deadline) {
        throw new Error(`nats-server ${slot.name} not healthy after ${timeoutMs} ms:\n${slot.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    child.off('exit', onExit);
  }
}

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
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

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const child of liveChildren) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  // 'exit' does not run when a signal ends the process: kill the servers, then let the signal
  // do what it would have done without this listener.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
