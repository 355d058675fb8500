/**
 * A "nemesis" for fault-injection tests: floods a server on 127.0.0.1 with malformed, truncated,
 * oversized and hostile input for a while, and reports what it sent and what came back.
 *
 * - {@link floodGrpc} against a gRPC server (the master, an agent's gRPC port, the framework host):
 *   raw TCP garbage, HTTP/2 with broken framing, hand-built gRPC requests with bad frames, bad
 *   headers and oversized messages to every `berth.v1` method the server exposes, and valid
 *   protobuf with hostile field values through grpc-js clients.
 * - {@link floodHttp} against an HTTP/1.1 server (the master's and the agent's HTTP port):
 *   garbage request lines, huge headers and bodies, broken chunked encoding, deeply nested JSON,
 *   slowloris, path traversal and unknown paths.
 *
 * Safety: it connects to 127.0.0.1 only (anything else throws before a byte is sent), and nothing
 * it sends is meant to be valid enough to change cluster state beyond what any hostile client may
 * legitimately do. Every payload sent to a method as "malformed" starts with the byte 0x07 (field 0,
 * wire type 7), which no protobuf decoder accepts, and is checked locally to fail decoding before it
 * is sent; ids it names (agents, frameworks, tasks, roles, machines) are random `nemesis-…` junk,
 * never real ones; `UpdateMaintenanceSchedule` (which replaces the whole schedule) never gets a
 * decodable request. Frameworks it subscribes validly suppress all offers, decline any that
 * arrive anyway, and tear themselves down; agents it registers by accident (junk the server should
 * have refused) are disconnected at once and counted as `accepted-junk:…`.
 *
 * Bounds: every connection, request and stream has a timeout; slowloris and stream-holding attacks
 * are bounded in count and time. Every socket, HTTP/2 session, gRPC client and timer it opens is
 * closed before the returned promise resolves. The promise never rejects for what the server does;
 * it rejects only for a bad argument (a non-loopback address, a bad duration).
 *
 * Outcome keys (the keys of {@link FloodReport.byOutcome}):
 *
 * | key                       | meaning                                                              |
 * |---------------------------|----------------------------------------------------------------------|
 * | `OK`, `INVALID_ARGUMENT`… | the gRPC status a call or stream ended with (name of the code)        |
 * | `event:ERROR/<CODE>`      | an ERROR event on Scheduler.Connect (a refused call; stream may stay) |
 * | `event:SUBSCRIBED`        | a (deliberately valid) nemesis framework was subscribed               |
 * | `http:<status>`           | an HTTP response status (for gRPC requests: one without grpc-status)  |
 * | `goaway:<H2 code>`        | the server sent an HTTP/2 GOAWAY (e.g. `goaway:PROTOCOL_ERROR`)        |
 * | `rst_stream:<H2 code>`    | the server reset the HTTP/2 stream without a gRPC status               |
 * | `closed`                  | the server closed the connection without (another) answer            |
 * | `reset`                   | the connection was reset (ECONNRESET / EPIPE)                         |
 * | `refused`                 | nothing listens (ECONNREFUSED)                                       |
 * | `timeout`                 | no answer and no close within the attack's bound (we gave up)        |
 * | `accepted-junk:<what>`    | the server accepted input it should have refused (a finding)          |
 * | `leak:<what>`             | the server disclosed something it must not (a finding)               |
 * | `local-error`             | the flood itself failed unexpectedly (see {@link FloodReport.errors}) |
 */
import * as crypto from 'node:crypto';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { berthV1, loadBerthPackageDefinition } from '../../../src/common/rpc/proto';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/** What a flood sent and what came back. */
export interface FloodReport {
  /** Attacks launched: connections opened, requests or streams started (one attack may send several messages). */
  sent: number;
  /** Counts of observed outcomes (see the module comment for the keys); one attack may observe several. */
  byOutcome: Record<string, number>;
  /** The same counts per attack name (`frame:malformed /berth.v1.Operator/GetState`, `http:slowloris`, …). */
  byAttack: Record<string, Record<string, number>>;
  /** The first few unexpected local errors (bugs in the flood, not in the server); absent when none. */
  errors?: string[];
  /** Wall time of the flood, including the wait for attacks in flight at the deadline. */
  elapsedMs: number;
  /** Distinct attacks in the flood's cycle (with `minPasses` ≥ 1, `byAttack` has this many keys). */
  attacks: number;
  /** The ten slowest single runs of an attack (what held a worker: hangs and timeouts show here). */
  slowest: { attack: string; ms: number }[];
}

/** Options common to both floods. */
export interface FloodOptions {
  /** How long to keep launching attacks; attacks in flight at the deadline finish (bounded) before it resolves. */
  durationMs: number;
  /** Attacks in flight at once. @default 8 */
  concurrency?: number;
  /** Seed of the pseudo-random choices and payloads; same seed, same payloads. @default 1 */
  seed?: number;
  /** Bound of one request or connection. @default 3000 */
  requestTimeoutMs?: number;
  /**
   * Keep launching past `durationMs` until every attack has been started this many times, so that
   * a slow run still covers everything (bounded by `maxDurationMs`). @default 0
   */
  minPasses?: number;
  /** Hard bound on launching attacks when `minPasses` asks for more time. @default max(10 × durationMs, 60000) */
  maxDurationMs?: number;
}

/** Which parts of {@link floodGrpc} to run. */
export type GrpcAttackFamily =
  /** Raw TCP connections sending random bytes. */
  | 'tcp'
  /** A valid HTTP/2 preface followed by broken or abusive framing (raw sockets). */
  | 'h2'
  /** Hand-built gRPC requests over node:http2: bad frames, bad headers, oversized messages, unknown paths. */
  | 'frames'
  /** Valid protobuf with hostile field values through grpc-js clients. */
  | 'hostile';

/** Options of {@link floodGrpc}. */
export interface GrpcFloodOptions extends FloodOptions {
  /** The server's largest accepted message, bytes (used to build just-over and far-over messages). @default 4 MiB */
  maxMessageBytes?: number;
  /**
   * The `berth.v1` services to target (short names: `Scheduler`, `Operator`, `Jobs`, …).
   * @default those the server's grpc.health.v1.Health knows (all berth.v1 services when it has no health service)
   */
  services?: readonly string[];
  /** @default all four */
  families?: readonly GrpcAttackFamily[];
  /** Bytes actually sent after a 64 MiB length prefix (the "far over" message). @default 2 MiB */
  farOverSentBytes?: number;
  /**
   * Length of the very long repeated fields of hostile messages (roles, offer ids, weights,
   * machines, resources…; some use a multiple of it). Lower it when the server should not be
   * stalled by work proportional to it. @default 20000
   */
  longListLength?: number;
}

/** Options of {@link floodHttp}. */
export interface HttpFloodOptions extends FloodOptions {
  /** Paths that answer JSON (get deeply nested JSON bodies and queries). @default ['/api/state', '/api/apps', '/api/jobs'] */
  jsonPaths?: readonly string[];
  /** Static-file prefixes for path traversal attempts. @default ['/', '/ui/'] */
  staticPrefixes?: readonly string[];
  /** Slowloris connections held at once (each bounded by `requestTimeoutMs`). @default 16 */
  slowlorisConnections?: number;
  /** Bytes of the huge request bodies actually sent. @default 4 MiB */
  hugeBodyBytes?: number;
}

/**
 * Floods the gRPC server at `address` (`127.0.0.1:<port>`) for `opts.durationMs`; resolves with
 * the report once every attack in flight has finished and everything opened is closed.
 *
 * @throws Error (rejects) when `address` is not on 127.0.0.1 or an option is out of range.
 */
export async function floodGrpc(address: string, opts: GrpcFloodOptions): Promise<FloodReport> {
  const port = loopbackPort(address);
  const o = checkCommon(opts);
  const maxMessageBytes = opts.maxMessageBytes ?? 4 * 1024 * 1024;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 16) throw new Error(`floodGrpc: maxMessageBytes must be an integer >= 16, got ${maxMessageBytes}`);
  const families = new Set(opts.families ?? ['tcp', 'h2', 'frames', 'hostile']);
  const started = Date.now();
  const handles = new Handles();
  const tally = new Tally();
  const clients = new HostileClients(`127.0.0.1:${port}`);
  try {
    const services = opts.services ?? (await exposedServices(port, o.requestTimeoutMs, handles));
    const env: GrpcEnv = {
      port,
      handles,
      timeoutMs: o.requestTimeoutMs,
      maxMessageBytes,
      farOverSentBytes: opts.farOverSentBytes ?? 2 * 1024 * 1024,
      longList: Math.max(1, Math.floor(opts.longListLength ?? 20_000)),
      services: new Set(services),
      clients,
      pool: randomPool(o.seed),
    };
    const attacks: Attack[] = [];
    if (families.has('tcp')) attacks.push(...tcpAttacks(env));
    if (families.has('h2')) attacks.push(...h2Attacks(env));
    if (families.has('frames')) attacks.push(...frameAttacks(env));
    if (families.has('hostile')) attacks.push(...hostileAttacks(env));
    await runAttacks(attacks, o, tally);
  } finally {
    clients.close();
    handles.closeAll();
  }
  return tally.report(Date.now() - started);
}

/**
 * Floods the HTTP server on 127.0.0.1:`port` for `opts.durationMs`; resolves with the report once
 * every attack in flight has finished and every socket is closed.
 *
 * @throws Error (rejects) when an option is out of range.
 */
export async function floodHttp(port: number, opts: HttpFloodOptions): Promise<FloodReport> {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`floodHttp: port must be in [1, 65535], got ${port}`);
  const o = checkCommon(opts);
  const started = Date.now();
  const handles = new Handles();
  const tally = new Tally();
  try {
    const env: HttpEnv = {
      port,
      handles,
      timeoutMs: o.requestTimeoutMs,
      jsonPaths: opts.jsonPaths ?? ['/api/state', '/api/apps', '/api/jobs'],
      staticPrefixes: opts.staticPrefixes ?? ['/', '/ui/'],
      slowloris: Math.max(1, Math.min(opts.slowlorisConnections ?? 16, 256)),
      hugeBodyBytes: opts.hugeBodyBytes ?? 4 * 1024 * 1024,
      pool: randomPool(o.seed),
    };
    await runAttacks(httpAttacks(env), o, tally);
  } finally {
    handles.closeAll();
  }
  return tally.report(Date.now() - started);
}

/** Sum of the counts of outcomes whose key matches `pattern` (for assertions on the distribution). */
export function countOutcomes(report: FloodReport, pattern: RegExp): number {
  return Object.entries(report.byOutcome).reduce((sum, [k, n]) => sum + (pattern.test(k) ? n : 0), 0);
}

