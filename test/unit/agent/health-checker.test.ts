import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { FakeClock } from '../../../src/common/clock';
import {
  HealthChecker,
  healthCheckFromWire,
  type HealthCheckExec,
  type HealthCheckerOptions,
  type HealthResult,
} from '../../../src/agent/health-checker';
import type { LaunchCommand } from '../../../src/agent/containerizer/containerizer';
import type { HealthCheck } from '../../../src/generated/berth/v1/HealthCheck';

let clock: FakeClock;
let checkers: HealthChecker[];
let servers: net.Server[];
let results: HealthResult[];
let thresholds: HealthResult[];

beforeEach(() => {
  clock = new FakeClock();
  checkers = [];
  servers = [];
  results = [];
  thresholds = [];
});

afterEach(async () => {
  for (const c of checkers) c.stop();
  expect(clock.pending).toBe(0);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    (s as http.Server).closeAllConnections?.();
    s.close(() => resolve());
  })));
});

/** Polls `cond` (real time, bounded) until it holds: lets real loopback I/O finish. */
async function waitFor(cond: () => boolean, what: string, limitMs = 2000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Listens on 127.0.0.1, port chosen by the OS; closed in afterEach. Returns the port. */
async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** An HTTP server answering every request with `status` (changeable through the returned setter). */
async function httpServer(initial: number): Promise<{ port: number; setStatus(s: number): void; paths: string[] }> {
  let status = initial;
  const paths: string[] = [];
  const port = await listen(http.createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status).end('body');
  }));
  return { port, setStatus: (s) => { status = s; }, paths };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Fast timings: first check at 1 s, every 1 s, timeout 0.5 s, no grace, threshold 3. */
const FAST = { delay_seconds: 1, interval_seconds: 1, timeout_seconds: 0.5, grace_period_seconds: 0, consecutive_failures: 3 };

function checker(hc: HealthCheck, extra: Partial<HealthCheckerOptions> = {}): HealthChecker {
  const c = new HealthChecker({
    spec: healthCheckFromWire({ ...FAST, ...hc }),
    clock,
    onResult: (r) => results.push(r),
    onFailureThreshold: (r) => thresholds.push(r),
    ...extra,
  });
  checkers.push(c);
  return c;
}

/** Advances the fake clock and waits for the check it started (if any) to be recorded. */
async function tick(c: HealthChecker, ms: number): Promise<void> {
  clock.advance(ms);
  await c.whenIdle();
}

/** A fake exec whose exit codes are scripted (the last one repeats); records calls and their times. */
function scriptedExec(codes: (number | undefined)[], output = ''): HealthCheckExec & { calls: { command: LaunchCommand; timeoutMs: number; at: number }[] } {
  const calls: { command: LaunchCommand; timeoutMs: number; at: number }[] = [];
  const exec = async (command: LaunchCommand, timeoutMs: number) => {
    calls.push({ command, timeoutMs, at: clock.now() });
    const exitCode = codes[Math.min(calls.length - 1, codes.length - 1)];
    return { exitCode, output };
  };
  return Object.assign(exec, { calls });
}

const CMD: HealthCheck = { type: 'COMMAND', command: { value: 'check-it' } };

