/**
 * The dashboard's JSON API on the master's HTTP port (`/api/*`), served in-process: the reads go
 * through the very Operator handlers the gRPC API serves (same views, same authentication and ACLs,
 * same errors), called directly rather than over a socket.
 *
 * | path                                   | answer                                                    |
 * |----------------------------------------|-----------------------------------------------------------|
 * | `/api/state`                           | `Operator.GetState`'s `ClusterState` as JSON              |
 * | `/api/events`                          | server-sent events: `Operator.Watch` (`cluster`), plus    |
 * |                                        | `usage` (roles' shares, agents' allocations) on change    |
 * | `/api/tasks/<fw>/<task>/log`           | `Operator.ReadTaskLog` as text (`?stream=stdout|stderr`,  |
 * |                                        | `offset` (negative: from the end), `length`)              |
 * | `/api/apps`                            | the services framework's `ListApps`                       |
 * | `/api/jobs`, `/api/jobs/<id>/runs`     | the jobs framework's `ListJobs`, `ListRuns`               |
 * | `/api/batch`                           | the batch framework's `ListQueues` and `ListJobs` (those  |
 * |                                        | that have not ended) in one object: `{ queues, jobs }`    |
 *
 * JSON uses the wire field names (snake_case), as grpcurl shows them. Errors are JSON
 * `{ error, code }` with an HTTP status for the gRPC one; a standby adds `leader`.
 */
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { ApiHandler, ApiReply, ApiRequest, EventStream } from '../common/http-server';
import { UnaryCallError, UnaryClient } from '../common/rpc/client';
import type { ClusterEvent } from '../generated/berth/v1/ClusterEvent';
import type { OperatorHandlers } from '../generated/berth/v1/Operator';
import type { ReadTaskLogRequest__Output } from '../generated/berth/v1/ReadTaskLogRequest';
import type { ReadTaskLogResponse } from '../generated/berth/v1/ReadTaskLogResponse';
import type { WatchRequest__Output } from '../generated/berth/v1/WatchRequest';
import type { AgentApi } from './agent-api';
import type { MasterDaemon } from './daemon';
import { MasterError } from './errors';
import type { MasterCore } from './master-core';
import { operatorHandlers, type MasterStatus } from './operator-api';
import type { LeaderInfo } from './registry/registry';
import type { Authenticate } from './client-stream';
import { agentView, roleViews } from './views';

/** What the dashboard API reads from. */
export interface DashboardApiOptions {
  /** The leading core, while this master leads. */
  readonly core: () => MasterCore | undefined;
  /** The daemon's AgentApi: a log read waits for the agent's answer on its waiter map. */
  readonly agentApi: AgentApi;
  /** Bearer-token authentication; undefined: disabled (as configured). */
  readonly authenticate?: Authenticate;
  /** Who leads, for the answers of a standby. */
  readonly leader: () => LeaderInfo | undefined;
  /** This master and the leader (the daemon's {@link MasterDaemon.status}). */
  readonly status: () => MasterStatus;
  /** The master's version. */
  readonly version: string;
  /** `host:port` of the frameworks' APIs (berth.v1.Services, berth.v1.Jobs, berth.v1.Batch); undefined: not configured. */
  readonly frameworks?: string;
  /** While an event stream is open, how often `usage` is recomputed (sent only when it changed). @default 2000 */
  readonly usageIntervalMs?: number;
  /** Interval of the Watch stream's HEARTBEAT events. @default 30000 */
  readonly heartbeatMs?: number;
  /** How long a log read waits for the agent. @default 10000 */
  readonly taskLogTimeoutMs?: number;
  /** Deadline of the calls to the frameworks' APIs. @default 5000 */
  readonly frameworksTimeoutMs?: number;
  /** Transport security to the frameworks' APIs. @default plaintext */
  readonly frameworksCredentials?: grpc.ChannelCredentials;
}

/** The `/api/*` handler for the HTTP server, and what to release when the master stops. */
export interface DashboardApi {
  readonly handle: ApiHandler;
  /** Closes the clients of the frameworks' APIs. Idempotent. */
  close(): void;
}

/** The roles' shares and the agents' allocations: what changes without a cluster event (offers). */
export interface DashboardUsage {
  readonly roles: ReturnType<typeof roleViews>;
  readonly agents: { id: string; allocated_resources: unknown; offered_resources: unknown }[];
}