/** gRPC refusals: statuses and ERROR events that mean "your input was refused". */
export const REFUSAL = /^(event:ERROR\/)?(INVALID_ARGUMENT|RESOURCE_EXHAUSTED|FAILED_PRECONDITION|NOT_FOUND|OUT_OF_RANGE|PERMISSION_DENIED|UNIMPLEMENTED|INTERNAL|ABORTED)$/;

/** Outcomes that are findings (the server accepted or disclosed what it must not). */
export const FINDING = /^(accepted-junk|leak):/;

// ---------------------------------------------------------------------------------------------
// Runner, tally, handles, randomness
// ---------------------------------------------------------------------------------------------

interface Attack {
  readonly name: string;
  run(ctx: AttackContext): Promise<void>;
}

interface AttackContext {
  readonly rng: Rng;
  /** The worker's reusable HTTP/2 session (closed when the worker stops). */
  readonly sessions: WorkerSessions;
  /** Records an outcome of this attack. */
  record(outcome: string): void;
  /** Records an unexpected local error (and the outcome `local-error`). */
  error(err: unknown): void;
}

interface CommonOptions {
  readonly durationMs: number;
  readonly minPasses: number;
  readonly maxDurationMs: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly requestTimeoutMs: number;
}

function checkCommon(opts: FloodOptions): CommonOptions {
  const { durationMs, concurrency = 8, seed = 1, requestTimeoutMs = 3000, minPasses = 0 } = opts;
  const maxDurationMs = opts.maxDurationMs ?? Math.max(10 * durationMs, 60_000);
  if (!Number.isInteger(minPasses) || minPasses < 0 || minPasses > 100) throw new Error(`flood: minPasses must be an integer in [0, 100], got ${minPasses}`);
  if (!Number.isFinite(maxDurationMs) || maxDurationMs < durationMs) throw new Error(`flood: maxDurationMs must be >= durationMs, got ${maxDurationMs}`);
  if (!Number.isFinite(durationMs) || durationMs < 0 || durationMs > 3_600_000) throw new Error(`flood: durationMs must be in [0, 3600000], got ${durationMs}`);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) throw new Error(`flood: concurrency must be an integer in [1, 1024], got ${concurrency}`);
  if (!Number.isInteger(seed)) throw new Error(`flood: seed must be an integer, got ${seed}`);
  if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs < 50 || requestTimeoutMs > 600_000) throw new Error(`flood: requestTimeoutMs must be in [50, 600000], got ${requestTimeoutMs}`);
  return { durationMs, concurrency, seed, requestTimeoutMs, minPasses, maxDurationMs };
}

/**
 * Runs `concurrency` workers until the deadline (and `minPasses` passes); each takes the next
 * attack of one cycle, so every attack runs once before any runs twice. The cycle interleaves the
 * attack families (`tcp`, `h2`, `frame`, `hostile`, …), each shuffled, so a short run samples all.
 */
