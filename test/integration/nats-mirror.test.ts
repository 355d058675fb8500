/**
 * The event mirror publishes each event on berth.events.<kind> and into the BERTH_EVENTS stream
 * (fire and forget), and when NATS is away it neither throws nor buffers: drops are counted.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { memoryLogger } from '../../src/common/logging';
import { mirroredEvent, NatsEventMirror } from '../../src/master/registry/nats-mirror';
import { Resources } from '../../src/common/resources';
import { startNats, type NatsTestServers } from '../support/nats';

jest.setTimeout(30_000);

let nats: NatsTestServers;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.urls[0], reconnectTimeWait: 100, maxReconnectAttempts: -1 });
});

afterAll(async () => {
  await nc?.close();
  await nats?.cleanup();
});

test('events reach live subscribers and the stream, under subjects named by kind', async () => {
  const mirror = await NatsEventMirror.create({ nc, maxMessages: 1000 });
  const received: Array<{ subject: string; event: unknown }> = [];
  const sub = nc.subscribe('berth.events.>', { callback: (_, m) => void received.push({ subject: m.subject, event: m.json() }) });
  await nc.flush();

  mirror.publish({ kind: 'TASK_UPDATED', taskId: 't1', state: 'TASK_RUNNING' });
  mirror.publish({ kind: 'agent.added', agentId: 'a1' });
  mirror.publish({ kind: 'odd kind*', n: 1 });
  await mirror.flush();
  await nc.flush();
  sub.unsubscribe();

  expect(received).toEqual([
    { subject: 'berth.events.TASK_UPDATED', event: { kind: 'TASK_UPDATED', taskId: 't1', state: 'TASK_RUNNING' } },
    { subject: 'berth.events.agent.added', event: { kind: 'agent.added', agentId: 'a1' } },
    { subject: 'berth.events.odd_kind_', event: { kind: 'odd kind*', n: 1 } },
  ]);
  const info = await (await jetstreamManager(nc)).streams.info('BERTH_EVENTS');
  expect(info.state.messages).toBe(3);
  expect(info.config.max_msgs).toBe(1000);
  expect(mirror.stats()).toEqual({ published: 3, failed: 0, dropped: 0 });
  await mirror.close();
  mirror.publish({ kind: 'late' });
  expect(mirror.stats().dropped).toBe(1);
});

test('with NATS down, publishing never throws and buffers nothing: events are dropped and counted until it is back', async () => {
  const logger = memoryLogger();
  const mirror = await NatsEventMirror.create({ nc, timeoutMs: 500, logger });
  await nats.stop(0);
  // The client notices the disconnection on its own; wait for the mirror to see it (bounded).
  for (const end = Date.now() + 10_000; mirror.connected && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  expect(mirror.connected).toBe(false);
  for (let i = 0; i < 10; i++) expect(() => mirror.publish({ kind: 'TASK_UPDATED', i })).not.toThrow();
  expect(mirror.stats()).toEqual({ published: 0, failed: 0, dropped: 10 });
  expect(logger.messages('warn')).toHaveLength(1); // once when NATS goes away, not per event

  await nats.restart(0);
  for (const end = Date.now() + 10_000; !mirror.connected && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  expect(mirror.connected).toBe(true);
  const circular: { kind: string; self?: unknown } = { kind: 'x' };
  circular.self = circular;
  expect(() => mirror.publish(circular)).not.toThrow();
  mirror.publish({ kind: 'TASK_UPDATED', i: 10 });
  expect(mirror.stats()).toEqual({ published: 0, failed: 1, dropped: 10 }); // handed to NATS on the next turn
  await new Promise((r) => setImmediate(r));
  expect(mirror.stats()).toEqual({ published: 1, failed: 1, dropped: 10 });
  await mirror.close();
});

test('the events of one turn go to NATS together after it, in order; events of the next turn follow', async () => {
  const mirror = await NatsEventMirror.create({ nc, stream: 'BERTH_EVENTS_BATCH', subjectPrefix: 'batch.events' });
  const received: number[] = [];
  const sub = nc.subscribe('batch.events.>', { callback: (_, m) => void received.push((m.json() as { i: number }).i) });
  await nc.flush();
  for (let i = 0; i < 500; i++) mirror.publish({ kind: i % 2 === 0 ? 'TASK_ADDED' : 'TASK_UPDATED', i });
  expect(mirror.stats().published).toBe(0);
  await new Promise((r) => setImmediate(r));
  expect(mirror.stats().published).toBe(500);
  mirror.publish({ kind: 'AGENT_ADDED', i: 500 });
  await mirror.flush(); // hands over what is queued, then a round trip
  await nc.flush();
  sub.unsubscribe();
  expect(received).toEqual(Array.from({ length: 501 }, (_, i) => i));
  expect(mirror.stats()).toEqual({ published: 501, failed: 0, dropped: 0 });
  await mirror.close();
});

test('TASK_ADDED is mirrored as a summary of the task, not the master\'s whole entry', () => {
  const entry = {
    key: 'k', taskId: 't1', frameworkId: 'f1', agentId: 'a1', role: 'web', resources: Resources.parse('cpus:0.5;mem:64'),
    info: { name: 'web-1', command: { value: 'serve' } }, state: 'TASK_STAGING', status: undefined, recovered: false, launchedAt: 1,
  };
  const event = { sequence: 7, kind: 'TASK_ADDED' as const, time: 1, payload: { frameworkId: 'f1', taskId: 't1', entry } };
  expect(mirroredEvent(event as never)).toEqual({
    sequence: 7, kind: 'TASK_ADDED', time: 1,
    payload: { frameworkId: 'f1', taskId: 't1', task: { taskId: 't1', frameworkId: 'f1', agentId: 'a1', role: 'web', state: 'TASK_STAGING', name: 'web-1', resources: 'cpus:0.5;mem:64' } },
  });
  const launched = { ...event, payload: { ...event.payload, origin: 'launch' } };
  expect(mirroredEvent(launched as never)?.payload).toEqual({ ...(mirroredEvent(event as never)!.payload), origin: 'launch' });
  // Re-adopted from a re-registering agent: announced when launched, not again.
  const reported = { ...event, payload: { ...event.payload, origin: 'agent' } };
  expect(mirroredEvent(reported as never)).toBeUndefined();
  const other = { sequence: 8, kind: 'AGENT_ADDED' as const, time: 1, payload: { agentId: 'a1' } };
  expect(mirroredEvent(other as never)).toBe(other);
});
