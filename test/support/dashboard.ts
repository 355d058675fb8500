import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { loadBerthProto } from '../../src/common/rpc/proto';
import { startGrpcServer, type GrpcServerHandle } from '../../src/common/rpc/server';
import { startHttpServer, type HttpServerHandle, type HttpServerOptions } from '../../src/common/http-server';
import { dashboardApiFor, type DashboardApi, type DashboardApiOptions } from '../../src/master/dashboard-api';
import { dashboardAssets } from '../../src/master/dashboard-assets';
import { MasterMetrics } from '../../src/master/metrics';
import { Inbox, launch, startTestMaster, type FakeAgent, type TestMaster, type TestMasterOptions, type TestScheduler } from './master-harness';

/** A test master with its HTTP port serving the dashboard, as `berth master` composes them. */
export interface DashboardMaster {
  readonly master: TestMaster;
  readonly http: HttpServerHandle;
  readonly api: DashboardApi;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  stop(): Promise<void>;
}

export interface DashboardMasterOptions {
  readonly master?: TestMasterOptions;
  readonly dashboard?: Partial<Omit<DashboardApiOptions, 'core' | 'agentApi'>>;
  readonly http?: Partial<HttpServerOptions>;
}

export async function startDashboardMaster(options: DashboardMasterOptions = {}): Promise<DashboardMaster> {
  const master = await startTestMaster(options.master);
  const { authenticate } = options.master ?? {};
  const api = dashboardApiFor(master.daemon, {
    authenticate: authenticate === undefined ? undefined : (md) => authenticate.authenticate(md),
    leader: () => master.daemon.leader(),
    version: 'test',
    ...options.dashboard,
  });
  const assets = dashboardAssets();
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    metrics: new MasterMetrics({ processMetrics: false }),
    ready: () => ({ ready: master.daemon.core !== undefined }),
    leader: () => master.daemon.leader(),
    staticDir: assets.staticDir,
    files: assets.files,
    api: api.handle,
    logger: master.logs,
    ...options.http,
  });
  return {
    master,
    http: server,
    api,
    url: `http://${server.address}`,
    stop: async () => {
      await server.close();
      api.close();
      await master.stop();
    },
  };
}

/**
 * Accepts the first of the framework's next offers with one task (the rest of that offer refused
 * for 5 s, the other offers for an hour), has its agent report it running, and returns that agent:
 * afterwards the framework's role holds exactly its tasks.
 */
export async function launchOne(fw: TestScheduler, agents: readonly FakeAgent[], taskId: string, resources = 'cpus:1;mem:128', extra: Record<string, unknown> = {}): Promise<FakeAgent> {
  const [first, ...rest] = (await fw.nextOffers(`offers for ${taskId}`)).offers!.offers;
  fw.send({ type: 'ACCEPT', accept: { offer_ids: [first!.id!], operations: [launch(first!, taskId, resources, extra)], filters: { refuse_seconds: 5 } } });
  if (rest.length > 0) fw.send({ type: 'DECLINE', decline: { offer_ids: rest.map((o) => o.id!), filters: { refuse_seconds: 3600 } } });
  const agent = agents.find((a) => a.agentId === first!.agent_id!.value)!;
  await agent.nextRun();
  agent.status(fw.frameworkId, taskId, 'TASK_RUNNING', extra.health_check === undefined ? {} : { healthy: true });
  await fw.nextUpdate(taskId, 'TASK_RUNNING');
  return agent;
}

/** What the fake frameworks API answers (JSON of the wire messages). */
export interface FakeFrameworksData {
  readonly apps?: readonly object[];
  readonly jobs?: readonly object[];
  /** Runs by job id; an unknown job is NOT_FOUND. */
  readonly runs?: Readonly<Record<string, readonly object[]>>;
  /** Receives every ListRuns request. */
  readonly onListRuns?: (request: { job_id: string; limit: number }) => void;
  /** berth.v1.Batch's ListQueues and ListJobs answers; absent: the Batch service is not served. */
  readonly batch?: { readonly queues: readonly object[]; readonly jobs: readonly object[] };
}

/** A gRPC server with berth.v1.Services ListApps, berth.v1.Jobs ListJobs/ListRuns (and, given `batch`, berth.v1.Batch ListQueues/ListJobs) answering canned data. */
export function startFakeFrameworksApi(data: FakeFrameworksData): Promise<GrpcServerHandle> {
  const v1 = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1;
  return startGrpcServer({
    services: [
      { definition: v1.Services!.service, implementation: { ListApps: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { apps: data.apps ?? [] }) } },
      {
        definition: v1.Jobs!.service,
        implementation: {
          ListJobs: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { jobs: data.jobs ?? [] }),
          ListRuns: (call: grpc.ServerUnaryCall<{ job_id: string; limit: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
            data.onListRuns?.(call.request);
            const runs = data.runs?.[call.request.job_id];
            if (runs === undefined) return cb({ code: grpc.status.NOT_FOUND, details: `unknown job "${call.request.job_id}"` });
            cb(null, { runs });
          },
        },
      },
      ...(data.batch === undefined ? [] : [{
        definition: v1.Batch!.service,
        implementation: {
          ListQueues: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { queues: data.batch!.queues }),
          ListJobs: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { jobs: data.batch!.jobs }),
        },
      }]),
    ],
  });
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One GET over a fresh connection (agent: false), so no socket outlives the test. */
export function get(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** GET, expecting JSON: the status and the parsed body. */
export async function getJson<T = Record<string, unknown>>(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: T }> {
  const r = await get(url, headers);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  return { status: r.status, body: JSON.parse(r.body) as T };
}

/** One server-sent event, its data parsed as JSON. */
export interface ReceivedEvent {
  readonly event: string;
  readonly id?: string;
  readonly data: any; // JSON of wire messages, asserted field by field
}

/** A `text/event-stream` client on node:http: its events land in an inbox with bounded waits. */
export class SseClient {
  readonly events = new Inbox<ReceivedEvent>();
  private constructor(
    private readonly req: http.ClientRequest,
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
  ) {}

  /** Connects; resolves once the response headers arrived (the stream may be a JSON refusal: see `status`). */
  static open(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        const client = new SseClient(req, res.statusCode!, res.headers);
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let id: string | undefined;
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const [field, value] = colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).replace(/^ /, '')];
              if (field === 'event') event = value;
              else if (field === 'id') id = value;
              else if (field === 'data') data.push(value);
            }
            if (data.length > 0) client.events.push({ event, id, data: JSON.parse(data.join('\n')) });
          }
        });
        res.on('end', () => client.events.end(new Error('stream ended')));
        res.on('error', (err) => client.events.end(err));
        resolve(client);
      });
      req.on('error', reject);
    });
  }

  /** The next `cluster` event of this Watch type (SNAPSHOT, AGENT_ADDED, …). */
  nextCluster(type: string, match: (e: ReceivedEvent) => boolean = () => true): Promise<ReceivedEvent> {
    return this.events.next((e) => e.event === 'cluster' && e.data.type === type && match(e), `cluster event ${type}`);
  }

  /** The next `usage` event that satisfies `match`. */
  nextUsage(match: (e: ReceivedEvent) => boolean = () => true, what = 'a usage event'): Promise<ReceivedEvent> {
    return this.events.next((e) => e.event === 'usage' && match(e), what);
  }

  close(): void {
    this.req.destroy();
  }
}