async function runAttacks(attacks: readonly Attack[], o: CommonOptions, tally: Tally): Promise<void> {
  tally.attacks = attacks.length;
  if (attacks.length === 0) return;
  const rngOrder = new Rng(o.seed);
  const families = new Map<string, Attack[]>();
  for (const a of attacks) {
    const family = a.name.split(':', 1)[0]!;
    families.set(family, [...(families.get(family) ?? []), a]);
  }
  const lists = [...families.values()].map((l) => rngOrder.shuffle(l));
  const order: Attack[] = [];
  for (let i = 0; order.length < attacks.length; i++) for (const l of lists) if (i < l.length) order.push(l[i]!);
  const started = Date.now();
  const wanted = o.minPasses * order.length;
  let cursor = 0;
  const more = (): boolean => {
    const elapsed = Date.now() - started;
    return elapsed < o.durationMs || (cursor < wanted && elapsed < o.maxDurationMs);
  };
  const worker = async (w: number): Promise<void> => {
    const rng = new Rng(o.seed * 7919 + w + 1);
    const sessions = new WorkerSessions();
    try {
      await loop(rng, sessions);
    } finally {
      sessions.close();
    }
  };
  const loop = async (rng: Rng, sessions: WorkerSessions): Promise<void> => {
    while (more()) {
      const attack = order[cursor++ % order.length]!;
      tally.sent++;
      const ctx: AttackContext = { rng, sessions, record: (outcome) => tally.record(attack.name, outcome), error: (err) => tally.error(attack.name, err) };
      const t0 = Date.now();
      try {
        await attack.run(ctx);
      } catch (err) {
        ctx.error(err);
      }
      tally.timed(attack.name, Date.now() - t0);
      // Let the server (often in the same process) and the other workers run.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
}

class Tally {
  sent = 0;
  private readonly byOutcome: Record<string, number> = {};
  private readonly byAttack: Record<string, Record<string, number>> = {};
  private readonly errors: string[] = [];
  private readonly slowest: { attack: string; ms: number }[] = [];

  timed(attack: string, ms: number): void {
    if (this.slowest.length === 10 && ms <= this.slowest[9]!.ms) return;
    this.slowest.push({ attack, ms });
    this.slowest.sort((a, b) => b.ms - a.ms);
    this.slowest.splice(10);
  }

  record(attack: string, outcome: string): void {
    this.byOutcome[outcome] = (this.byOutcome[outcome] ?? 0) + 1;
    const per = (this.byAttack[attack] ??= {});
    per[outcome] = (per[outcome] ?? 0) + 1;
  }

  error(attack: string, err: unknown): void {
    this.record(attack, 'local-error');
    if (this.errors.length < 10) this.errors.push(`${attack}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }

  attacks = 0;

  report(elapsedMs: number): FloodReport {
    const sort = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
    return {
      sent: this.sent,
      byOutcome: sort(this.byOutcome),
      byAttack: Object.fromEntries(Object.entries(this.byAttack).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sort(v)])),
      ...(this.errors.length > 0 ? { errors: [...this.errors] } : {}),
      elapsedMs,
      attacks: this.attacks,
      slowest: [...this.slowest],
    };
  }
}

/** Everything opened, so that all of it is closed whatever happens. */
class Handles {
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.ClientHttp2Session>();

  socket(s: net.Socket): net.Socket {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    return s;
  }

  session(s: http2.ClientHttp2Session): http2.ClientHttp2Session {
    this.sessions.add(s);
    s.once('close', () => this.sessions.delete(s));
    return s;
  }

  /** Destroys whatever is still open (normally nothing: every attack closes what it opened). */
  closeAll(): void {
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
    this.sessions.clear();
    this.sockets.clear();
  }
}

/** mulberry32: small, fast, seedable. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  hex(n = 8): string {
    let s = '';
    while (s.length < n) s += Math.floor(this.next() * 4294967296).toString(16).padStart(8, '0');
    return s.slice(0, n);
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

/** 256 KiB of seeded random bytes; payloads are slices of it (cheap, and reproducible per seed). */
class RandomPool {
  constructor(private readonly bytes: Buffer) {}
  /** `n` random-looking bytes (a slice of the pool, repeated when `n` is larger). */
  take(rng: Rng, n: number): Buffer {
    if (n <= this.bytes.length) {
      const start = rng.int(this.bytes.length - n + 1);
      return this.bytes.subarray(start, start + n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let off = 0; off < n; off += this.bytes.length) this.bytes.copy(out, off, 0, Math.min(this.bytes.length, n - off));
    return out;
  }
}

function randomPool(seed: number): RandomPool {
  const rng = new Rng(seed ^ 0x5eed);
  const bytes = Buffer.allocUnsafe(256 * 1024);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(Math.floor(rng.next() * 4294967296), i);
  return new RandomPool(bytes);
}

function loopbackPort(address: string): number {
  const m = /^(127\.0\.0\.1|localhost):(\d{1,5})$/.exec(address);
  if (m === null) throw new Error(`flood: refusing to connect to "${address}": only 127.0.0.1:<port> is allowed`);
  const port = Number(m[2]);
  if (port < 1 || port > 65_535) throw new Error(`flood: bad port in "${address}"`);
  return port;
}

/** A timer that can be awaited and is always cleared. */
function delay(ms: number, signal: { done: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (signal.done) return resolve();
    const t = setTimeout(resolve, ms);
    (signal as { cancel?: () => void }).cancel = () => (clearTimeout(t), resolve());
  });
}

// ---------------------------------------------------------------------------------------------
// Raw sockets
// ---------------------------------------------------------------------------------------------

/** One step of a raw exchange: bytes to write, a pause, or a half-close. */
type Step = Buffer | { pauseMs: number } | 'end';

interface RawResult {
  /** What was read (at most `maxRead` bytes). */
  readonly data: Buffer;
  /** How it ended: `closed`, `reset`, `refused`, `timeout`, `answered` (stopWhen said so) or `error:<code>`. */
  readonly ended: string;
}

/**
 * Connects to 127.0.0.1:`port`, performs `steps` (honouring backpressure), reads until the server
 * closes, `stopWhen` is satisfied or `timeoutMs` passes; always destroys the socket.
 */
function rawExchange(handles: Handles, port: number, steps: readonly Step[], opts: { timeoutMs: number; maxRead?: number; stopWhen?: (data: Buffer) => boolean; pauseReading?: boolean }): Promise<RawResult> {
  const maxRead = opts.maxRead ?? 64 * 1024;
  return new Promise((resolve) => {
    const socket = handles.socket(net.connect({ host: '127.0.0.1', port }));
    const chunks: Buffer[] = [];
    let read = 0;
    const signal: { done: boolean; cancel?: () => void } = { done: false };
    let drainWaiter: (() => void) | undefined;
    const finish = (ended: string): void => {
      if (signal.done) return;
      signal.done = true;
      clearTimeout(timer);
      signal.cancel?.();
      drainWaiter?.();
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), ended });
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs);
    socket.setNoDelay(true);
    if (opts.pauseReading) socket.pause();
    socket.on('data', (d: Buffer) => {
      if (read < maxRead) {
        chunks.push(d.subarray(0, maxRead - read));
        read += Math.min(d.length, maxRead - read);
      }
      if (opts.stopWhen?.(Buffer.concat(chunks))) finish('answered');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(errnoOutcome(err)));
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('drain', () => drainWaiter?.());
    socket.once('connect', () => {
      void (async () => {
        for (const step of steps) {
          if (signal.done) return;
          if (step === 'end') socket.end();
          else if (Buffer.isBuffer(step)) {
            for (let off = 0; off < step.length && !signal.done; off += 64 * 1024) {
              if (!socket.write(step.subarray(off, off + 64 * 1024))) await new Promise<void>((r) => (drainWaiter = r));
              drainWaiter = undefined;
            }
          } else await delay(step.pauseMs, signal);
        }
      })().catch(() => finish('closed'));
    });
  });
}

function errnoOutcome(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ECONNREFUSED':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return `error:${err.code ?? 'UNKNOWN'}`;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 framing by hand
// ---------------------------------------------------------------------------------------------

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const H2 = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const H2_ERRORS = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];
const h2ErrorName = (code: number): string => H2_ERRORS[code] ?? `0x${code.toString(16)}`;

/** One HTTP/2 frame; `length` overrides the declared payload length (for lies). */
function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0), length = payload.length): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(length & 0xffffff, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

function setting(id: number, value: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(id, 0);
  b.writeUInt32BE(value >>> 0, 2);
  return b;
}

/** HPACK integer with an N-bit prefix. */
function hpackInt(value: number, prefixBits: number, flags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** An HPACK header block of literals without indexing (no Huffman), valid for any decoder. */
function hpack(headers: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(n.length, 7, 0)]), n, Buffer.from(hpackInt(v.length, 7, 0)), v);
  }
  return Buffer.concat(parts);
}

/** The request headers of a gRPC call to `path`, as an HPACK block. */
function grpcHeaderBlock(path: string): Buffer {
  return hpack([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', '127.0.0.1'], ['content-type', 'application/grpc'], ['te', 'trailers']]);
}

/** The first GOAWAY or RST_STREAM the server sent, as an outcome; undefined when none. */
function h2Verdict(data: Buffer): string | undefined {
  let rst: string | undefined;
  for (let off = 0; off + 9 <= data.length; ) {
    const len = data.readUIntBE(off, 3);
    const type = data[off + 3];
    if (off + 9 + len > data.length) break;
    if (type === H2.GOAWAY && len >= 8) return `goaway:${h2ErrorName(data.readUInt32BE(off + 13))}`;
    if (type === H2.RST_STREAM && len >= 4 && rst === undefined) rst = `rst_stream:${h2ErrorName(data.readUInt32BE(off + 9))}`;
    off += 9 + len;
  }
  return rst;
}

// ---------------------------------------------------------------------------------------------
// gRPC: environment, message framing, requests over node:http2
// ---------------------------------------------------------------------------------------------

interface GrpcEnv {
  readonly port: number;
  readonly handles: Handles;
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  readonly farOverSentBytes: number;
  /** Length of very long repeated fields. */
  readonly longList: number;
  /** Short names of the targeted berth.v1 services. */
  readonly services: ReadonlySet<string>;
  readonly clients: HostileClients;
  readonly pool: RandomPool;
}

interface MethodInfo {
  /** `/berth.v1.Operator/GetState` */
  readonly path: string;
  /** `Operator` */
  readonly service: string;
  readonly name: string;
  readonly requestStream: boolean;
  /** Decodes a request (throws on malformed bytes); the safety check of junk payloads. */
  readonly decode?: (b: Buffer) => unknown;
}

/** Every method of every berth.v1 service in the loaded proto. */
function berthMethods(): MethodInfo[] {
  const def = loadBerthPackageDefinition() as unknown as Record<string, unknown>;
  const out: MethodInfo[] = [];
  for (const [fullName, value] of Object.entries(def)) {
    if (!fullName.startsWith('berth.v1.') || value === null || typeof value !== 'object' || 'format' in value) continue;
    for (const [name, m] of Object.entries(value as Record<string, grpc.MethodDefinition<unknown, unknown>>)) {
      if (typeof m?.path !== 'string') continue;
      out.push({ path: m.path, service: fullName.slice('berth.v1.'.length), name, requestStream: m.requestStream, decode: m.requestDeserialize });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Short names of all berth.v1 services in the loaded proto. */
function berthServiceNames(): string[] {
  return [...new Set(berthMethods().map((m) => m.service))];
}

/** A gRPC length-prefixed message; `declared` may lie about the length. */
function grpcMessage(payload: Buffer, opts: { compressed?: boolean; declared?: number } = {}): Buffer {
  const header = Buffer.alloc(5);
  header[0] = opts.compressed ? 1 : 0;
  header.writeUInt32BE((opts.declared ?? payload.length) >>> 0, 1);
  return Buffer.concat([header, payload]);
}

/** Protobuf no decoder accepts: the first tag is field 0 with wire type 7. */
function junkProtobuf(pool: RandomPool, rng: Rng, n: number): Buffer {
  const b = Buffer.from(pool.take(rng, Math.max(1, n)));
  b[0] = 0x07;
  return b;
}

/**
 * Nested unknown groups (field 0, wire type 3, never closed), deeper than protobuf.js's recursion
 * limit, then an invalid tag: a decoder without a depth limit would overflow its stack.
 */
function deepGroups(depth: number): Buffer {
  return Buffer.concat([Buffer.alloc(depth, 0x03), Buffer.from([0x07])]);
}

/** Throws when `payload` decodes as a request of `method`: such a payload must never be sent as junk. */
function assertUndecodable(method: MethodInfo | undefined, payload: Buffer): void {
  if (method?.decode === undefined) {
    // No decoder at hand: accept only payloads whose first tag names field 0 (no message has one).
    if (payload[0]! >> 3 !== 0 || payload[0] === 0) throw new Error('junk payload does not start with a field-0 tag');
    return;
  }
  let decoded = false;
  try {
    method.decode(payload);
    decoded = true;
  } catch {
    // as intended
  }
  if (decoded) throw new Error(`junk payload decodes as a request of ${method.path}; not sending it`);
}

interface H2Reply {
  readonly outcome: string;
  readonly grpcStatus?: number;
  readonly body: Buffer;
}

/**
 * One request over node:http2 to 127.0.0.1:`port`: `headers`, then `body` parts (with
 * backpressure), then END_STREAM unless `keepOpen`. The outcome is the grpc-status name, else
 * `http:<status>`, else how the stream or session ended.
 *
 * With `reuse`, the request goes over that worker's session (made when there is none or the last
 * one ended), which stays open afterwards (the stream is closed); without it, over a fresh session
 * that is destroyed at the end.
 */
function h2Request(env: { port: number; handles: Handles }, headers: http2.OutgoingHttpHeaders, body: readonly Buffer[], opts: { timeoutMs: number; keepOpen?: boolean; reuse?: WorkerSessions }): Promise<H2Reply> {
  return new Promise((resolve) => {
    let done = false;
    let httpStatus: number | undefined;
    let grpcStatus: number | undefined;
    let goaway: string | undefined;
    let streamError: NodeJS.ErrnoException | undefined;
    const chunks: Buffer[] = [];
    let read = 0;
    let req: http2.ClientHttp2Stream | undefined;
    let drainWaiter: (() => void) | undefined;
    const session = opts.reuse?.get(env) ?? env.handles.session(http2.connect(`http://127.0.0.1:${env.port}`, { settings: { enablePush: false } }));
    const onSessionError = (err: NodeJS.ErrnoException): void => {
      streamError ??= err;
      finish();
    };
    const onGoaway = (code: number): void => void (goaway = `goaway:${h2ErrorName(code)}`);
    const onSessionClose = (): void => finish();
    const finish = (forced?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      drainWaiter?.();
      let outcome: string;
      if (grpcStatus !== undefined) outcome = grpc.status[grpcStatus] ?? `grpc-status:${grpcStatus}`;
      else if (httpStatus !== undefined && httpStatus !== 200) outcome = `http:${httpStatus}`;
      else if (forced !== undefined) outcome = forced;
      else if (req?.rstCode !== undefined && req.rstCode !== 0) outcome = `rst_stream:${h2ErrorName(req.rstCode)}`;
      else if (goaway !== undefined) outcome = goaway;
      else if (streamError !== undefined) outcome = errnoOutcome(streamError);
      else outcome = 'closed';
      session.off('error', onSessionError);
      session.off('goaway', onGoaway);
      session.off('close', onSessionClose);
      if (opts.reuse === undefined || goaway !== undefined || forced === 'timeout') session.destroy();
      else if (req !== undefined && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      resolve({ outcome, grpcStatus, body: Buffer.concat(chunks) });
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs);
    session.on('error', onSessionError);
    session.on('goaway', onGoaway);
    session.on('close', onSessionClose);
    try {
      req = session.request(headers, { endStream: false });
    } catch (err) {
      streamError = err as NodeJS.ErrnoException;
      finish();
      return;
    }
    req.on('response', (h) => {
      httpStatus = Number(h[':status']);
      if (h['grpc-status'] !== undefined) grpcStatus = Number(h['grpc-status']);
    });
    req.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) grpcStatus = Number(t['grpc-status']);
    });
    req.on('data', (d: Buffer) => {
      if (read < 64 * 1024) {
        chunks.push(d);
        read += d.length;
      }
    });
    req.on('error', (err: NodeJS.ErrnoException) => (streamError ??= err));
    req.on('drain', () => drainWaiter?.());
    req.on('close', () => finish());
    const stream = req;
    void (async () => {
      for (const part of body) {
        for (let off = 0; off < part.length; off += 64 * 1024) {
          if (done || stream.destroyed || stream.closed) return;
          if (!stream.write(part.subarray(off, off + 64 * 1024))) await new Promise<void>((r) => (drainWaiter = r));
          drainWaiter = undefined;
        }
      }
      if (!opts.keepOpen && !done && !stream.destroyed) stream.end();
    })().catch(() => undefined);
  });
}

/** One worker's HTTP/2 session, reused across its requests and replaced once it ends. */
class WorkerSessions {
  private session: http2.ClientHttp2Session | undefined;