/**
 * The dashboard API of a master daemon. MasterDaemon keeps its AgentApi to itself; it is read here,
 * in this one place, because a log read must wait on the waiter map the agents' answers arrive at.
 */
export function dashboardApiFor(daemon: MasterDaemon, options: Omit<DashboardApiOptions, 'core' | 'agentApi' | 'status'>): DashboardApi {
  return dashboardApi({ ...options, core: () => daemon.core, agentApi: daemon.agentApi, status: () => daemon.status() });
}

/** Builds the dashboard API over the master's state. */
export function dashboardApi(options: DashboardApiOptions): DashboardApi {
  const notLeader = (): MasterError => {
    const leader = options.leader();
    return new MasterError(Status.UNAVAILABLE, leader === undefined ? 'this master is not the leader and no leader is known; retry shortly' : `this master is not the leader; the leader is ${leader.id} at ${leader.grpcAddress}`);
  };
  const operator = operatorHandlers({
    core: options.core,
    authenticate: options.authenticate,
    notLeader,
    agentApi: options.agentApi,
    version: options.version,
    metricsSnapshot: async () => [],
    status: options.status,
    watchHeartbeatMs: options.heartbeatMs,
    taskLogTimeoutMs: options.taskLogTimeoutMs,
  });
  const frameworks = options.frameworks === undefined ? undefined : new FrameworksApis(options.frameworks, options.frameworksTimeoutMs ?? 5000, options.frameworksCredentials);
  /** A refusal (a MasterError, a handler's gRPC status, a failed frameworks call) as a JSON reply; anything else is rethrown (a logged 500). */
  const failure = (err: unknown): { status: number; json: Record<string, unknown> } => {
    let code: grpc.status;
    let message: string;
    if (err instanceof MasterError) [code, message] = [err.grpcCode, err.message];
    else if (err instanceof UnaryCallError) [code, message] = [err.status, err.message];
    else if (typeof (err as { code?: unknown })?.code === 'number') [code, message] = [(err as { code: grpc.status }).code, (err as { details?: string }).details ?? ''];
    else throw err;
    // A standby says where the leader is (its HTTP address is where its dashboard is).
    const leader = code === Status.UNAVAILABLE && !(err instanceof UnaryCallError) ? options.leader() : undefined;
    return { status: httpStatus(code), json: { error: message, code: Status[code] ?? 'UNKNOWN', ...(leader === undefined ? {} : { leader }) } };
  };
  const framework = async (what: () => Promise<object>): Promise<ApiReply> => {
    if (frameworks === undefined) return { json: { configured: false, error: 'no frameworks API configured (dashboard.frameworks)' } };
    try {
      return { json: { configured: true, ...(await what()) } };
    } catch (err) {
      const reply = failure(err);
      // The frameworks are another process: their being down is a bad gateway, not this master's fault.
      const unreachable = err instanceof UnaryCallError && (err.status === Status.UNAVAILABLE || err.status === Status.DEADLINE_EXCEEDED);
      return { status: unreachable ? 502 : reply.status, json: { configured: true, ...reply.json } };
    }
  };

  const handle: ApiHandler = async (req) => {
    const parts = segments(req.path);
    if (parts === undefined) return { status: 400, json: { error: `malformed path: ${req.path}`, code: 'INVALID_ARGUMENT' } };
    const route = parts.join('/');
    try {
      if (route === 'state') return { json: (await invoke(operator.GetState, {}, req.headers)).state };
      if (route === 'events') return events(options, operator, req, notLeader);
      if (parts.length === 4 && parts[0] === 'tasks' && parts[3] === 'log') return await taskLog(operator, parts[1]!, parts[2]!, req);
      // The caller's own credentials go on to the framework host, which authorizes them itself.
      const onBehalf = toMetadata(req.headers);
      if (route === 'apps') return await framework(() => frameworks!.services.call('ListApps', {}, onBehalf));
      if (route === 'jobs') return await framework(() => frameworks!.jobs.call('ListJobs', {}, onBehalf));
      if (route === 'batch') {
        return await framework(async () => ({ ...(await frameworks!.batch.call<object>('ListQueues', {}, onBehalf)), ...(await frameworks!.batch.call<object>('ListJobs', { include_finished: false }, onBehalf)) }));
      }
      if (parts.length === 3 && parts[0] === 'jobs' && parts[2] === 'runs') {
        const limit = integer(req.query.get('limit') ?? '20', 'limit', 0, 1000);
        return await framework(() => frameworks!.jobs.call('ListRuns', { job_id: parts[1], limit }, onBehalf));
      }
      return undefined;
    } catch (err) {
      return failure(err);
    }
  };
  return { handle, close: () => frameworks?.close() };
}