describe('healthCheckFromWire', () => {
  it('fills in the wire defaults, in milliseconds', () => {
    expect(healthCheckFromWire({ type: 'TCP', tcp: { port: 8080 } })).toEqual({
      check: { type: 'TCP', port: 8080 },
      delayMs: 15_000, intervalMs: 10_000, timeoutMs: 20_000, consecutiveFailures: 3, gracePeriodMs: 10_000,
    });
    expect(healthCheckFromWire({ type: 'HTTP', http: { port: 80 } }).check).toEqual({ type: 'HTTP', port: 80, path: '/', scheme: 'http', statuses: [] });
    expect(healthCheckFromWire({ type: 'COMMAND', command: { value: 'true' } }).check).toEqual({ type: 'COMMAND', command: { value: 'true', shell: true, arguments: [] } });
  });

  it('reads given values (numbers, numeric strings, enum numbers) and the task ports', () => {
    const spec = healthCheckFromWire({
      type: 2, http: { port: 31000, path: '/health', scheme: 'https', statuses: [200, 204] },
      delay_seconds: 0, interval_seconds: '2.5', timeout_seconds: 0.25, consecutive_failures: 1, grace_period_seconds: 60,
    }, [31000, 31001]);
    expect(spec).toEqual({
      check: { type: 'HTTP', port: 31000, path: '/health', scheme: 'https', statuses: [200, 204] },
      delayMs: 0, intervalMs: 2500, timeoutMs: 250, consecutiveFailures: 1, gracePeriodMs: 60_000,
    });
  });

  it.each<{ name: string; hc: HealthCheck; message: RegExp; ports?: number[] }>([
    { name: 'no type', hc: { tcp: { port: 1 } }, message: /type: must be HTTP, TCP or COMMAND, got "TYPE_UNSPECIFIED"/ },
    { name: 'type without its member', hc: { type: 'HTTP', tcp: { port: 1 } }, message: /http: is required for a HTTP health check; tcp: must not be set/ },
    { name: 'port 0', hc: { type: 'HTTP', http: { port: 0 } }, message: /http\.port: must be a port in 1-65535, got 0/ },
    { name: 'port above 65535', hc: { type: 'TCP', tcp: { port: 65536 } }, message: /tcp\.port: must be a port in 1-65535, got 65536/ },
    { name: 'a port not among the task ports', hc: { type: 'TCP', tcp: { port: 8080 } }, message: /tcp\.port: must be one of the task's ports \(31000\), got 8080/, ports: [31000] },
    { name: 'bad scheme', hc: { type: 'HTTP', http: { port: 80, scheme: 'ftp' } }, message: /http\.scheme: must be "http" or "https", got "ftp"/ },
    { name: 'bad path', hc: { type: 'HTTP', http: { port: 80, path: 'health' } }, message: /http\.path: must start with "\/".*got "health"/ },
    { name: 'bad status', hc: { type: 'HTTP', http: { port: 80, statuses: [42] } }, message: /http\.statuses\[0\]: must be an HTTP status in 100-599, got 42/ },
    { name: 'empty shell command', hc: { type: 'COMMAND', command: { value: ' ' } }, message: /command\.value: must be a command line/ },
    { name: 'consecutive_failures 0', hc: { type: 'TCP', tcp: { port: 1 }, consecutive_failures: 0 }, message: /consecutive_failures: must be an integer of at least 1, got 0/ },
    { name: 'negative delay', hc: { type: 'TCP', tcp: { port: 1 }, delay_seconds: -1 }, message: /delay_seconds: must be a non-negative number of seconds, got -1/ },
    { name: 'infinite grace', hc: { type: 'TCP', tcp: { port: 1 }, grace_period_seconds: Infinity }, message: /grace_period_seconds: .* got Infinity/ },
    { name: 'NaN interval', hc: { type: 'TCP', tcp: { port: 1 }, interval_seconds: NaN }, message: /interval_seconds: must be a positive number of seconds, got NaN/ },
    { name: 'zero timeout', hc: { type: 'TCP', tcp: { port: 1 }, timeout_seconds: 0 }, message: /timeout_seconds: must be a positive number of seconds, got 0/ },
    { name: 'non-numeric text', hc: { type: 'TCP', tcp: { port: 1 }, timeout_seconds: 'soon' }, message: /timeout_seconds: .* got "soon"/ },
  ])('rejects $name, naming the field and the value', ({ hc, message, ports }) => {
    expect(() => healthCheckFromWire(hc, ports)).toThrow(message);
  });
});

describe('HealthChecker', () => {
  it('HTTP: healthy on a 2xx/3xx status, unhealthy otherwise; GETs the path on 127.0.0.1', async () => {
    const srv = await httpServer(200);
    const c = checker({ type: 'HTTP', http: { port: srv.port, path: '/health?deep=1' } });
    c.start();
    await tick(c, 999);
    expect(srv.paths).toEqual([]); // first check only after the delay
    await tick(c, 1);
    expect(srv.paths).toEqual(['/health?deep=1']);
    expect(results).toEqual([{ healthy: true, consecutiveFailures: 0, message: `GET http://127.0.0.1:${srv.port}/health?deep=1 returned 200` }]);
    srv.setStatus(302);
    await tick(c, 1000);
    expect(results).toHaveLength(1); // still healthy: no report
    srv.setStatus(500);
    await tick(c, 1000);
    expect(results[1]).toEqual({ healthy: false, consecutiveFailures: 1, message: expect.stringContaining('returned 500 (healthy: 200-399)') });
    expect(c.healthy).toBe(false);
  });

  it('HTTP: custom statuses decide health', async () => {
    const srv = await httpServer(503);
    const c = checker({ type: 'HTTP', http: { port: srv.port, statuses: [503] } });
    c.start();
    await tick(c, 1000);
    expect(results.map((r) => r.healthy)).toEqual([true]);
    srv.setStatus(200);
    await tick(c, 1000);
    expect(results[1]).toMatchObject({ healthy: false, message: expect.stringContaining('returned 200 (healthy: 503)') });
  });

  // openssl (installed by scripts/ensure-services.sh) makes a throwaway self-signed certificate.
  it('HTTPS: does not verify the certificate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hc-'));
    try {
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=not-this-host'], { stdio: 'ignore' });
      const port = await listen(https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (_req, res) => res.writeHead(204).end()));
      const c = checker({ type: 'HTTP', http: { port, scheme: 'https' } });
      c.start();
      await tick(c, 1000);
      expect(results).toEqual([{ healthy: true, consecutiveFailures: 0, message: `GET https://127.0.0.1:${port}/ returned 204` }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('TCP: healthy when the port accepts, and the connection is closed', async () => {
    const open = new Set<net.Socket>();
    let accepted = 0;
    const port = await listen(net.createServer((s) => {
      accepted += 1;
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
    }));
    const c = checker({ type: 'TCP', tcp: { port } });
    c.start();
    await tick(c, 1000);
    expect(results).toEqual([{ healthy: true, consecutiveFailures: 0, message: `connected to 127.0.0.1:${port}` }]);
    await waitFor(() => accepted === 1 && open.size === 0, 'the probe connection to close');
  });

  it('TCP: unhealthy when nothing listens', async () => {
    const port = await closedPort();
    const c = checker({ type: 'TCP', tcp: { port } });
    c.start();
    await tick(c, 1000);
    expect(results).toEqual([{ healthy: false, consecutiveFailures: 1, message: expect.stringMatching(`connecting to 127.0.0.1:${port} failed: .*ECONNREFUSED`) }]);
  });

  it('COMMAND: runs through exec with the timeout; exit 0 is healthy, anything else not', async () => {
    const exec = scriptedExec([0, 3, undefined], 'line 1\nno such file  \n');
    const c = checker({ ...CMD, command: { value: 'check-it', shell: false, arguments: ['check-it', '--deep'] } }, { exec });
    c.start();
    await tick(c, 1000);
    await tick(c, 1000);
    expect(exec.calls[0]).toEqual({ command: { value: 'check-it', shell: false, arguments: ['check-it', '--deep'] }, timeoutMs: 500, at: clock.now() - 1000 });
    expect(results).toEqual([
      { healthy: true, consecutiveFailures: 0, message: 'command exited with status 0: line 1\nno such file' },
      { healthy: false, consecutiveFailures: 1, message: 'command exited with status 3: line 1\nno such file' },
    ]);
    await tick(c, 1000);
    expect(thresholds).toEqual([]);
    expect(c.running).toBe(true);
  });

  it('COMMAND without an exec fails with a clear message', async () => {
    const c = checker(CMD);
    c.start();
    await tick(c, 1000);
    expect(results).toEqual([{ healthy: false, consecutiveFailures: 1, message: expect.stringContaining('no command executor') }]);
  });

  it('an exec that rejects counts as a failure', async () => {
    const c = checker(CMD, { exec: () => Promise.reject(new Error('container is gone')) });
    c.start();
    await tick(c, 1000);
    expect(results).toEqual([{ healthy: false, consecutiveFailures: 1, message: 'check failed: container is gone' }]);
  });

  it('a check that does not answer within the timeout fails, and its socket is closed', async () => {
    const open = new Set<net.Socket>();
    const server = http.createServer(() => undefined); // never answers
    server.on('connection', (s) => { open.add(s); s.on('close', () => open.delete(s)); });
    const port = await listen(server);
    const c = checker({ type: 'HTTP', http: { port } });
    c.start();
    clock.advance(1000);
    await waitFor(() => open.size === 1, 'the request to arrive');
    clock.advance(499); // not yet timed out (and still in flight)
    expect(results).toEqual([]);
    await tick(c, 1);
    expect(results).toEqual([{ healthy: false, consecutiveFailures: 1, message: 'timed out after 0.5 s' }]);
    await waitFor(() => open.size === 0, 'the timed-out connection to close');
  });

  it('checks never overlap: a slot due while a check runs is skipped', async () => {
    const calls: number[] = [];
    const pending: ((r: { exitCode: number }) => void)[] = [];
    const c = checker({ ...CMD, timeout_seconds: 5 }, {
      exec: () => { calls.push(clock.now()); return new Promise((resolve) => pending.push(resolve)); },
    });
    c.start();
    const t0 = clock.now();
    clock.advance(1000); // check 1 starts at +1 s
    clock.advance(2500); // slots at +2 s and +3 s are due while it runs
    expect(calls).toEqual([t0 + 1000]);
    pending[0]!({ exitCode: 0 }); // finishes at +3.5 s
    await c.whenIdle();
    clock.advance(499);
    expect(calls).toHaveLength(1);
    clock.advance(1); // next slot of the grid: +4 s
    expect(calls).toEqual([t0 + 1000, t0 + 4000]);
    pending[1]!({ exitCode: 0 });
    await c.whenIdle();
    clock.advance(1000); // on time again: start to start
    expect(calls).toEqual([t0 + 1000, t0 + 4000, t0 + 5000]);
    pending[2]!({ exitCode: 0 });
    await c.whenIdle();
    expect(results).toHaveLength(1);
  });

  it('ignores failures in the grace period until the first success, then counts every failure', async () => {
    const exec = scriptedExec([1, 1, 1, 0, 1, 1]);
    const c = checker({ ...CMD, grace_period_seconds: 10, consecutive_failures: 2 }, { exec });
    c.start();
    for (let i = 0; i < 3; i++) await tick(c, 1000);
    expect(exec.calls).toHaveLength(3);
    expect(results).toEqual([]); // three failures inside the grace period: nothing reported
    await tick(c, 1000);
    expect(results).toEqual([{ healthy: true, consecutiveFailures: 0, message: 'command exited with status 0' }]);
    await tick(c, 1000); // +5 s: still inside 10 s, but the grace period ended with the success
    expect(results[1]).toEqual({ healthy: false, consecutiveFailures: 1, message: 'command exited with status 1' });
    await tick(c, 1000);
    expect(thresholds).toEqual([{ healthy: false, consecutiveFailures: 2, message: 'command exited with status 1' }]);
  });

  it('counts failures once the grace period has passed without a success', async () => {
    const exec = scriptedExec([1]);
    const c = checker({ ...CMD, grace_period_seconds: 2 }, { exec });
    c.start();
    await tick(c, 1000);
    expect(results).toEqual([]);
    await tick(c, 1000); // 2 s after start: the grace period is over
    expect(results).toEqual([{ healthy: false, consecutiveFailures: 1, message: 'command exited with status 1' }]);
  });

  it('calls onFailureThreshold exactly once after N counted failures, and stops checking', async () => {
    const exec = scriptedExec([0, 1]);
    const c = checker(CMD, { exec });
    c.start();
    for (let i = 0; i < 4; i++) await tick(c, 1000);
    expect(results.map((r) => [r.healthy, r.consecutiveFailures])).toEqual([[true, 0], [false, 1]]);
    expect(thresholds).toEqual([{ healthy: false, consecutiveFailures: 3, message: 'command exited with status 1' }]);
    expect(c.running).toBe(false);
    expect(clock.pending).toBe(0);
    await tick(c, 10_000);
    expect(exec.calls).toHaveLength(4);
    expect(thresholds).toHaveLength(1);
  });

  it('with consecutive_failures 1, the first counted failure reports unhealthy and then the threshold', async () => {
    const order: string[] = [];
    const c = checker({ ...CMD, consecutive_failures: 1 }, {
      exec: scriptedExec([1]),
      onResult: (r) => order.push(`result:${r.healthy}`),
      onFailureThreshold: (r) => order.push(`threshold:${r.consecutiveFailures}`),
    });
    c.start();
    await tick(c, 1000);
    expect(order).toEqual(['result:false', 'threshold:1']);
  });

  it('reports only changes of health', async () => {
    const exec = scriptedExec([0, 0, 1, 1, 0, 0, 1]);
    const c = checker({ ...CMD, consecutive_failures: 5 }, { exec });
    c.start();
    for (let i = 0; i < 7; i++) await tick(c, 1000);
    expect(results.map((r) => [r.healthy, r.consecutiveFailures])).toEqual([[true, 0], [false, 1], [true, 0], [false, 1]]);
    expect(thresholds).toEqual([]);
  });

  it('a callback that throws does not stop the checks', async () => {
    const exec = scriptedExec([0, 1]);
    const c = checker(CMD, { exec, onResult: () => { throw new Error('boom'); } });
    c.start();
    await tick(c, 1000);
    await tick(c, 1000);
    expect(exec.calls).toHaveLength(2);
    expect(c.healthy).toBe(false);
  });

  it('stop() clears every timer and ignores the check in flight; start/stop are idempotent', async () => {
    let finish!: (r: { exitCode: number }) => void;
    const calls: number[] = [];
    const c = checker(CMD, { exec: () => { calls.push(clock.now()); return new Promise((resolve) => { finish = resolve; }); } });
    c.stop(); // before start: harmless
    const d = checker(CMD, { exec: () => { calls.push(clock.now()); return new Promise((resolve) => { finish = resolve; }); } });
    d.start();
    d.start();
    expect(clock.pending).toBe(1);
    clock.advance(1000);
    expect(calls).toHaveLength(1);
    d.stop();
    d.stop();
    expect(clock.pending).toBe(0);
    finish({ exitCode: 0 });
    await d.whenIdle();
    await Promise.resolve();
    clock.advance(60_000);
    expect(calls).toHaveLength(1);
    expect(results).toEqual([]);
    d.start(); // a stopped checker stays stopped
    c.start();
    expect(clock.pending).toBe(0);
    expect(c.running).toBe(false);
  });

  it('stop() during an HTTP check closes its connection', async () => {
    const open = new Set<net.Socket>();
    const server = http.createServer(() => undefined);
    server.on('connection', (s) => { open.add(s); s.on('close', () => open.delete(s)); });
    const port = await listen(server);
    const c = checker({ type: 'HTTP', http: { port } });
    c.start();
    clock.advance(1000);
    await waitFor(() => open.size === 1, 'the request to arrive');
    c.stop();
    await waitFor(() => open.size === 0, 'the connection to close');
    expect(results).toEqual([]);
  });
});