  get(env: { port: number; handles: Handles }): http2.ClientHttp2Session {
    if (this.session === undefined || this.session.destroyed || this.session.closed) {
      const s = env.handles.session(http2.connect(`http://127.0.0.1:${env.port}`, { settings: { enablePush: false } }));
      s.on('error', () => undefined); // reported through the request that saw it
      this.session = s;
    }
    return this.session;
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}

/** Request headers of a gRPC call to `path` (with `extra` overriding). */
function grpcHeaders(path: string, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders {
  return { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra };
}

/**
 * The berth.v1 services the server exposes, by asking its grpc.health.v1.Health for each (every
 * Berth server registers a health status per service it serves); all of them when it has no health
 * service.
 */
async function exposedServices(port: number, timeoutMs: number, handles: Handles): Promise<string[]> {
  const names = berthServiceNames();
  const found = await Promise.all(
    names.map(async (name) => {
      const service = Buffer.from(`berth.v1.${name}`);
      const request = Buffer.concat([Buffer.from([0x0a, service.length]), service]);
      const reply = await h2Request({ port, handles }, grpcHeaders('/grpc.health.v1.Health/Check'), [grpcMessage(request)], { timeoutMs });
      return { name, status: reply.grpcStatus };
    }),
  );
  if (found.every((f) => f.status === grpc.status.UNIMPLEMENTED || f.status === undefined)) return names;
  return found.filter((f) => f.status === grpc.status.OK).map((f) => f.name);
}

// ---------------------------------------------------------------------------------------------
// (a) raw TCP garbage
// ---------------------------------------------------------------------------------------------

function tcpAttacks(env: GrpcEnv): Attack[] {
  const connTimeout = Math.min(env.timeoutMs, 1500);
  const verdict = (r: RawResult): string => h2Verdict(r.data) ?? r.ended;
  const variants: [string, (rng: Rng) => Step[]][] = [
    ['random-small', (rng) => [env.pool.take(rng, 1 + rng.int(64))]],
    ['random-64k', (rng) => [env.pool.take(rng, 64 * 1024)]],
    ['random-1m-then-fin', (rng) => [env.pool.take(rng, 1024 * 1024), 'end']],
    ['http1-request', () => [Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')]],
    ['tls-client-hello', (rng) => [Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), env.pool.take(rng, 508)])]],
    ['connect-and-fin', () => ['end']],
    ['connect-and-idle', () => [{ pauseMs: connTimeout }]],
    ['nul-bytes', () => [Buffer.alloc(32 * 1024)]],
  ];
  return variants.map(([name, steps]) => ({
    name: `tcp:${name}`,
    run: async (ctx) => ctx.record(verdict(await rawExchange(env.handles, env.port, steps(ctx.rng), { timeoutMs: connTimeout }))),
  }));
}

// ---------------------------------------------------------------------------------------------
// (b) HTTP/2 preface, then broken framing
// ---------------------------------------------------------------------------------------------

function h2Attacks(env: GrpcEnv): Attack[] {
  const connTimeout = Math.min(env.timeoutMs, 1500);
  const start = Buffer.concat([H2_PREFACE, h2Frame(H2.SETTINGS, 0, 0)]);
  const settingsAck = h2Frame(H2.SETTINGS, 0x1, 0);
  const readOnlyPath = '/berth.v1.Operator/GetHealth';
  const streamPaths = ['/berth.v1.Scheduler/Connect', '/berth.v1.AgentLink/Connect', '/berth.v1.Operator/Watch'].filter((p) => env.services.has(p.split(/[./]/)[3]!));
  const many = (n: number, make: (i: number) => Buffer): Buffer => Buffer.concat(Array.from({ length: n }, (_, i) => make(i)));
  const variants: [string, (rng: Rng) => Step[]][] = [
    ['truncated-preface', () => [H2_PREFACE.subarray(0, 11), 'end']],
    ['random-after-preface', (rng) => [start, env.pool.take(rng, 1 + rng.int(16 * 1024))]],
    ['frame-length-lie', (rng) => [start, h2Frame(H2.DATA, 0, 1, env.pool.take(rng, 100), 0xffffff), 'end']],
    ['half-frame-header', () => [start, Buffer.from([0x00, 0x00, 0x10, H2.HEADERS]), 'end']],
    ['bad-hpack', (rng) => [start, h2Frame(H2.HEADERS, 0x4 | 0x1, 1, env.pool.take(rng, 200))]],
    ['data-on-stream-0', (rng) => [start, h2Frame(H2.DATA, 0, 0, env.pool.take(rng, 100))]],
    ['data-on-idle-stream', (rng) => [start, h2Frame(H2.DATA, 0, 7, env.pool.take(rng, 100))]],
    ['window-update-zero', () => [start, h2Frame(H2.WINDOW_UPDATE, 0, 0, u32(0))]],
    ['window-overflow', () => [start, h2Frame(H2.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)), h2Frame(H2.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))]],
    ['bad-settings-values', () => [H2_PREFACE, h2Frame(H2.SETTINGS, 0, 0, Buffer.concat([setting(0x4, 0x80000000), setting(0x5, 1), setting(0x2, 2)]))]],
    ['settings-bad-length', () => [H2_PREFACE, h2Frame(H2.SETTINGS, 0, 0, Buffer.alloc(5))]],
    ['settings-on-stream', () => [start, h2Frame(H2.SETTINGS, 0, 3, setting(0x3, 100))]],
    ['settings-flood', () => [start, many(2000, () => h2Frame(H2.SETTINGS, 0, 0, setting(0x3, 100)))]],
    ['ping-flood', (rng) => [start, settingsAck, many(5000, () => h2Frame(H2.PING, 0, 0, env.pool.take(rng, 8)))]],
    ['ping-bad-length', () => [start, h2Frame(H2.PING, 0, 0, Buffer.alloc(3))]],
    ['orphan-continuation', (rng) => [start, h2Frame(H2.CONTINUATION, 0x4, 1, env.pool.take(rng, 50))]],
    ['continuation-flood', (rng) => [start, h2Frame(H2.HEADERS, 0x1, 1, grpcHeaderBlock(readOnlyPath)), many(256, () => h2Frame(H2.CONTINUATION, 0, 1, hpack([[`x-${rng.hex(6)}`, 'v'.repeat(4000)]])))]],
    ['even-stream-id', () => [start, h2Frame(H2.HEADERS, 0x4 | 0x1, 2, grpcHeaderBlock(readOnlyPath))]],
    ['decreasing-stream-id', () => [start, h2Frame(H2.HEADERS, 0x4, 5, grpcHeaderBlock(readOnlyPath)), h2Frame(H2.HEADERS, 0x4, 3, grpcHeaderBlock(readOnlyPath))]],
    ['priority-self-dependency', () => [start, h2Frame(H2.PRIORITY, 0, 1, Buffer.concat([u32(1), Buffer.from([16])]))]],
    ['push-promise-from-client', (rng) => [start, h2Frame(H2.PUSH_PROMISE, 0x4, 1, Buffer.concat([u32(2), env.pool.take(rng, 20)]))]],
    ['unknown-frame-types', (rng) => [start, many(64, (i) => h2Frame(0x0a + (i % 200), 0xff, i, env.pool.take(rng, 32)))]],
    ['rst-stream-idle', () => [start, h2Frame(H2.RST_STREAM, 0, 9, u32(8))]],
    ['goaway-from-client', (rng) => [start, h2Frame(H2.GOAWAY, 0, 0, Buffer.concat([u32(0, 2), env.pool.take(rng, 1000)])), { pauseMs: 200 }]],
    // "Rapid reset" (CVE-2023-44487): open a stream to a read-only method and cancel it, many times.
    ['rapid-reset', () => [start, settingsAck, many(500, (i) => Buffer.concat([h2Frame(H2.HEADERS, 0x4, 1 + 2 * i, grpcHeaderBlock(readOnlyPath)), h2Frame(H2.RST_STREAM, 0, 1 + 2 * i, u32(8))]))]],
    // Streams opened on the long-lived methods and never fed: the server must drop them with the connection.
    ['open-streams-then-vanish', () => [start, settingsAck, many(100, (i) => h2Frame(H2.HEADERS, 0x4, 1 + 2 * i, grpcHeaderBlock(streamPaths[i % Math.max(1, streamPaths.length)] ?? readOnlyPath))), { pauseMs: 300 }]],
    // A gRPC message header promising 4 MiB - 1 on a stream, then silence (a gRPC slowloris).
    ['stalled-message', (rng) => [start, settingsAck, h2Frame(H2.HEADERS, 0x4, 1, grpcHeaderBlock(readOnlyPath)), h2Frame(H2.DATA, 0, 1, grpcMessage(junkProtobuf(env.pool, rng, 1000), { declared: Math.max(1001, env.maxMessageBytes - 1) })), { pauseMs: connTimeout }]],
  ];
  return variants.map(([name, steps]) => ({
    name: `h2:${name}`,
    run: async (ctx) => {
      const r = await rawExchange(env.handles, env.port, steps(ctx.rng), { timeoutMs: connTimeout, stopWhen: (d) => h2Verdict(d)?.startsWith('goaway:') === true });
      ctx.record(h2Verdict(r.data) ?? (r.ended === 'answered' ? 'closed' : r.ended));
    },
  }));
}

// ---------------------------------------------------------------------------------------------
// (c) hand-built gRPC requests to every method
// ---------------------------------------------------------------------------------------------

function frameAttacks(env: GrpcEnv): Attack[] {
  const methods = berthMethods().filter((m) => env.services.has(m.service));
  const extraPaths = ['/grpc.health.v1.Health/Check', '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'];
  const targets: { path: string; method?: MethodInfo }[] = [...methods.map((m) => ({ path: m.path, method: m })), ...extraPaths.map((path) => ({ path }))];
  const max = env.maxMessageBytes;
  // A stream left open is held by the server as long as we let it: hold it briefly.
  // Requests share the worker's session, except those that may make the server end it.
  const req = (path: string, body: Buffer[], extra: http2.OutgoingHttpHeaders = {}, keepOpen = false) => (ctx: AttackContext) =>
    h2Request(env, grpcHeaders(path, extra), body, {
      timeoutMs: keepOpen ? Math.min(env.timeoutMs, 300) : env.timeoutMs,
      keepOpen,
      reuse: keepOpen || Object.keys(extra).length > 0 || body.reduce((n, b) => n + b.length, 0) > 64 * 1024 ? undefined : ctx.sessions,
    }).then((r) => ctx.record(r.outcome));
  /** A junk payload for `t`, verified undecodable. */
  const junk = (t: { method?: MethodInfo }, rng: Rng, n: number): Buffer => {
    const p = junkProtobuf(env.pool, rng, n);
    assertUndecodable(t.method, p);
    return p;
  };
  // A gzip "bomb": several times the limit of invalid-tag bytes in a few KiB, decompressed by the server up to its limit.
  let bomb: Buffer | undefined;
  const gzipBomb = (): Buffer => (bomb ??= zlib.gzipSync(Buffer.alloc(Math.min(256 << 20, Math.max(16 << 20, 2 * max)), 0x07), { level: 9 }));

  const kinds: [string, (t: { path: string; method?: MethodInfo }, rng: Rng) => (ctx: AttackContext) => Promise<void>][] = [
    ['malformed', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 1 + rng.int(4096)))])],
    ['truncated', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 100), { declared: 5000 })])],
    ['truncated-header', (t) => req(t.path, [Buffer.from([0, 0, 0])])],
    ['compressed-flag-no-encoding', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 200), { compressed: true })])],
    ['deep-groups', (t) => {
      const p = deepGroups(10_000);
      assertUndecodable(t.method, p);
      return req(t.path, [grpcMessage(p)]);
    }],
    ['two-junk-messages', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50)), grpcMessage(junk(t, rng, 50))])],
    ['wrong-content-type', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50))], { 'content-type': 'application/json' })],
    ['grpc-plus-json', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50))], { 'content-type': 'application/grpc+json' })],
    ['get-method', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50))], { ':method': 'GET' })],
    ['bad-grpc-timeout', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50))], { 'grpc-timeout': rng.pick(['99999999999H', 'abc', '-1S', '1n']) })],
    ['unsupported-encoding', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50), { compressed: true })], { 'grpc-encoding': 'br' })],
    ['bad-gzip', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 300), { compressed: true })], { 'grpc-encoding': 'gzip' })],
    ['huge-metadata', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50))], { 'x-nemesis': 'm'.repeat(60 * 1024) })],
  ];
  // Heavy or slow kinds (megabytes each, or held open) go to one method per service and the streaming methods only.
  const heavyTargets = targets.filter((t, i) => t.method?.requestStream || targets.findIndex((u) => u.method?.service === t.method?.service) === i);
  const heavyKinds: typeof kinds = [
    ['just-over-max', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, max + 1))])],
    ['far-over-max', (t, rng) => req(t.path, [grpcMessage(junkProtobuf(env.pool, rng, Math.min(env.farOverSentBytes, 64 * 1024 * 1024)), { declared: 64 * 1024 * 1024 })])],
    ['gzip-bomb', (t) => req(t.path, [grpcMessage(gzipBomb(), { compressed: true })], { 'grpc-encoding': 'gzip' })],
    // A junk message without END_STREAM: what the server does before the client half-closes (held briefly).
    ['no-end-stream', (t, rng) => req(t.path, [grpcMessage(junk(t, rng, 50))], {}, true)],
  ];
  const attacks: Attack[] = [];
  for (const t of targets) for (const [kind, make] of kinds) attacks.push({ name: `frame:${kind} ${t.path}`, run: (ctx) => make(t, ctx.rng)(ctx) });
  for (const t of heavyTargets) for (const [kind, make] of heavyKinds) attacks.push({ name: `frame:${kind} ${t.path}`, run: (ctx) => make(t, ctx.rng)(ctx) });
  const unknown = ['/berth.v1.Nope/Nope', '/berth.v1.Operator/Nope', '/berth.v1.Operator/GetHealth/extra', '/', '/berth.v1.Operator', `/berth.v1.${'N'.repeat(4000)}/X`, '/grpc.health.v1.Health/Nope'];
  for (const path of unknown) attacks.push({ name: `frame:unknown-path ${path.slice(0, 60)}`, run: (ctx) => req(path, [grpcMessage(junkProtobuf(env.pool, ctx.rng, 20))])(ctx) });
  return attacks;
}

