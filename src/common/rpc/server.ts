/**
 * Starting and stopping a gRPC server the way every Berth process does: bound to loopback unless
 * told otherwise, with message-size limits, `grpc.health.v1.Health` (per-service status) and
 * server reflection (v1 and v1alpha, so grpcurl and Postman work without the .proto files: each file
 * by its own name with its comments, and a service list of what this server serves).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { serviceName, type GrpcServiceBinding } from './proto';
import { ServerReflection } from './reflection';

export type { GrpcServiceBinding } from './proto';
export type { ServingStatus } from 'grpc-health-check';

/** The health service's own name, as clients pass it to `Health/Check`. */
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/** Default largest accepted message: 4 MiB, gRPC's own default. */
export const DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024;

/** Options of {@link startGrpcServer}. */
export interface GrpcServerOptions {
  /**
   * Interface to bind. Use a routable address only when the process must be reached from other
   * hosts; `berth dev` and tests stay on loopback.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * TCP port. 0 lets the kernel pick a free ephemeral port; read the chosen one from
   * {@link GrpcServerHandle.port}.
   * @default 0
   */
  port?: number;
  /**
   * The services to serve, e.g. `[schedulerService(handlers), operatorService(handlers)]`.
   * Health and reflection are always added on top; a service name may appear only once.
   */
  services: readonly GrpcServiceBinding[];
  /**
   * Largest message, in bytes, the server accepts. A larger message fails that call with
   * RESOURCE_EXHAUSTED; the server and its other calls carry on. -1 means unlimited.
   * @default 4194304 (4 MiB)
   */
  maxReceiveMessageLength?: number;
  /**
   * Largest message, in bytes, the server sends; a larger one fails the call with
   * RESOURCE_EXHAUSTED. -1 means unlimited.
   * @default -1 (unlimited, gRPC's default)
   */
  maxSendMessageLength?: number;
  /**
   * Transport security.
   * @default grpc.ServerCredentials.createInsecure()
   */
  credentials?: grpc.ServerCredentials;
  /**
   * Interval, in milliseconds, between HTTP/2 keepalive pings the server sends on idle
   * connections, so that half-open connections of long-lived streams (frameworks, agents,
   * watchers) are noticed even when the application is silent.
   * @default 30000
   */
  keepaliveTimeMs?: number;
  /**
   * How long, in milliseconds, to wait for a keepalive ping's answer before closing the
   * connection.
   * @default 10000
   */
  keepaliveTimeoutMs?: number;
  /**
   * Extra grpc-js server options, applied last (they override the options above), e.g.
   * `{ 'grpc.max_concurrent_streams': 1000 }`.
   * @default {}
   */
  channelOptions?: grpc.ServerOptions;
  /**
   * Initial health of every served service (and of the server as a whole, service name "").
   * A standby master starts with NOT_SERVING and flips to SERVING when elected.
   * @default 'SERVING'
   */
  initialHealth?: ServingStatus;
}