/** The clients of the frameworks' Services, Jobs and Batch APIs (one channel each, connected lazily). */
class FrameworksApis {
  readonly services: UnaryClient;
  readonly jobs: UnaryClient;
  readonly batch: UnaryClient;
  constructor(address: string, timeoutMs: number, credentials: grpc.ChannelCredentials | undefined) {
    this.services = new UnaryClient('Services', { address, timeoutMs, ...(credentials !== undefined ? { credentials } : {}) });
    this.jobs = new UnaryClient('Jobs', { address, timeoutMs, ...(credentials !== undefined ? { credentials } : {}) });
    this.batch = new UnaryClient('Batch', { address, timeoutMs, ...(credentials !== undefined ? { credentials } : {}) });
  }
  close(): void {
    this.services.close();
    this.jobs.close();
    this.batch.close();
  }
}

/** `/api/tasks/<framework>/<task>/log`: ReadTaskLog, answered as the log's bytes. */
async function taskLog(operator: OperatorHandlers, frameworkId: string, taskId: string, req: ApiRequest): Promise<ApiReply> {
  const stream = (req.query.get('stream') ?? 'stdout').toUpperCase();
  if (stream !== 'STDOUT' && stream !== 'STDERR') throw new MasterError(Status.INVALID_ARGUMENT, `stream: must be stdout or stderr, got "${req.query.get('stream')}"`);
  const offset = integer(req.query.get('offset') ?? '-65536', 'offset', -(2 ** 52), 2 ** 52);
  const length = integer(req.query.get('length') ?? '65536', 'length', 0, 1024 * 1024);
  const request: ReadTaskLogRequest__Output = { task_id: { value: taskId }, framework_id: { value: frameworkId }, stream, offset: String(offset), length, tail_lines: 0 };
  const res = await invoke<ReadTaskLogRequest__Output, ReadTaskLogResponse>(operator.ReadTaskLog, request, req.headers);
  const data = Buffer.isBuffer(res.data) ? res.data : Buffer.from((res.data as Uint8Array | string | undefined) ?? '');
  return { body: data, headers: { 'X-Log-Size': String(res.size ?? 0), 'X-Log-Offset': String(res.offset ?? 0) } };
}

/**
 * `/api/events`: Operator.Watch as server-sent events. Each ClusterEvent (the SNAPSHOT first, then
 * deltas and heartbeats) is one `cluster` event whose id is `<sequence>@<epoch>`; a client that
 * reconnects with that as Last-Event-ID resumes where it was (or gets a fresh snapshot, as Watch
 * decides). Between them, `usage` events carry the roles' shares and the agents' allocations,
 * which offers change without a cluster event. When Watch ends (the master stops leading), an
 * `error` event says why and the response ends; the client reconnects.
 */
function events(options: DashboardApiOptions, operator: OperatorHandlers, req: ApiRequest, notLeader: () => MasterError): ApiReply {
  // Refusals known now get a real HTTP status rather than an error event on a 200 stream.
  const metadata = toMetadata(req.headers);
  const principal = options.authenticate?.(metadata);
  if (options.authenticate !== undefined && principal === undefined) throw new MasterError(Status.UNAUTHENTICATED, 'missing or invalid bearer token');
  const core = options.core();
  if (core === undefined || core.isStopped) throw notLeader();
  if (!core.allowed(principal, 'view')) throw new MasterError(Status.PERMISSION_DENIED, `principal "${principal?.name ?? '(none)'}" may not view the cluster`);
  return {
    events: (out) => {
      const request: WatchRequest__Output = { epoch: '' };
      const resume = /^(\d+)@(.+)$/.exec(out.lastEventId ?? '');
      if (resume !== null) Object.assign(request, { from_sequence: resume[1], epoch: resume[2] });
      const watch = new SseWatchStream(request, metadata, out);
      operator.Watch(watch as unknown as grpc.ServerWritableStream<WatchRequest__Output, ClusterEvent>);
      if (!out.closed) followUsage(core, out, options.usageIntervalMs ?? 2000);
    },
  };
}

