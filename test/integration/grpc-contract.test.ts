/**
 * The wire contract over a real socket: the generated types, the runtime loader options and the
 * server helper agree with each other. A tiny in-test Scheduler and Operator run behind
 * startGrpcServer on 127.0.0.1; clients built from the same contract talk to them.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { agentLinkService, berthV1, operatorService, schedulerService } from '../../src/common/rpc/proto';
import { ReflectionClient } from '../support/reflection-client';
import { startGrpcServer, type GrpcServerHandle, type GrpcServerOptions } from '../../src/common/rpc/server';
import type { Call__Output } from '../../src/generated/berth/v1/Call';
import type { Event, Event__Output } from '../../src/generated/berth/v1/Event';
import type { SchedulerClient, SchedulerHandlers } from '../../src/generated/berth/v1/Scheduler';
import type { OperatorClient, OperatorHandlers } from '../../src/generated/berth/v1/Operator';
import type { GetHealthResponse__Output } from '../../src/generated/berth/v1/GetHealthResponse';

// ---------------------------------------------------------------------------------------------
// A minimal scheduler: SUBSCRIBE → SUBSCRIBED + one OFFERS event; anything before SUBSCRIBE →
// fatal ERROR and the end of the stream.
// ---------------------------------------------------------------------------------------------

const FRAMEWORK_ID = 'fw-0001';

const schedulerHandlers: SchedulerHandlers = {
  Connect(stream) {
    let subscribed = false;
    stream.on('data', (call: Call__Output) => {
      if (!subscribed) {
        if (call.type !== 'SUBSCRIBE' || call.payload !== 'subscribe') {
          stream.write({
            type: 'ERROR',
            error: {
              code: grpc.status.FAILED_PRECONDITION,
              message: `first call must be SUBSCRIBE, got ${call.type}`,
              fatal: true,
              request_id: call.request_id,
            },
          });
          stream.end();
          return;
        }
        subscribed = true;
        const info = call.subscribe?.framework_info;
        stream.write({
          type: 'SUBSCRIBED',
          subscribed: {
            framework_id: info?.id ?? { value: FRAMEWORK_ID },
            heartbeat_interval_seconds: 15,
            master_info: { id: 'master-1', hostname: 'localhost', version: '0.1.0', leader: true },
          },
        });
        stream.write(offersFor(info?.roles[0] ?? '*'));
      }
      // Calls after SUBSCRIBE are accepted silently, as most calls are.
    });
    stream.on('end', () => stream.end());
    stream.on('error', () => undefined);
  },
};

function offersFor(role: string): Event {
  return {
    type: 'OFFERS',
    offers: {
      offers: [{
        id: { value: 'offer-1' },
        framework_id: { value: FRAMEWORK_ID },
        agent_id: { value: 'agent-1' },
        hostname: 'agent-1.local',
        allocation_info: { role },
        resources: [
          { name: 'cpus', type: 'SCALAR', scalar: { value: 2.5 } },
          { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: '31099' }] } },
        ],
        attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }],
      }],
    },
  };
}

const operatorHandlers: Partial<OperatorHandlers> = {
  GetHealth(_call, callback) {
    callback(null, { healthy: true, alive: true, leader: true, serving: true });
  },
};

// ---------------------------------------------------------------------------------------------
// Bookkeeping: everything opened is closed after each test.
// ---------------------------------------------------------------------------------------------

const servers: GrpcServerHandle[] = [];
const clients: { close(): void }[] = [];

async function startServer(overrides: Partial<GrpcServerOptions> = {}): Promise<GrpcServerHandle> {
  const handle = await startGrpcServer({
    services: [schedulerService(schedulerHandlers), operatorService(operatorHandlers)],
    ...overrides,
  });
  servers.push(handle);
  return handle;
}

function track<C extends { close(): void }>(client: C): C {
  clients.push(client);
  return client;
}

function schedulerClient(address: string): SchedulerClient {
  const v1 = berthV1();
  return track(new v1.Scheduler(address, grpc.credentials.createInsecure()));
}

function operatorClient(address: string): OperatorClient {
  const v1 = berthV1();
  return track(new v1.Operator(address, grpc.credentials.createInsecure()));
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((s) => s.shutdown(1000)));
});

/** Reads a duplex stream's events in order, and its final status. */
class StreamReader<T> {
  private readonly queue: T[] = [];
  private waiters: Array<(item: T) => void> = [];
  readonly status: Promise<grpc.StatusObject>;
  readonly error: Promise<grpc.ServiceError | undefined>;