// ---------------------------------------------------------------------------------------------
// (d) valid protobuf, hostile values, through grpc-js clients
// ---------------------------------------------------------------------------------------------

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** grpc-js clients of the berth.v1 services, created on first use and all closed at the end. */
class HostileClients {
  private readonly clients = new Map<string, AnyClient>();
  constructor(private readonly address: string) {}

  get(service: string): AnyClient {
    let c = this.clients.get(service);
    if (c === undefined) {
      const Ctor = (berthV1() as unknown as Record<string, grpc.ServiceClientConstructor>)[service];
      if (Ctor === undefined) throw new Error(`no service berth.v1.${service}`);
      // A private subchannel pool: the nemesis never shares a connection with real clients of the same process.
      c = new Ctor(this.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.use_local_subchannel_pool': 1 }) as unknown as AnyClient;
      this.clients.set(service, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

const statusName = (code: number | undefined): string => (code === undefined ? 'UNKNOWN' : grpc.status[code] ?? `grpc-status:${code}`);

/** A unary call with a deadline; resolves with the status name. */
function unaryCall(env: GrpcEnv, service: string, method: string, request: unknown): Promise<string> {
  return new Promise((resolve) => {
    const client = env.clients.get(service);
    const fn = client[method];
    if (typeof fn !== 'function') return resolve('UNIMPLEMENTED');
    try {
      fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + env.timeoutMs }, (err: grpc.ServiceError | null) => resolve(err === null ? 'OK' : statusName(err.code)));
    } catch (err) {
      // Serialization refused locally (a value protobuf cannot carry).
      resolve(`local-serialize:${(err as Error).message.slice(0, 40)}`);
    }
  });
}

/** What a stream attack can do when the server sends something. */
interface StreamApi {
  readonly ctx: AttackContext;
  /** Writes a message (dropped once the call ended). */
  write(m: unknown): void;
  /** Hangs up (cancels the call). */
  stop(): void;
  /** Runs `fn` after `ms` unless the call ended first (the timer is always cleared). */
  later(ms: number, fn: () => void): void;
}

interface StreamPlan {
  /** Messages written at once when the stream opens. */
  readonly first: readonly unknown[];
  /** Called for each message the server sends. */
  onMessage?(msg: Record<string, any>, api: StreamApi): void;
  /** Hang up this long after opening even if the server keeps the stream open. */
  readonly holdMs: number;
}

/**
 * Opens a bidi (or, with `request`, server-streaming) call, writes the plan's messages, records the
 * final status (CANCELLED when the nemesis hung up itself); bounded by a deadline and `holdMs`.
 */
function streamCall(env: GrpcEnv, ctx: AttackContext, service: string, method: string, plan: StreamPlan, request?: unknown): Promise<void> {
  return new Promise((resolve) => {
    const client = env.clients.get(service);
    let done = false;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const deadline = Date.now() + env.timeoutMs;
    let call: grpc.ClientDuplexStream<unknown, any> | grpc.ClientReadableStream<any>;
    try {
      call = (request === undefined
        ? (client[method] as (md: grpc.Metadata, o: grpc.CallOptions) => unknown).call(client, new grpc.Metadata(), { deadline })
        : (client[method] as (r: unknown, md: grpc.Metadata, o: grpc.CallOptions) => unknown).call(client, request, new grpc.Metadata(), { deadline })) as typeof call;
    } catch (err) {
      ctx.error(err);
      return resolve();
    }
    const finish = (outcome: string): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      ctx.record(outcome);
      resolve();
    };
    const later = (ms: number, fn: () => void): void => {
      if (done) return;
      const t = setTimeout(() => {
        timers.delete(t);
        if (!done) fn();
      }, ms);
      timers.add(t);
    };
    const stop = (): void => {
      if (!done) call.cancel();
    };
    const write = (m: unknown): void => {
      if (done || !('write' in call)) return;
      try {
        call.write(m);
      } catch (err) {
        ctx.record(`local-serialize:${(err as Error).message.slice(0, 40)}`);
      }
    };
    later(Math.min(plan.holdMs, env.timeoutMs), stop);
    // grpc-js always ends a call with a status; this is only a last resort.
    later(env.timeoutMs + 2000, () => {
      call.cancel();
      finish('timeout');
    });
    const api: StreamApi = { ctx, write, stop, later };
    call.on('data', (msg: Record<string, any>) => {
      if (!done) plan.onMessage?.(msg, api);
    });
    call.on('error', () => undefined); // the status event carries it
    call.on('status', (s: grpc.StatusObject) => finish(statusName(s.code)));
    for (const m of plan.first) write(m);
  });
}

function hostileAttacks(env: GrpcEnv): Attack[] {
  const out: Attack[] = [];
  const huge = 'x'.repeat(Math.min(1 << 20, env.maxMessageBytes >> 2));
  const overMax = 'o'.repeat(env.maxMessageBytes + 1024);
  const junkId = (rng: Rng) => `nemesis-${rng.hex(12)}`;
  const scalar = (name: string, value: number) => ({ name, type: 'SCALAR', scalar: { value } });

  if (env.services.has('Scheduler')) out.push(...schedulerAttacks(env, huge, overMax, junkId, scalar));
  if (env.services.has('AgentLink')) out.push(...agentAttacks(env, huge, overMax, junkId, scalar));
  if (env.services.has('Operator')) out.push(...operatorAttacks(env, huge, overMax, junkId, scalar));

  // The frameworks' APIs: reads only (a PutApp that passed would start real tasks).
  const reads: [string, string, (rng: Rng) => unknown][] = [
    ['Services', 'ListApps', () => ({ prefix: huge })],
    ['Services', 'GetApp', (rng) => ({ app_id: rng.pick(['', '../../etc/passwd', huge, '\u0000', '/']) })],
    ['Services', 'ListDeployments', (rng) => ({ app_id: junkId(rng), include_finished: true })],
    ['Jobs', 'ListJobs', () => ({ prefix: '\u0000'.repeat(1000) })],
    ['Jobs', 'GetJob', (rng) => ({ id: rng.pick(['', '..', huge]) })],
    ['Jobs', 'ListRuns', (rng) => ({ job_id: junkId(rng), limit: 4294967295 })],
    ['Jobs', 'GetJob', () => ({ id: overMax })],
  ];
  for (const [service, method, make] of reads) {
    if (!env.services.has(service)) continue;
    out.push({ name: `hostile:${service}/${method}`, run: async (ctx) => ctx.record(await unaryCall(env, service, method, make(ctx.rng))) });
  }
  return out;
}

type ScalarFn = (name: string, value: number) => object;

function schedulerAttacks(env: GrpcEnv, huge: string, overMax: string, junkId: (rng: Rng) => string, scalar: ScalarFn): Attack[] {
  const base = { name: 'nemesis', user: 'nemesis', roles: ['*'], failover_timeout: 0 };
  /** Offers must never be held: decline at once whatever arrives; ERROR events are recorded. */
  const common = (msg: Record<string, any>, { write, ctx }: StreamApi): void => {
    if (msg.type === 'ERROR') ctx.record(`event:ERROR/${statusName(msg.error?.code)}`);
    if (msg.type === 'OFFERS') {
      const ids = (msg.offers?.offers ?? []).map((o: { id: unknown }) => o.id);
      if (ids.length > 0) write({ type: 'DECLINE', decline: { offer_ids: ids, filters: { refuse_seconds: 1 } } });
    }
    if (msg.type === 'INVERSE_OFFERS') {
      const ids = (msg.inverse_offers?.inverse_offers ?? []).map((o: { id: unknown }) => o.id);
      if (ids.length > 0) write({ type: 'DECLINE_INVERSE_OFFERS', decline_inverse_offers: { inverse_offer_ids: ids } });
    }
  };
  /**
   * SUBSCRIBE with one junk field; SUBSCRIBED is a finding (unless `legit`: hostile but valid) and
   * the framework is torn down at once.
   */
  const junkSubscribe = (variant: string, info: (rng: Rng) => object, suppressed: (rng: Rng) => string[] = () => ['*'], legit = false): Attack => ({
    name: `hostile:Scheduler/SUBSCRIBE ${variant}`,
    run: (ctx) =>
      streamCall(env, ctx, 'Scheduler', 'Connect', {
        first: [{ type: 'SUBSCRIBE', subscribe: { framework_info: info(ctx.rng), suppressed_roles: suppressed(ctx.rng) } }],
        holdMs: env.timeoutMs,
        onMessage: (msg, api) => {
          common(msg, api);
          if (msg.type === 'SUBSCRIBED') {
            api.ctx.record(legit ? 'event:SUBSCRIBED' : `accepted-junk:SUBSCRIBE ${variant}`);
            api.write({ type: 'TEARDOWN', framework_id: msg.subscribed?.framework_id, teardown: {} });
            api.later(100, api.stop);
          }
        },
      }),
  });
  const manyRoles = Array.from({ length: env.longList }, (_, i) => `r${i}`);
  const attacks: Attack[] = [
    junkSubscribe('empty-name', () => ({ ...base, name: '' })),
    junkSubscribe('huge-name', () => ({ ...base, name: huge })),
    junkSubscribe('over-max-name', () => ({ ...base, name: overMax })),
    junkSubscribe('nul-name', () => ({ ...base, name: 'a\u0000b' })),
    junkSubscribe('no-roles', () => ({ ...base, roles: [] }), () => []),
    junkSubscribe('bad-roles', (rng) => ({ ...base, roles: [rng.pick(['a b', '', '..', '.', '-x', '/', 'a/../b', '*/x'])] }), () => []),
    junkSubscribe('many-roles', () => ({ ...base, roles: manyRoles }), () => manyRoles, true),
    junkSubscribe('nan-failover', () => ({ ...base, failover_timeout: NaN })),
    junkSubscribe('negative-failover', () => ({ ...base, failover_timeout: -1 })),
    junkSubscribe('infinite-failover', () => ({ ...base, failover_timeout: Infinity })),
    // Unknown capabilities are ignored by design (forward compatibility): valid.
    junkSubscribe('unknown-capability', () => ({ ...base, capabilities: [{ type: 999 }, { type: -5 }] }), undefined, true),
    junkSubscribe('user-whitespace', () => ({ ...base, user: 'root \n' })),
    junkSubscribe('bad-webui', () => ({ ...base, webui_url: 'javascript:alert(1)' })),
    junkSubscribe('junk-id', () => ({ ...base, id: { value: huge } })),
    junkSubscribe('unknown-id', (rng) => ({ ...base, id: { value: junkId(rng) } })),
    junkSubscribe('huge-labels', () => ({ ...base, labels: { labels: Array.from({ length: Math.ceil(env.longList / 2) }, (_, i) => ({ key: `k${i % 10}`, value: 'v' })) } })),
    junkSubscribe('redos-constraint', () => ({ ...base, offer_constraints: { '*': { groups: [{ constraints: [{ attribute_name: 'a', op: 'TEXT_MATCHES', value: '(a+)+$' }, { attribute_name: 'b', op: 'TEXT_MATCHES', value: '(' }, { op: 999, value: 'x' }] }] } } })),
    junkSubscribe('constraint-other-role', (rng) => ({ ...base, offer_constraints: { [junkId(rng)]: { groups: [{ constraints: [{ attribute_name: 'a', op: 'EXISTS' }] }] } } })),
    junkSubscribe('nan-min-allocatable', () => ({ ...base, offer_filters: { '*': { min_allocatable_resources: { alternatives: [{ quantities: [{ name: 'cpus', value: NaN }] }] } } } })),
    junkSubscribe('negative-min-allocatable', () => ({ ...base, offer_filters: { '*': { min_allocatable_resources: { alternatives: [{ quantities: [{ name: 'mem', value: -1 }] }] } } } })),
    junkSubscribe('nan-demand', () => ({ ...base, demand: { '*': { shapes: [{ name: 'x', resources: [{ name: 'cpus', value: NaN }], count: 1 }] } } })),
    junkSubscribe('many-demand-shapes', () => ({ ...base, demand: { '*': { shapes: Array.from({ length: env.longList }, (_, i) => ({ name: `s${i}`, resources: [{ name: 'cpus', value: i % 2 ? 1 : -1 }], count: 1 })) } } })),
    // Lenient today: suppressed roles outside `roles` are dropped silently, not refused.
    junkSubscribe('suppressed-unknown-role', () => base, (rng) => ['*', junkId(rng)], true),
    {
      name: 'hostile:Scheduler/calls-before-SUBSCRIBE',
      run: (ctx) =>
        streamCall(env, ctx, 'Scheduler', 'Connect', {
          first: [ctx.rng.pick([{ type: 'ACCEPT', accept: { offer_ids: [{ value: junkId(ctx.rng) }] } }, { type: 'TEARDOWN', framework_id: { value: junkId(ctx.rng) }, teardown: {} }, { type: 999 }, { type: 'SUBSCRIBE' }, {}])],
          holdMs: env.timeoutMs,
          onMessage: (msg, api) => {
            common(msg, api);
            if (msg.type === 'SUBSCRIBED') {
              api.ctx.record('accepted-junk:SUBSCRIBE without framework_info');
              api.write({ type: 'TEARDOWN', teardown: {} });
              api.later(100, api.stop);
            }
          },
        }),
    },
    // A legitimately subscribed nemesis (offers suppressed, declined if any), then junk calls, then TEARDOWN.
    {
      name: 'hostile:Scheduler/junk-calls-after-SUBSCRIBE',
      run: (ctx) => {
        const rng = ctx.rng;
        const taskInfo = (over: object) => ({ name: 'nemesis', task_id: { value: junkId(rng) }, agent_id: { value: junkId(rng) }, resources: [scalar('cpus', NaN), scalar('mem', -1)], command: { value: 'true', shell: true }, ...over });
        const junkCalls = (): object[] => [
          { type: 'ACCEPT', accept: { offer_ids: [{ value: junkId(rng) }, { value: '' }], operations: [{ type: 'LAUNCH', launch: { task_infos: [taskInfo({}), taskInfo({ name: huge })] } }, { type: 999 }] } },
          { type: 'ACCEPT', accept: { offer_ids: [], operations: [] } },
          { type: 'DECLINE', decline: { offer_ids: Array.from({ length: env.longList }, () => ({ value: junkId(rng) })), filters: { refuse_seconds: NaN } } },
          { type: 'KILL', kill: { task_id: { value: '' } } },
          { type: 'KILL', kill: { task_id: { value: junkId(rng) }, agent_id: { value: huge }, kill_policy: { grace_period: { nanoseconds: '-9223372036854775808' } } } },
          { type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: junkId(rng) }, task_id: { value: junkId(rng) }, uuid: Buffer.alloc(0) } },
          { type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: junkId(rng) }, task_id: { value: junkId(rng) }, uuid: env.pool.take(rng, 4096) } },
          { type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: '' } }] } },
          { type: 'RECONCILE', reconcile: { tasks: Array.from({ length: Math.ceil(env.longList / 4) }, () => ({ task_id: { value: junkId(rng) }, agent_id: { value: junkId(rng) } })) } },
          { type: 'MESSAGE', message: { agent_id: { value: junkId(rng) }, data: env.pool.take(rng, 64 * 1024) } },
          { type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { ...base, name: '' }, suppressed_roles: ['*'] } },
          { type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { ...base, failover_timeout: NaN }, suppressed_roles: ['*'] } },
          { type: 'SUPPRESS', suppress: { roles: ['a b', junkId(rng)] } },
          { type: 'ACCEPT_INVERSE_OFFERS', accept_inverse_offers: { inverse_offer_ids: [{ value: junkId(rng) }] } },
          { type: 'DECLINE_INVERSE_OFFERS', decline_inverse_offers: { inverse_offer_ids: [{ value: '' }] } },
          { type: 'SHUTDOWN', shutdown: { executor_id: { value: junkId(rng) }, agent_id: { value: junkId(rng) } } },
          { type: 999 },
          { type: 'TYPE_UNSPECIFIED' },
          { type: 'SUBSCRIBE', subscribe: { framework_info: { ...base, name: huge }, suppressed_roles: ['*'] } },
          { type: 'TEARDOWN', teardown: {} },
        ];
        return streamCall(env, ctx, 'Scheduler', 'Connect', {
          first: [{ type: 'SUBSCRIBE', subscribe: { framework_info: { ...base, name: `nemesis-${rng.hex(6)}` }, suppressed_roles: ['*'] } }],
          holdMs: env.timeoutMs,
          onMessage: (msg, api) => {
            common(msg, api);
            if (msg.type === 'SUBSCRIBED') {
              api.ctx.record('event:SUBSCRIBED');
              for (const call of junkCalls()) api.write(call);
            }
          },
        });
      },
    },
    // Subscribed, then a call naming another framework: a fatal PERMISSION_DENIED (failover 0 removes it).
    {
      name: 'hostile:Scheduler/other-framework-id',
      run: (ctx) =>
        streamCall(env, ctx, 'Scheduler', 'Connect', {
          first: [{ type: 'SUBSCRIBE', subscribe: { framework_info: { ...base, name: `nemesis-${ctx.rng.hex(6)}` }, suppressed_roles: ['*'] } }],
          holdMs: env.timeoutMs,
          onMessage: (msg, api) => {
            common(msg, api);
            if (msg.type === 'SUBSCRIBED') {
              api.ctx.record('event:SUBSCRIBED');
              api.write({ type: 'KILL', framework_id: { value: junkId(api.ctx.rng) }, kill: { task_id: { value: junkId(api.ctx.rng) } } });
              api.later(50, () => api.write({ type: 'TEARDOWN', teardown: {} }));
            }
          },
        }),
    },
  ];
  return attacks;
}

