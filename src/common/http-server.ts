/**
 * A daemon's HTTP port (the master's and the agent's), on plain `node:http`:
 *
 * | path             | answer                                                                 |
 * |------------------|------------------------------------------------------------------------|
 * | `/metrics`       | Prometheus text exposition                                             |
 * | `/health/live`   | 200 while the process serves requests (liveness: restart me if not)    |
 * | `/health/ready`  | 200 when `ready()` says so, else 503 with the reason as JSON            |
 * | `/leader`        | 200 with `leader()`'s JSON, when given (where clients should go)        |
 * | `/`, `/ui/*`     | static files of the dashboard from `staticDir`, when given              |
 * | keys of `files`  | single files at fixed paths (the vendored ES modules), when given      |
 * | `/api/*`         | `api()`'s answer: JSON, text or a server-sent event stream, when given  |
 *
 * Everything else is 404; methods other than GET and HEAD are 405. The health endpoints never need
 * a token (probes cannot present one); `/metrics` and `/api/*` can be guarded with
 * `authorizeMetrics`. Static files are resolved inside `staticDir` only: `..`, encoded or not, and
 * symlinks leading out are 404.
 */
import * as https from 'node:https';
import { httpsOptions, type TlsMaterial } from './tls';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { nullLogger, type Logger } from './logging';

/** What the HTTP server needs to serve `/metrics` (the master's `MasterMetrics`, the agent's `AgentMetrics`). */
export interface MetricsExposition {
  /** The Content-Type of {@link exposition}'s text. */
  readonly contentType: string;
  /** The Prometheus text exposition of all metrics. */
  exposition(): Promise<string>;
}

/** What `/health/ready` reports. */
export interface Readiness {
  readonly ready: boolean;
  /** Why not, for people and probes' logs: `not the leader`, `not registered with the master`, `shutting down`. */
  readonly reason?: string;
}

/** A request to `/api/*`, as an {@link ApiHandler} sees it. */
export interface ApiRequest {
  /** The path below `/api`, still percent-encoded: `/state`, `/tasks/fw-1/web.1/log`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
}

/** One server-sent event. `data` is sent as JSON (Buffers as base64). */
export interface ServerSentEvent {
  /** The event's name (`event:` field); absent: `message`. */
  readonly event?: string;
  readonly data: unknown;
  /** The `id:` field; the client sends the last one back as `Last-Event-ID` when it reconnects. */
  readonly id?: string;
}

/** The server side of one `text/event-stream` response. */
export interface EventStream {
  /** The `Last-Event-ID` request header, when the client resumes. */
  readonly lastEventId: string | undefined;
  /** Bytes written but not yet flushed to the socket (a slow client grows this). */
  readonly buffered: number;
  /** Whether the stream has ended (client gone, {@link end} called, server closing). */
  readonly closed: boolean;
  /** Sends one event; a no-op once closed. */
  send(event: ServerSentEvent): void;
  /** Ends the response; the client reconnects after its retry delay. Idempotent. */
  end(): void;
  /** Runs `listener` once when the stream closes, for whatever reason (at once if already closed). */
  onClose(listener: () => void): void;
}

/** What an {@link ApiHandler} answers. */
export type ApiReply =
  /** JSON (Buffers as base64), with `status` (default 200). */
  | { readonly json: unknown; readonly status?: number; readonly headers?: Readonly<Record<string, string>> }
  /** Text or bytes, with `contentType` (default text/plain; charset=utf-8). */
  | { readonly body: string | Buffer; readonly status?: number; readonly contentType?: string; readonly headers?: Readonly<Record<string, string>> }
  /** A server-sent event stream; `open` is called once the response headers are sent. */
  | { readonly events: (stream: EventStream) => void };

/**
 * Answers `/api/*` GET requests; undefined means 404. May throw (or reject): that is a logged 500.
 * Called only after `authorizeMetrics` let the request through.
 */
export type ApiHandler = (request: ApiRequest) => ApiReply | undefined | Promise<ApiReply | undefined>;

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  /** Address to bind. @default '127.0.0.1' */
  readonly host?: string;
  /** Serve HTTPS only, with this certificate (see src/common/tls.ts). @default plain HTTP */
  readonly tls?: TlsMaterial;
  /** Port to bind; 0 picks an ephemeral port (see the result's `port`). */
  readonly port: number;
  /** Source of `/metrics`: the daemon's `MasterMetrics` or `AgentMetrics`. */
  readonly metrics: MetricsExposition;
  /** Asked on every `/health/ready`; must be cheap and should not throw (a throw counts as not ready). */
  readonly ready: () => Readiness;
  /** Asked on every `/leader`; without it `/leader` is 404. @default undefined */
  readonly leader?: () => unknown;
  /** Directory of the dashboard's static files; without it `/` and `/ui/*` are 404. @default undefined */
  readonly staticDir?: string;
  /**
   * Single files served at fixed paths, URL path → file (`/ui/vendor/preact.mjs` → a file in
   * node_modules). Checked before `staticDir`. @default {}
   */
  readonly files?: Readonly<Record<string, string>>;
  /** Answers `/api/*`; without it `/api/*` is 404. @default undefined */
  readonly api?: ApiHandler;
  /** Interval of keep-alive comments on event streams (so proxies keep them open). @default 15000 */
  readonly eventStreamKeepAliveMs?: number;
  /**
   * Decides whether a `/metrics` or `/api/*` request may read; false gives 401.
   * @default undefined (open, as Prometheus expects)
   */
  readonly authorizeMetrics?: (headers: http.IncomingHttpHeaders) => boolean;
  /** Where unexpected errors are logged. @default nullLogger */
  readonly logger?: Logger;
}