  constructor(stream: grpc.ClientDuplexStream<never, T>) {
    stream.on('data', (item: T) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(item);
      else this.queue.push(item);
    });
    this.status = new Promise((resolve) => stream.on('status', resolve));
    this.error = new Promise((resolve) => {
      stream.on('error', (err: grpc.ServiceError) => resolve(err));
      stream.on('status', () => resolve(undefined));
    });
  }

  next(): Promise<T> {
    const item = this.queue.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

function unary<Res>(invoke: (cb: (err: grpc.ServiceError | null, res?: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res as Res))));
}

// ---------------------------------------------------------------------------------------------

describe('Scheduler.Connect over a real socket', () => {
  it('answers SUBSCRIBE with SUBSCRIBED and offers, decoded with the shared loader options', async () => {
    const server = await startServer();
    const stream = schedulerClient(server.address).Connect();
    const events = new StreamReader<Event__Output>(stream);

    stream.write({
      type: 'SUBSCRIBE',
      subscribe: { framework_info: { name: 'contract-test', roles: ['web'], failover_timeout: 60 } },
    });

    const subscribed = await events.next();
    expect(subscribed.type).toBe('SUBSCRIBED');
    expect(subscribed.payload).toBe('subscribed');
    expect(subscribed.subscribed?.framework_id?.value).toBe(FRAMEWORK_ID);
    expect(subscribed.subscribed?.heartbeat_interval_seconds).toBe(15);
    expect(subscribed.subscribed?.master_info?.leader).toBe(true);

    const offers = await events.next();
    expect(offers.type).toBe('OFFERS');
    const [offer] = offers.offers?.offers ?? [];
    expect(offer.allocation_info?.role).toBe('web');
    // enums as strings, oneof discriminators, 64-bit integers as decimal strings, defaults filled:
    const [cpus, ports] = offer.resources;
    expect(cpus).toMatchObject({ name: 'cpus', type: 'SCALAR', value: 'scalar', scalar: { value: 2.5 } });
    expect(ports).toMatchObject({ name: 'ports', type: 'RANGES', value: 'ranges' });
    expect(ports.ranges?.range).toEqual([{ begin: '31000', end: '31099' }]);
    expect(ports.reservations).toEqual([]);
    expect(offer.attributes[0]).toMatchObject({ type: 'TEXT', value: 'text', text: { value: 'r1' } });

    stream.end();
    expect((await events.status).code).toBe(grpc.status.OK);
  });

  it('rejects a call before SUBSCRIBE with a fatal ERROR that echoes the request id', async () => {
    const server = await startServer();
    const stream = schedulerClient(server.address).Connect();
    const events = new StreamReader<Event__Output>(stream);

    stream.write({ type: 'DECLINE', request_id: 'r-42', decline: { offer_ids: [{ value: 'offer-1' }] } });

    const error = await events.next();
    expect(error.type).toBe('ERROR');
    expect(error.error).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, fatal: true, request_id: 'r-42' });
    expect(error.error?.message).toMatch(/SUBSCRIBE/);
    expect((await events.status).code).toBe(grpc.status.OK);
    stream.end();
  });
});

describe('Operator over a real socket', () => {
  it('serves GetHealth and answers UNIMPLEMENTED for methods without a handler', async () => {
    const server = await startServer();
    const client = operatorClient(server.address);

    const health = await unary<GetHealthResponse__Output>((cb) => client.GetHealth({}, cb));
    expect(health).toEqual({ healthy: true, alive: true, leader: true, serving: true, message: '' });

    await expect(unary((cb) => client.GetState({}, cb))).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  });
});

interface HealthCheckResponse {
  status: string;
}
const HealthClient = grpc.makeClientConstructor(healthServiceDefinition as grpc.ServiceDefinition, 'Health');

function check(client: grpc.Client, service: string): Promise<HealthCheckResponse> {
  return unary((cb) => (client as unknown as Record<string, Function>).Check.call(client, { service }, cb));
}