function agentAttacks(env: GrpcEnv, huge: string, overMax: string, junkId: (rng: Rng) => string, scalar: ScalarFn): Attack[] {
  const ok = () => [scalar('cpus', 1), scalar('mem', 64)];
  const register = (variant: string, first: (rng: Rng) => object): Attack => ({
    name: `hostile:AgentLink/${variant}`,
    run: (ctx) =>
      streamCall(env, ctx, 'AgentLink', 'Connect', {
        first: [first(ctx.rng)],
        holdMs: env.timeoutMs,
        onMessage: (msg, api) => {
          if (msg.type === 'REGISTERED' || msg.type === 'REREGISTERED') {
            // Junk the master took: hang up at once, so nothing is ever launched on it.
            api.ctx.record(`accepted-junk:${variant}`);
            api.stop();
          }
        },
      }),
  });
  const reg = (agentInfo: object, extra: object = {}) => ({ type: 'REGISTER', register: { agent_info: agentInfo, version: 'nemesis', ...extra } });
  const host = (rng: Rng) => `nemesis-${rng.hex(8)}.invalid`;
  return [
    register('REGISTER empty-hostname', () => reg({ hostname: '', resources: ok() })),
    register('REGISTER huge-hostname', () => reg({ hostname: huge, resources: ok() })),
    register('REGISTER over-max-hostname', () => reg({ hostname: overMax, resources: ok() })),
    register('REGISTER control-chars-hostname', () => reg({ hostname: 'a\u0000\n\u001b[31m', resources: ok() })),
    register('REGISTER nan-cpus', (rng) => reg({ hostname: host(rng), resources: [scalar('cpus', NaN), scalar('mem', 64)] })),
    register('REGISTER negative-mem', (rng) => reg({ hostname: host(rng), resources: [scalar('cpus', 1), scalar('mem', -64)] })),
    register('REGISTER infinite-disk', (rng) => reg({ hostname: host(rng), resources: [...ok(), scalar('disk', Infinity)] })),
    register('REGISTER empty-resource-name', (rng) => reg({ hostname: host(rng), resources: [...ok(), scalar('', 1)] })),
    register('REGISTER unknown-value-type', (rng) => reg({ hostname: host(rng), resources: [...ok(), { name: 'gpus', type: 999, scalar: { value: 1 } }] })),
    register('REGISTER scalar-without-value', (rng) => reg({ hostname: host(rng), resources: [...ok(), { name: 'gpus', type: 'SCALAR' }] })),
    register('REGISTER inverted-ranges', (rng) => reg({ hostname: host(rng), resources: [...ok(), { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: '31010', end: '31000' }] } }] })),
    register('REGISTER huge-ranges', (rng) => reg({ hostname: host(rng), resources: [...ok(), { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: '0', end: '18446744073709551615' }] } }] })),
    register('REGISTER many-ranges', (rng) => reg({ hostname: host(rng), resources: [scalar('cpus', NaN), { name: 'ports', type: 'RANGES', ranges: { range: Array.from({ length: Math.ceil(env.longList * 2.5) }, (_, i) => ({ begin: String(i * 2), end: String(i * 2) })) } }] })),
    register('REGISTER many-resources', (rng) => reg({ hostname: host(rng), resources: [scalar('cpus', -1), ...Array.from({ length: Math.ceil(env.longList * 1.5) }, (_, i) => scalar(`r${i}`, 1))] })),
    register('REGISTER duplicate-scalars', (rng) => reg({ hostname: host(rng), resources: [scalar('cpus', 1e308), scalar('cpus', 1e308), scalar('mem', -1)] })),
    register('REGISTER junk-attributes', (rng) => reg({ hostname: host(rng), resources: [scalar('cpus', NaN)], attributes: Array.from({ length: Math.ceil(env.longList / 2) }, (_, i) => ({ name: i % 2 ? '' : huge.slice(0, 100), type: 999 })) })),
    register('REGISTER unknown-containers', (rng) => reg({ hostname: host(rng), resources: [scalar('mem', -1)], port: 4294967295 }, { supported_containers: [999, -1], version: huge })),
    register('REREGISTER junk', (rng) => ({ type: 'REREGISTER', reregister: { agent_info: { hostname: host(rng), id: { value: junkId(rng) }, resources: [scalar('cpus', NaN)] }, version: 'nemesis', tasks: [{ name: '', task_id: { value: '' }, framework_id: { value: junkId(rng) }, state: 999, resources: [scalar('cpus', -1)] }], frameworks: [{ name: '' }] } })),
    register('REREGISTER empty-id', (rng) => ({ type: 'REREGISTER', reregister: { agent_info: { hostname: host(rng), id: { value: '' }, resources: [scalar('mem', NaN)] }, version: 'nemesis' } })),
    register('first STATUS_UPDATE', (rng) => ({ type: 'STATUS_UPDATE', status_update: { framework_id: { value: junkId(rng) }, status: { task_id: { value: junkId(rng) }, state: 'TASK_RUNNING', agent_id: { value: junkId(rng) } } } })),
    register('first PONG', () => ({ type: 'PONG', pong: {} })),
    register('first unknown type', () => ({ type: 999 })),
    register('REGISTER type without body', () => ({ type: 'REGISTER' })),
  ];
}