/** A running HTTP server. */
export interface HttpServerHandle {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** `host:port` as bound, e.g. `127.0.0.1:5051` (IPv6 in brackets). */
  readonly address: string;
  /** Stops listening and destroys every open connection, keep-alive ones included. Idempotent. */
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif',
  '.ico': 'image/x-icon', '.webp': 'image/webp', '.woff': 'font/woff', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8',
};

/** Starts the HTTP server; resolves once it listens, rejects if it cannot bind (naming the address). */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  const logger = options.logger ?? nullLogger;
  const host = options.host ?? '127.0.0.1';
  const root = options.staticDir === undefined ? undefined : await fs.promises.realpath(options.staticDir);
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res, options, root).catch((err: unknown) => {
      logger.error('HTTP request failed', { err, method: req.method, url: req.url });
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  };
  const server = options.tls === undefined ? http.createServer(listener) : https.createServer(httpsOptions(options.tls), listener);
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${host}:${options.port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error('HTTP server error', { err }));
  const addr = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    port: addr.port,
    address: addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // idle keep-alive and in-flight sockets alike
      });
      return closing;
    },
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, options: HttpServerOptions, root: string | undefined): Promise<void> {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', `method ${req.method} not allowed\n`);
  }
  const pathname = (req.url ?? '/').split('?', 1)[0]!;
  res.setHeader('Cache-Control', 'no-store');
  const unauthorized = (): boolean => options.authorizeMetrics !== undefined && !options.authorizeMetrics(req.headers);
  switch (pathname) {
    case '/metrics':
      if (unauthorized()) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        return send(res, 401, 'text/plain; charset=utf-8', 'a bearer token allowed to view metrics is required\n');
      }
      return send(res, 200, options.metrics.contentType, await options.metrics.exposition());
    case '/health/live':
      return sendJson(res, 200, { live: true });
    case '/health/ready': {
      let ready: boolean;
      let reason: string | undefined;
      try {
        ({ ready, reason } = options.ready());
      } catch (err) {
        [ready, reason] = [false, `readiness check failed: ${(err as Error).message}`];
      }
      return sendJson(res, ready === true ? 200 : 503, ready === true ? { ready: true } : { ready: false, reason: reason ?? 'not ready' });
    }
    case '/leader':
      if (options.leader !== undefined) return sendJson(res, 200, options.leader() ?? null);
      break;
  }
  if (options.api !== undefined && pathname.startsWith('/api/')) {
    if (unauthorized()) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return sendJson(res, 401, { error: 'a bearer token allowed to view the cluster is required' });
    }
    const query = new URLSearchParams((req.url ?? '').slice(pathname.length + 1));
    const reply = await options.api({ path: pathname.slice('/api'.length), query, headers: req.headers });
    if (reply === undefined) return sendJson(res, 404, { error: `no such API: ${pathname}` });
    return sendApiReply(res, reply, options.eventStreamKeepAliveMs ?? 15_000);
  }
  if (options.files !== undefined && Object.hasOwn(options.files, pathname)) return serveFile(res, options.files[pathname]!);
  if (root !== undefined && (pathname === '/' || pathname === '/ui' || pathname.startsWith('/ui/'))) {
    return serveStatic(res, root, pathname === '/' ? '/' : pathname.slice('/ui'.length));
  }
  return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
}