describe('grpc.health.v1.Health', () => {

  it('reports SERVING for the server and each service, and follows setStatus', async () => {
    const server = await startServer();
    const client = track(new HealthClient(server.address, grpc.credentials.createInsecure()));

    expect((await check(client, '')).status).toBe('SERVING');
    expect((await check(client, 'berth.v1.Scheduler')).status).toBe('SERVING');
    expect((await check(client, 'berth.v1.Operator')).status).toBe('SERVING');
    await expect(check(client, 'berth.v1.Nope')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    server.health.setStatus('berth.v1.Scheduler', 'NOT_SERVING');
    expect((await check(client, 'berth.v1.Scheduler')).status).toBe('NOT_SERVING');
  });
});

describe('server reflection', () => {
  const reflectionClient = (version: 'v1' | 'v1alpha', address: string) => track(new ReflectionClient(address, version));

  it.each(['v1', 'v1alpha'] as const)('lists exactly the services served, and health (%s)', async (version) => {
    const server = await startServer();
    expect(await reflectionClient(version, server.address).services()).toEqual(['berth.v1.Operator', 'berth.v1.Scheduler', 'grpc.health.v1.Health']);
  });

  it('lists a service added to the running server, which then reports SERVING', async () => {
    const server = await startServer();
    server.addService(agentLinkService({ Connect: (stream) => stream.end() }));
    expect(await reflectionClient('v1', server.address).services()).toEqual(['berth.v1.AgentLink', 'berth.v1.Operator', 'berth.v1.Scheduler', 'grpc.health.v1.Health']);
    const client = track(new HealthClient(server.address, grpc.credentials.createInsecure()));
    expect((await check(client, 'berth.v1.AgentLink')).status).toBe('SERVING');
    expect(() => server.addService(agentLinkService({ Connect: (stream) => stream.end() }))).toThrow(/berth\.v1\.AgentLink is served already/);
  });

  it('describes a message type, so grpcurl can encode calls', async () => {
    const server = await startServer();
    const [file] = await reflectionClient('v1', server.address).files({ file_containing_symbol: 'berth.v1.Call' });
    expect(file!.name).toBe('berth/v1/scheduler.proto');
  });
});

describe('message size limit', () => {
  it('fails an oversized message with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const limit = 64 * 1024;
    const server = await startServer({ maxReceiveMessageLength: limit });
    const client = schedulerClient(server.address);

    const stream = client.Connect();
    const events = new StreamReader<Event__Output>(stream);
    stream.write({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'big', roles: ['*'] } } });
    expect((await events.next()).type).toBe('SUBSCRIBED');
    stream.write({
      type: 'MESSAGE',
      framework_id: { value: FRAMEWORK_ID },
      message: { agent_id: { value: 'agent-1' }, executor_id: { value: 'e' }, data: Buffer.alloc(2 * limit, 7) },
    });
    const error = await events.error;
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    // The server is unharmed: a new stream and a unary call both work.
    const again = client.Connect();
    const againEvents = new StreamReader<Event__Output>(again);
    again.write({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'small', roles: ['*'] } } });
    expect((await againEvents.next()).type).toBe('SUBSCRIBED');
    again.end();
    await againEvents.status;

    const health = await unary<GetHealthResponse__Output>((cb) => operatorClient(server.address).GetHealth({}, cb));
    expect(health.healthy).toBe(true);
  });
});

describe('startGrpcServer', () => {
  it('binds an ephemeral loopback port by default', async () => {
    const server = await startServer();
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    expect(server.serviceNames).toEqual(['berth.v1.Scheduler', 'berth.v1.Operator']);
  });

  it('refuses a service given twice', async () => {
    await expect(startGrpcServer({
      services: [schedulerService(schedulerHandlers), schedulerService(schedulerHandlers)],
    })).rejects.toThrow(/berth\.v1\.Scheduler given twice/);
  });

  it('reports a port that is already taken', async () => {
    const first = await startServer();
    // grpc-js also logs the failed bind to console.error; keep the test output clean.
    const log = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      await expect(startGrpcServer({ services: [], port: first.port })).rejects.toThrow(/cannot bind/);
    } finally {
      log.mockRestore();
    }
  });

  it('shutdown cancels streams that outlive the grace period', async () => {
    const server = await startServer();
    const stream = schedulerClient(server.address).Connect();
    const events = new StreamReader<Event__Output>(stream);
    stream.write({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'stays', roles: ['*'] } } });
    expect((await events.next()).type).toBe('SUBSCRIBED');

    await server.shutdown(100);
    const error = await events.error;
    expect(error?.code).toBeDefined();
    expect(error?.code).not.toBe(grpc.status.OK);
    // Idempotent.
    await server.shutdown(100);
  });
});