function operatorAttacks(env: GrpcEnv, huge: string, overMax: string, junkId: (rng: Rng) => string, scalar: ScalarFn): Attack[] {
  const agent = (rng: Rng) => ({ value: rng.pick([junkId(rng), '', huge, '../..', '\u0000']) });
  const role = (rng: Rng) => rng.pick([junkId(rng), '', 'a b', '..', '*', '/x', huge]);
  const machine = (rng: Rng) => ({ hostname: `nemesis-${rng.hex(8)}.invalid`, ip: rng.pick(['256.1.1.1', '', 'not-an-ip', '::::']) });
  /** [method, request, whether OK would mean junk was accepted, a label] */
  const calls: [string, (rng: Rng) => unknown, boolean, string?][] = [
    ['GetHealth', () => ({}), false],
    ['GetVersion', () => ({}), false],
    ['GetMaster', () => ({}), false],
    ['GetState', () => ({}), false],
    ['GetAgents', () => ({ include_gone: true }), false],
    ['GetFrameworks', () => ({}), false],
    ['GetTasks', (rng) => ({ framework_id: { value: rng.pick([huge, '', junkId(rng)]) }, agent_id: agent(rng), include_completed: true }), false],
    ['GetTasks', () => ({ framework_id: { value: overMax } }), false],
    ['GetRoles', () => ({}), false],
    ['GetQuota', () => ({}), false],
    ['GetWeights', () => ({}), false],
    ['GetMaintenanceSchedule', () => ({}), false],
    ['GetMaintenanceStatus', () => ({}), false],
    ['GetMetrics', () => ({}), false],
    ['UpdateQuota', (rng) => ({ configs: [{ role: rng.pick(['', '*', 'a b', '..']), guarantees: [{ name: 'cpus', value: 1 }] }] }), true],
    ['UpdateQuota', (rng) => ({ configs: [{ role: junkId(rng), guarantees: [{ name: 'cpus', value: NaN }] }] }), true],
    ['UpdateQuota', (rng) => ({ configs: [{ role: junkId(rng), guarantees: [{ name: 'mem', value: -1 }], limits: [{ name: '', value: Infinity }] }] }), true],
    ['UpdateQuota', (rng) => ({ configs: [{ role: junkId(rng), guarantees: [{ name: 'cpus', value: 10 }], limits: [{ name: 'cpus', value: 1 }] }] }), true],
    ['UpdateQuota', (rng) => ({ configs: [...Array.from({ length: env.longList }, () => ({ role: junkId(rng), limits: [{ name: 'cpus', value: 1 }] })), { role: '', limits: [] }] }), true],
    ['UpdateWeights', (rng) => ({ weights: [{ role: junkId(rng), weight: rng.pick([NaN, -1, 0, Infinity, -Infinity]) }] }), true],
    ['UpdateWeights', (rng) => ({ weights: [{ role: rng.pick(['', 'a b', '..', '/x', 'a//b', '-a']), weight: 1 }] }), true],
    ['UpdateWeights', (rng) => ({ weights: [{ role: `${huge}${rng.hex(4)}`, weight: 1 }] }), true, 'huge-role'],
    ['UpdateWeights', (rng) => ({ weights: [...Array.from({ length: env.longList }, () => ({ role: junkId(rng), weight: 2 })), { role: junkId(rng), weight: NaN }] }), true],
    ['ReserveResources', (rng) => ({ agent_id: agent(rng), resources: [scalar('cpus', NaN)], source: [scalar('mem', -1)] }), true],
    ['ReserveResources', (rng) => ({ agent_id: { value: junkId(rng) }, resources: [{ ...scalar('cpus', 1), reservations: [{ role: role(rng), type: 999 }] }] }), true],
    ['UnreserveResources', (rng) => ({ agent_id: agent(rng), resources: [scalar('cpus', -1)] }), true],
    ['DrainAgent', (rng) => ({ agent_id: agent(rng), max_grace_period: { nanoseconds: '-1' }, mark_gone: true }), true],
    ['DeactivateAgent', (rng) => ({ agent_id: agent(rng) }), true],
    ['ReactivateAgent', (rng) => ({ agent_id: agent(rng) }), true],
    ['MarkAgentGone', (rng) => ({ agent_id: agent(rng) }), true],
    // Unknown but well-formed machines may be taken down (and are brought back up at once); malformed ones must be refused.
    ['StartMaintenance', (rng) => ({ machines: [machine(rng), machine(rng)] }), false],
    ['StartMaintenance', (rng) => ({ machines: [{ hostname: rng.pick(['', huge, 'a b', 'x\n', '\u0000']), ip: rng.pick(['256.1.1.1', 'not-an-ip']) }] }), true, 'malformed-hostname'],
    ['StopMaintenance', (rng) => ({ machines: [machine(rng)] }), false],
    ['StopMaintenance', () => ({ machines: [{ hostname: '' }] }), true],
    ['StartMaintenance', (rng) => ({ machines: Array.from({ length: env.longList }, () => ({ hostname: `nemesis-${rng.hex(8)}.invalid`, ip: '' })) }), false],
    ['Teardown', (rng) => ({ framework_id: { value: rng.pick([junkId(rng), '', huge]) } }), true],
    ['KillTask', (rng) => ({ task_id: { value: rng.pick([junkId(rng), '']) }, framework_id: { value: junkId(rng) }, grace_period: { nanoseconds: '-9223372036854775808' } }), true],
    ['ReadTaskLog', (rng) => ({ task_id: { value: junkId(rng) }, framework_id: { value: junkId(rng) }, stream: rng.pick([999, 'STDOUT']), offset: rng.pick(['-9223372036854775808', '9223372036854775807']), length: 4294967295 }), true],
    ['ReadTaskLog', () => ({ task_id: { value: '' }, framework_id: { value: '' } }), true],
  ];
  const attacks: Attack[] = calls.map(([method, make, mustRefuse, given], i) => {
    const label = given ?? `#${i}`;
    return {
    name: `hostile:Operator/${method} ${label}`,
    run: async (ctx) => {
      const request = make(ctx.rng);
      const outcome = await unaryCall(env, 'Operator', method, request);
      ctx.record(outcome);
      if (mustRefuse && outcome === 'OK') ctx.record(`accepted-junk:Operator/${method} ${label}`);
      // Junk machines taken down: bring them back up, so the flood leaves no state behind.
      if (method === 'StartMaintenance' && outcome === 'OK') await unaryCall(env, 'Operator', 'StopMaintenance', request);
    },
    };
  });
  const watch = (variant: string, request: (rng: Rng) => object): Attack => ({
    name: `hostile:Operator/Watch ${variant}`,
    run: (ctx) => streamCall(env, ctx, 'Operator', 'Watch', { first: [], holdMs: 300 }, request(ctx.rng)),
  });
  attacks.push(
    watch('max-sequence', () => ({ from_sequence: '18446744073709551615', epoch: 'x'.repeat(10_000) })),
    watch('junk-epoch', (rng) => ({ from_sequence: '0', epoch: junkId(rng) })),
    watch('over-max-epoch', () => ({ epoch: overMax })),
  );
  return attacks;
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1
// ---------------------------------------------------------------------------------------------

interface HttpEnv {
  readonly port: number;
  readonly handles: Handles;
  readonly timeoutMs: number;
  readonly jsonPaths: readonly string[];
  readonly staticPrefixes: readonly string[];
  readonly slowloris: number;
  readonly hugeBodyBytes: number;
  readonly pool: RandomPool;
}

/** Whether `data` holds one complete HTTP response (by Content-Length, chunked end or event stream). */
function responseComplete(data: Buffer): boolean {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = text.slice(0, end).toLowerCase();
  if (/^content-type:\s*text\/event-stream/m.test(head)) return true;
  const cl = /^content-length:\s*(\d+)/m.exec(head);
  if (cl !== null) return data.length - (end + 4) >= Number(cl[1]);
  if (/^transfer-encoding:\s*chunked/m.test(head)) return text.includes('\r\n0\r\n\r\n', end);
  return /^http\/1\.\d (1\d\d|204|304)/.test(head);
}

/** `http:<status>` of the first response in `data`, else how the exchange ended. */
function httpOutcome(r: RawResult): string {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(r.data.toString('latin1', 0, 32));
  if (m !== null) return `http:${m[1]}`;
  return r.ended === 'answered' ? 'closed' : r.ended;
}

const PASSWD = /root:[^:\n]*:0:0:/;

function httpAttacks(env: HttpEnv): Attack[] {
  const T = env.timeoutMs;
  const b = (s: string) => Buffer.from(s, 'latin1');
  const exchange = (steps: Step[], opts: { stopWhen?: (d: Buffer) => boolean; timeoutMs?: number; pauseReading?: boolean } = {}) =>
    rawExchange(env.handles, env.port, steps, { timeoutMs: opts.timeoutMs ?? T, stopWhen: opts.stopWhen ?? responseComplete, pauseReading: opts.pauseReading });
  const simple = (name: string, steps: (rng: Rng) => Step[]): Attack => ({ name: `http:${name}`, run: async (ctx) => ctx.record(httpOutcome(await exchange(steps(ctx.rng)))) });
  const get = (path: string, headers = '') => b(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`);
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  const nestedObj = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

  const attacks: Attack[] = [
    // Garbage request lines.
    simple('random-bytes', (rng) => [env.pool.take(rng, 1 + rng.int(8192))]),
    simple('random-line-crlf', (rng) => [Buffer.concat([env.pool.take(rng, 200), b('\r\n\r\n')])]),
    simple('bare-method', () => [b('GET\r\n\r\n')]),
    simple('unknown-method', () => [b('BREW / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')]),
    simple('bad-version', () => [b('GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n')]),
    { name: 'http:http-0.9', run: async (ctx) => ctx.record(httpOutcome(await exchange([b('GET /\r\n')], { timeoutMs: Math.min(T, 1000) }))) },
    simple('nul-in-method', () => [b('G\u0000T / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')]),
    simple('huge-request-line', () => [b(`GET /${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)]),
    simple('lf-only', () => [b('GET /health/live HTTP/1.1\nHost: 127.0.0.1\n\n')]),
    simple('absolute-form', () => [get('http://127.0.0.1:1/health/live')]),
    simple('asterisk-form', () => [b('OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')]),
    simple('connect-method', () => [b('CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n')]),
    simple('h2-preface', () => [H2_PREFACE, h2Frame(H2.SETTINGS, 0, 0)]),
    simple('tls-hello', (rng) => [Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00]), env.pool.take(rng, 256)])]),
    // Headers.
    simple('huge-header', () => [get('/health/live', `X-Nemesis: ${'h'.repeat(100 * 1024)}\r\n`)]),
    simple('10k-headers', () => [get('/health/live', Array.from({ length: 10_000 }, (_, i) => `X-${i}: v\r\n`).join(''))]),
    simple('header-no-colon', () => [get('/health/live', 'NoColonHere\r\n')]),
    simple('header-obs-fold', () => [get('/health/live', 'X-A: a\r\n folded\r\n')]),
    simple('header-nul', () => [get('/health/live', 'X-A: a\u0000b\r\n')]),
    simple('no-host', () => [b('GET /health/live HTTP/1.1\r\nConnection: close\r\n\r\n')]),
    simple('two-hosts', () => [b('GET /health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n')]),
    simple('huge-authorization', () => [get('/metrics', `Authorization: Bearer ${'t'.repeat(15 * 1024)}\r\n`)]),
    simple('huge-last-event-id', () => [get('/api/events', `Last-Event-ID: ${nested(4000)}\r\n`)]),
    // Bodies.
    simple('huge-body-content-length', (rng) => [b(`POST ${rng.pick(env.jsonPaths)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\nConnection: close\r\n\r\n`), env.pool.take(rng, env.hugeBodyBytes)]),
    simple('huge-body-get', (rng) => [b(`GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${env.hugeBodyBytes}\r\nConnection: close\r\n\r\n`), env.pool.take(rng, env.hugeBodyBytes)]),
    simple('huge-body-no-length', (rng) => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), env.pool.take(rng, env.hugeBodyBytes), 'end']),
    simple('huge-chunked-body', (rng) => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'), Buffer.concat(Array.from({ length: 64 }, () => Buffer.concat([b('10000\r\n'), env.pool.take(rng, 0x10000), b('\r\n')]))), b('0\r\n\r\n')]),
    simple('content-length-negative', () => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n')]),
    simple('content-length-huge-number', () => [b(`POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${'9'.repeat(400)}\r\n\r\n`)]),
    simple('content-length-conflict', () => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef')]),
    simple('content-length-and-chunked', () => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')]),
    simple('length-then-fin', () => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc'), 'end']),
    // Chunked encoding with bad chunk sizes.
    ...[
      ['chunk-not-hex', 'zz\r\nabc\r\n0\r\n\r\n'],
      ['chunk-size-overflow', 'FFFFFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n'],
      ['chunk-size-negative', '-1\r\nabc\r\n0\r\n\r\n'],
      ['chunk-size-lie', '100\r\nabc\r\n0\r\n\r\n'],
      ['chunk-no-crlf', '3\r\nabcdef0\r\n\r\n'],
      ['chunk-huge-extension', `1;${'e'.repeat(100 * 1024)}\r\na\r\n0\r\n\r\n`],
      ['chunk-bad-trailer', '1\r\na\r\n0\r\nBad Trailer\r\n\r\n'],
      ['chunk-truncated', '10\r\nabc'],
    ].map(([name, body]) => simple(name!, () => [b(`POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${body}`), ...(name === 'chunk-truncated' ? ['end' as const] : [])])),
    simple('te-chunked-identity', () => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n')]),
    simple('te-unknown', () => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: nemesis\r\n\r\n')]),
    // Deeply nested JSON to JSON endpoints (as bodies and in queries).
    ...[
      ['json-nested-arrays', nested(100_000)],
      ['json-nested-objects', nestedObj(50_000)],
      ['json-huge-string', `"${'s'.repeat(2 * 1024 * 1024)}"`],
      ['json-invalid', '{"a": [1, 2,, }'],
    ].map(([name, json]) => simple(name!, (rng) => [b(`POST ${rng.pick(env.jsonPaths)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json!)}\r\nConnection: close\r\n\r\n${json}`)])),
    simple('json-nested-query', (rng) => [get(`${rng.pick(env.jsonPaths)}?filter=${encodeURIComponent(nested(1000))}&limit=${nested(500)}`)]),
    simple('api-bad-query-numbers', (rng) => [get(`/api/tasks/${rng.hex(4)}/${rng.hex(4)}/log?offset=${rng.pick(['NaN', '1e400', '-0x10', '%00', '99999999999999999999999'])}&length=-1&stream=%ff`)]),
    simple('api-jobs-runs-limit', () => [get(`/api/jobs/${'j'.repeat(2000)}/runs?limit=1e309`)]),
    // Path traversal on static paths.
    ...traversalPaths(env.staticPrefixes).map((path) => ({
      name: `http:traversal ${path.slice(0, 60)}`,
      run: async (ctx: AttackContext) => {
        const r = await exchange([get(path)]);
        ctx.record(httpOutcome(r));
        if (PASSWD.test(r.data.toString('latin1'))) ctx.record('leak:traversal');
      },
    })),
    // Unknown paths and methods.
    ...['/nope', '/api/nope', '/api/', '/api', '/metrics/../health/live', '/health/ready/', '/ui/does-not-exist.js', '/leader/..', `/${'%'.repeat(100)}`, '/%ff%fe', '/?%', '/api/state?%zz=1', '//', '/\u00e9'].map((path) =>
      simple(`unknown-path ${path.slice(0, 40)}`, () => [get(path)]),
    ),
    ...['DELETE', 'PUT', 'PATCH', 'OPTIONS', 'TRACE', 'HEAD'].map((method) => simple(`method ${method}`, () => [b(`${method} /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)])),
    // Pipelining: many requests on one connection, never reading until the end.
    {
      name: 'http:pipelined-500',
      run: async (ctx) => {
        const one = b('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        const r = await exchange([Buffer.concat([...Array.from({ length: 499 }, () => one), get('/health/live')])], { stopWhen: () => false, pauseReading: false });
        ctx.record(httpOutcome(r));
      },
    },
    // An event stream opened and never read.
    { name: 'http:event-stream-unread', run: async (ctx) => ctx.record(httpOutcome(await exchange([get('/api/events')], { stopWhen: () => false, pauseReading: true, timeoutMs: Math.min(T, 1000) }))) },
    // Slowloris: many connections sending a header line now and then, never finishing; bounded.
    {
      name: 'http:slowloris',
      run: async (ctx) => {
        const holdMs = Math.min(T, 2500);
        const steps: Step[] = [b('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n')];
        for (let t = 0; t < holdMs; t += 250) steps.push({ pauseMs: 250 }, b(`X-${ctx.rng.hex(4)}: ${ctx.rng.hex(4)}\r\n`));
        const results = await Promise.all(Array.from({ length: env.slowloris }, () => exchange(steps, { timeoutMs: holdMs, stopWhen: () => false })));
        for (const r of results) ctx.record(httpOutcome(r));
      },
    },
    // Slow body: a request whose declared body trickles in.
    simple('slow-body', () => [b('POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n'), ...Array.from({ length: 8 }, () => [{ pauseMs: 150 }, b('x')]).flat()]),
  ];
  return attacks;
}

function traversalPaths(prefixes: readonly string[]): string[] {
  const tails = [
    '../../../../../../etc/passwd',
    '..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
    '%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '%252e%252e/%252e%252e/%252e%252e/%252e%252e/etc/passwd',
    '..%5c..%5c..%5c..%5c..%5cetc%5cpasswd',
    '..\\..\\..\\..\\..\\etc\\passwd',
    '%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd',
    '....//....//....//....//....//etc/passwd',
    '..;/..;/..;/..;/etc/passwd',
    'index.html%00.png',
    '%00',
    '%',
    '/etc/passwd',
    `${'..%2f'.repeat(40)}etc%2fpasswd`,
  ];
  const out = new Set<string>();
  for (const p of prefixes) for (const t of tails) out.add(`${p.endsWith('/') ? p : `${p}/`}${t}`);
  out.add('/../../etc/passwd');
  out.add('//etc/passwd');
  return [...out];
}

// Exposed for tests of the flood itself.
export const _internal = { traversalPaths, junkProtobuf, deepGroups, berthMethods, h2Verdict, Rng, randomPool, assertUndecodable };