/**
 * Resolves the request path inside `root` and streams the file. `rel` is still URL-encoded; it is
 * decoded once, normalised against `/` (so `..` cannot climb above it), and the real path is checked
 * to lie within `root`, which also refuses symlinks pointing elsewhere.
 */
async function serveStatic(res: http.ServerResponse, root: string, rel: string): Promise<void> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    return send(res, 400, 'text/plain; charset=utf-8', 'malformed path\n');
  }
  const notFound = (): void => send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  if (decoded.includes('\0') || decoded.includes('\\')) return notFound();
  let file = path.join(root, path.posix.normalize(`/${decoded}`));
  let size: number;
  try {
    if ((await fs.promises.stat(file)).isDirectory()) file = path.join(file, 'index.html');
    file = await fs.promises.realpath(file);
    if (!file.startsWith(root + path.sep)) return notFound();
    const stat = await fs.promises.stat(file);
    if (!stat.isFile()) return notFound();
    size = stat.size;
  } catch {
    return notFound();
  }
  return serveFile(res, file, size);
}

/** Streams one file (its size known, or looked up; a missing file is 404). */
async function serveFile(res: http.ServerResponse, file: string, knownSize?: number): Promise<void> {
  let size = knownSize;
  if (size === undefined) {
    try {
      size = (await fs.promises.stat(file)).size;
    } catch {
      return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  }
  const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': size, 'Cache-Control': 'no-cache' });
  if (res.req.method === 'HEAD') return void res.end();
  await new Promise<void>((resolve, reject) => {
    const stream = fs.createReadStream(file);
    stream.on('error', reject);
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${toJson(body)}\n`);
}

/** JSON with Buffers (bytes fields of wire messages) as base64 rather than arrays of numbers. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    const b = v as { type?: unknown; data?: unknown };
    return b !== null && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data) ? Buffer.from(b.data as number[]).toString('base64') : v;
  });
}

function sendApiReply(res: http.ServerResponse, reply: ApiReply, keepAliveMs: number): void {
  if ('events' in reply) return openEventStream(res, reply.events, keepAliveMs);
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  if ('json' in reply) return sendJson(res, reply.status ?? 200, reply.json);
  const body = reply.body;
  res.writeHead(reply.status ?? 200, { 'Content-Type': reply.contentType ?? 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Starts a `text/event-stream` response and hands it to `open`. A comment line every
 * `keepAliveMs` keeps idle streams open through proxies; the stream closes when the client goes,
 * when `end()` is called, or when the server closes (which destroys every connection).
 */
/** Bytes an event stream may hold unread before the client is cut off (it does not read). */
export const MAX_EVENT_STREAM_BUFFER = 8 * 1024 * 1024;

function openEventStream(res: http.ServerResponse, open: (stream: EventStream) => void, keepAliveMs: number): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  if (res.req.method === 'HEAD') return void res.end();
  res.write('retry: 2000\n\n');
  const listeners: (() => void)[] = [];
  let closed = false;
  // A client that does not read must not make the server buffer without bound: past the limit its
  // connection is destroyed (not ended: an orderly end would wait for it to read everything).
  const write = (text: string): void => {
    if (closed) return;
    if (res.writableLength > MAX_EVENT_STREAM_BUFFER) {
      res.destroy();
      close();
      return;
    }
    res.write(text);
  };
  const keepAlive = setInterval(() => write(': keep-alive\n\n'), keepAliveMs);
  keepAlive.unref();
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    for (const l of listeners.splice(0)) l();
  };
  res.on('close', close);
  const header = res.req.headers['last-event-id'];
  const stream: EventStream = {
    lastEventId: typeof header === 'string' && header !== '' ? header : undefined,
    get buffered() {
      return res.writableLength;
    },
    get closed() {
      return closed;
    },
    send: (event) => {
      if (closed) return;
      // A line break in `event` or `id` would start another field: they are names, not data.
      const name = event.event === undefined ? '' : `event: ${event.event.replace(/[\r\n]/g, '')}\n`;
      const id = event.id === undefined ? '' : `id: ${event.id.replace(/[\r\n]/g, '')}\n`;
      write(`${name}${id}data: ${toJson(event.data)}\n\n`); // JSON has no raw line breaks
    },
    end: () => {
      if (closed) return;
      // Ending with more than the limit unread: destroy, or the socket and its buffer stay as long as
      // the client does not read.
      if (res.writableLength > MAX_EVENT_STREAM_BUFFER) res.destroy();
      else res.end();
      close();
    },
    onClose: (listener) => {
      if (closed) listener();
      else listeners.push(listener);
    },
  };
  open(stream);
}