/** Sends `usage` now, after every burst of cluster events, and every `intervalMs` — each time only if it changed. */
function followUsage(core: MasterCore, out: EventStream, intervalMs: number): void {
  let last = '';
  let pending = false;
  const emit = (): void => {
    pending = false;
    if (out.closed || core.isStopped) return;
    const data = usage(core);
    const text = JSON.stringify(data);
    if (text === last) return;
    last = text;
    out.send({ event: 'usage', data });
  };
  // Coalesced: a burst of events (a launch of many tasks) computes the views once, after it.
  const soon = (): void => {
    if (pending) return;
    pending = true;
    setImmediate(emit);
  };
  const unsubscribe = core.bus.subscribe(soon);
  const timer = core.clock.setInterval(emit, intervalMs);
  out.onClose(() => {
    unsubscribe();
    core.clock.clearInterval(timer);
  });
  soon();
}

/** The current {@link DashboardUsage}. */
export function usage(core: MasterCore): DashboardUsage {
  return {
    roles: roleViews(core),
    agents: [...core.agents.values()].filter((a) => a.lifecycle !== 'GONE').map((a) => {
      const view = agentView(core, a);
      return { id: a.id, allocated_resources: view.allocated_resources, offered_resources: view.offered_resources };
    }),
  };
}

/**
 * What Operator.Watch needs of a gRPC server stream, written to an event stream instead: `write`
 * sends a `cluster` event, an error (Watch ends the stream with a status) becomes an `error`
 * event and ends the response, and the client going away cancels the watch.
 */
class SseWatchStream extends EventEmitter {
  constructor(
    readonly request: WatchRequest__Output,
    readonly metadata: grpc.Metadata,
    private readonly out: EventStream,
  ) {
    super();
    this.on('error', (err: Error & { code?: number; details?: string }) => {
      const code = err.code ?? Status.UNAVAILABLE;
      out.send({ event: 'error', data: { error: err.details ?? err.message, code: Status[code] ?? 'UNKNOWN' } });
      out.end();
    });
    out.onClose(() => this.emit('cancelled'));
  }

  get writableLength(): number {
    return this.out.buffered;
  }

  write(event: ClusterEvent): boolean {
    this.out.send({ event: 'cluster', id: `${event.sequence ?? ''}@${event.epoch ?? ''}`, data: event });
    return true;
  }

  destroy(err?: Error): void {
    this.emit('error', err ?? new Error('stream destroyed'));
  }
}

/** Calls a unary Operator handler in-process, with the HTTP request's `authorization` header. */
function invoke<Req, Res>(handler: grpc.handleUnaryCall<Req, Res>, request: Req, headers: http.IncomingHttpHeaders): Promise<Res> {
  return new Promise((resolve, reject) => {
    const call = { request, metadata: toMetadata(headers) } as unknown as grpc.ServerUnaryCall<Req, Res>;
    handler(call, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

function toMetadata(headers: http.IncomingHttpHeaders): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (typeof headers.authorization === 'string') metadata.set('authorization', headers.authorization);
  return metadata;
}

/** The decoded segments of `/a/b%2Fc/d`, or undefined when one is malformed. */
function segments(path: string): string[] | undefined {
  try {
    return path.split('/').slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

function integer(text: string, field: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || n < min || n > max) throw new MasterError(Status.INVALID_ARGUMENT, `${field}: must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

/** The HTTP status for a gRPC status. */
function httpStatus(code: grpc.status): number {
  switch (code) {
    case Status.INVALID_ARGUMENT:
    case Status.OUT_OF_RANGE:
      return 400;
    case Status.UNAUTHENTICATED:
      return 401;
    case Status.PERMISSION_DENIED:
      return 403;
    case Status.NOT_FOUND:
      return 404;
    case Status.FAILED_PRECONDITION:
    case Status.ALREADY_EXISTS:
    case Status.ABORTED:
      return 409;
    case Status.RESOURCE_EXHAUSTED:
      return 429;
    case Status.UNIMPLEMENTED:
      return 501;
    case Status.UNAVAILABLE:
      return 503;
    case Status.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}