/** A running server, as returned by {@link startGrpcServer}. */
export interface GrpcServerHandle {
  /** The underlying grpc-js server. */
  readonly server: grpc.Server;
  /** The bound TCP port (the chosen one when `port` was 0). */
  readonly port: number;
  /** `host:port` to dial, e.g. "127.0.0.1:40123" (IPv6 hosts in brackets). */
  readonly address: string;
  /** The health service; `health.setStatus('berth.v1.Scheduler', 'NOT_SERVING')` etc. */
  readonly health: HealthImplementation;
  /** Fully-qualified names of the services served (those passed in `services`, then those added). */
  readonly serviceNames: readonly string[];
  /**
   * Serves another service on the running server (the framework host adds a plugin's API when the
   * plugin first comes up): health SERVING for it, and listed by reflection.
   * @throws if a service of that name is served already
   */
  addService(binding: GrpcServiceBinding): void;
  /**
   * Stops the server: marks every service NOT_SERVING, stops accepting calls, waits up to
   * `graceMs` for running calls to finish, then cancels whatever is still open (long-lived
   * streams usually are). Idempotent; later calls return the same promise.
   * @param graceMs how long to wait before forcing; default 5000.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Starts a gRPC server with health and reflection, bound and serving when the promise resolves.
 *
 * @throws if the options are invalid, a service is given twice, or the address cannot be bound
 *   (the error's `cause` is grpc-js's bind error).
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const maxReceive = options.maxReceiveMessageLength ?? DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH;
  const maxSend = options.maxSendMessageLength ?? -1;
  const keepaliveTimeMs = options.keepaliveTimeMs ?? 30_000;
  const keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? 10_000;
  const initialHealth = options.initialHealth ?? 'SERVING';

  if (host === '') throw new Error('startGrpcServer: host must not be empty');
  checkInteger('port', port, 0, 65_535);
  checkMessageLength('maxReceiveMessageLength', maxReceive);
  checkMessageLength('maxSendMessageLength', maxSend);
  checkInteger('keepaliveTimeMs', keepaliveTimeMs, 1, Number.MAX_SAFE_INTEGER);
  checkInteger('keepaliveTimeoutMs', keepaliveTimeoutMs, 1, Number.MAX_SAFE_INTEGER);

  const names = options.services.map((s) => serviceName(s.definition));
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new Error(`startGrpcServer: service ${duplicate} given twice`);
  if (names.includes(HEALTH_SERVICE_NAME)) throw new Error(`startGrpcServer: ${HEALTH_SERVICE_NAME} is added automatically`);

  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxReceive,
    'grpc.max_send_message_length': maxSend,
    'grpc.keepalive_time_ms': keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
    // channelz stays on (grpc-js's default) although nothing reads it: grpc-js 1.x's forceShutdown
    // destroys only the sessions channelz tracks, so with it off a shutdown past its grace period
    // would leave every open stream running (found by grpc-contract and agent-master-link tests).
    ...options.channelOptions,
  });

  for (const binding of options.services) server.addService(binding.definition, binding.implementation);

  const initialStatuses: Record<string, ServingStatus> = { '': initialHealth };
  for (const name of names) initialStatuses[name] = initialHealth;
  const health = new HealthImplementation(initialStatuses);
  health.addToServer(server);

  const reflection = new ServerReflection(server, [...names, HEALTH_SERVICE_NAME]);

  const boundPort = await bind(server, `${formatHost(host)}:${port}`, options.credentials ?? grpc.ServerCredentials.createInsecure());

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = 5000): Promise<void> => {
    if (stopping === undefined) {
      for (const name of ['', ...names]) health.setStatus(name, 'NOT_SERVING');
      stopping = stopServer(server, graceMs);
    }
    return stopping;
  };

  const addService = (binding: GrpcServiceBinding): void => {
    const name = serviceName(binding.definition);
    if (names.includes(name) || name === HEALTH_SERVICE_NAME) throw new Error(`addService: ${name} is served already`);
    server.addService(binding.definition, binding.implementation);
    names.push(name);
    health.setStatus(name, stopping === undefined ? 'SERVING' : 'NOT_SERVING');
    reflection.add(name);
  };

  return { server, port: boundPort, address: `${formatHost(host)}:${boundPort}`, health, serviceNames: names, addService, shutdown };
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => {
      if (err) {
        server.forceShutdown();
        reject(new Error(`cannot bind gRPC server to ${address}: ${err.message}`, { cause: err }));
      } else {
        resolve(port);
      }
    });
  });
}

function stopServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve();
    };
    // tryShutdown waits for every open call; streams that never end would hold it forever.
    const deadline = setTimeout(() => {
      server.forceShutdown();
      finish();
    }, Math.max(0, graceMs));
    server.tryShutdown(() => finish());
  });
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`startGrpcServer: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

function checkMessageLength(name: string, value: number): void {
  if (value !== -1) checkInteger(name, value, 1, 2 ** 31 - 1);
}

/**
 * Ends a server stream (server-streaming or bidi) with an error status, after the messages already
 * written. Use this, not `stream.destroy(err)`: grpc-js sends the status from the stream's `error`
 * handler through `end()`, which a destroyed stream never runs — the client would never learn
 * the call ended and would wait forever.
 */
export function endStreamWithStatus(stream: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, code: grpc.status, details: string): void {
  stream.emit('error', Object.assign(new Error(details), { code, details }));
}

/**
 * Ends a server stream at once with an error status, dropping whatever is queued for it: for a
 * client that stopped reading, which can take neither a last message nor a status queued behind
 * its backlog (`endStreamWithStatus` waits for the backlog to drain). The queued messages are freed
 * (the object stream is destroyed), the status goes out as trailers right behind what the
 * HTTP/2 stream already holds (at most one flow-control window), and if the client has still not
 * read them after `graceMs` the HTTP/2 stream is reset, so nothing of the call outlives it.
 *
 * grpc-js (1.14) has no public call for this: it reaches the call behind the stream
 * (`ServerDuplexStreamImpl.call`, whose `sendStatus` is the interceptor API) and the HTTP/2 stream
 * of the innermost call. Without them it falls back to `destroy()`.
 */
export function abortStream(stream: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, code: grpc.status, details: string, graceMs = 5000): void {
  interface InternalCall { sendStatus?(status: { code: grpc.status; details: string; metadata: grpc.Metadata }): void; nextCall?: InternalCall; stream?: { closed: boolean; close(code: number): void } }
  const call = (stream as unknown as { call?: InternalCall }).call;
  stream.destroy();
  if (call?.sendStatus === undefined) return;
  call.sendStatus({ code, details, metadata: new grpc.Metadata() });
  let inner: InternalCall | undefined = call;
  while (inner !== undefined && inner.stream === undefined) inner = inner.nextCall;
  const http2Stream = inner?.stream;
  if (http2Stream === undefined) return;
  const timer = setTimeout(() => {
    if (!http2Stream.closed) http2Stream.close(0x8 /* NGHTTP2_CANCEL */);
  }, graceMs);
  timer.unref();
}
