import * as grpc from '@grpc/grpc-js';
import type { AgentState__Output } from '../../src/generated/berth/v1/AgentState';
import type { GetAgentsResponse__Output } from '../../src/generated/berth/v1/GetAgentsResponse';
import type { MasterMessage__Output } from '../../src/generated/berth/v1/MasterMessage';
import type { Offer__Output } from '../../src/generated/berth/v1/Offer';
import { berthServiceDefinitions } from '../../src/common/rpc/proto';
import {
  closeAfterEach, FakeAgent, Inbox, launch, reportedTask, scalar, startTestMaster, TestOperator, TestScheduler, waitFor, type FakeAgentOptions, type TestMaster,
} from '../support/master-harness';
import { timeFromWire } from '../../src/common/wire';

const PING_TIMEOUT_MS = 10_000;
const MAX_PING_TIMEOUTS = 3;
/** How long an agent may stay silent (or away) before the master declares it unreachable. */
const UNREACHABLE_AFTER_MS = PING_TIMEOUT_MS * MAX_PING_TIMEOUTS;

/**
 * Agents over real gRPC: the ping timeout that makes an agent unreachable and what its tasks'
 * frameworks are told, an unreachable agent coming back, a stream that breaks briefly, and the
 * operator's MarkAgentGone, DrainAgent and Deactivate/ReactivateAgent.
 */
describe('master: agents', () => {
  let master: TestMaster;
  let operator: TestOperator;
  const track = closeAfterEach();

  beforeEach(async () => {
    master = await startTestMaster({ agentPingTimeoutMs: PING_TIMEOUT_MS, maxAgentPingTimeouts: MAX_PING_TIMEOUTS });
    operator = track(new TestOperator(master.address));
  });

  afterEach(async () => {
    await master.stop();
  });

  const agent = async (opts: FakeAgentOptions = {}) => track(await FakeAgent.register(master.address, opts));
  const framework = async (partitionAware: boolean) =>
    track(await TestScheduler.subscribe(master.address, { name: partitionAware ? 'aware' : 'unaware', failover_timeout: 3600, capabilities: partitionAware ? [{ type: 'PARTITION_AWARE' }] : [] }));

  /** Runs one allocation cycle and returns the offers `fw` gets. */
  async function offered(fw: TestScheduler): Promise<Offer__Output[]> {
    master.clock.advance(1000); // the allocation interval
    return (await fw.nextOffers()).offers!.offers;
  }

  const agentsIn = (offers: readonly Offer__Output[]) => offers.map((o) => o.agent_id!.value).sort();

  /**
   * Launches `taskIds` on `on` from `fw`'s next offers (declining the others) and brings them to
   * RUNNING, acknowledged. `refuseSeconds` filters the rest of `on` for `fw`.
   */
  async function running(fw: TestScheduler, on: FakeAgent, taskIds: string[], refuseSeconds = 3600): Promise<void> {
    const offers = await offered(fw);
    const offer = offers.find((o) => o.agent_id!.value === on.agentId);
    expect(offer).toBeDefined();
    const others = offers.filter((o) => o !== offer).map((o) => o.id!);
    if (others.length > 0) fw.send({ type: 'DECLINE', decline: { offer_ids: others, filters: { refuse_seconds: 0 } } });
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: taskIds.map((id) => launch(offer!, id, 'cpus:1;mem:128')), filters: { refuse_seconds: refuseSeconds } } });
    for (const id of taskIds) {
      expect((await on.nextRun()).run_task!.task!.task_id!.value).toBe(id);
      on.status(fw.frameworkId, id, 'TASK_RUNNING');
      fw.ack(await fw.nextUpdate(id, 'TASK_RUNNING'));
      await on.messages.next((m) => m.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT' && m.status_update_acknowledgement!.task_id!.value === id, `ack of ${id}`);
    }
  }

  async function agentState(agentId: string): Promise<AgentState__Output> {
    const { agents } = await operator.call<GetAgentsResponse__Output>('GetAgents', { include_gone: true });
    const found = agents.find((a) => a.agent_info!.id!.value === agentId);
    if (found === undefined) throw new Error(`agent ${agentId} not in GetAgents`);
    return found;
  }

  /**
   * One agent running a task of a partition-aware framework ("aware-1") and one of a framework
   * that is not ("unaware-1"); the latter also holds an outstanding offer of the agent's rest.
   */
  async function agentWithTwoFrameworks() {
    const registeredAt = master.clock.now();
    const a = await agent();
    const aware = await framework(true);
    await running(aware, a, ['aware-1']); // aware refuses the agent's rest for an hour
    const unaware = await framework(false);
    await running(unaware, a, ['unaware-1'], 0);
    const [held] = await offered(unaware);
    expect(held!.agent_id!.value).toBe(a.agentId);
    return { agent: a, registeredAt, aware, unaware, held: held! };
  }

  const reportedTasks = (aware: TestScheduler, unaware: TestScheduler) => [
    reportedTask(aware.frameworkId, 'aware-1', 'cpus:1;mem:128'),
    reportedTask(unaware.frameworkId, 'unaware-1', 'cpus:1;mem:128'),
  ];

  /**
   * When the master sends the first PING an agent that goes silent now will not answer: it pings
   * every PING_TIMEOUT_MS from the agent's registration.
   */
  const firstIgnoredPing = (registeredAt: number) => registeredAt + (Math.floor((master.clock.now() - registeredAt) / PING_TIMEOUT_MS) + 1) * PING_TIMEOUT_MS;
  const advanceTo = (time: number) => master.clock.advance(time - master.clock.now());

  describe('ping timeout', () => {
    test(`an agent that stops answering PINGs is unreachable after ${PING_TIMEOUT_MS} ms × ${MAX_PING_TIMEOUTS}: UNREACHABLE to partition-aware frameworks, LOST to others, offers rescinded`, async () => {
      const { agent: a, registeredAt, aware, unaware, held } = await agentWithTwoFrameworks();
      a.answerPings = false;
      const silentSince = firstIgnoredPing(registeredAt);

      advanceTo(silentSince + UNREACHABLE_AFTER_MS - 1);
      expect((await agentState(a.agentId)).lifecycle).toBe('REGISTERED');
      expect(a.messages.log.filter((m) => m.type === 'PING').length).toBeGreaterThanOrEqual(MAX_PING_TIMEOUTS);

      master.clock.advance(1);
      const unreachable = await aware.nextUpdate('aware-1');
      expect([unreachable.state, unreachable.reason, unreachable.source]).toEqual(['TASK_UNREACHABLE', 'REASON_AGENT_UNREACHABLE', 'SOURCE_MASTER']);
      const lost = await unaware.nextUpdate('unaware-1');
      expect([lost.state, lost.reason]).toEqual(['TASK_LOST', 'REASON_AGENT_UNREACHABLE']);
      const rescind = await unaware.events.next((e) => e.type === 'RESCIND', 'RESCIND');
      expect(rescind.rescind!.offer_id!.value).toBe(held.id!.value);

      const state = await agentState(a.agentId);
      expect([state.lifecycle, state.connected]).toEqual(['UNREACHABLE', false]);
      expect(((await a.messages.whenEnded('the unreachable agent stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
    });

    /** What the frameworks were told of their tasks other than by reconciliation answers. */
    const toldOutright = (...fws: TestScheduler[]) =>
      fws.flatMap((fw) => fw.events.log.filter((e) => e.type === 'UPDATE' && e.update!.status!.reason !== 'REASON_RECONCILIATION' && e.update!.status!.state !== 'TASK_RUNNING').map((e) => e.update!.status!.state));
    /** The task's state by a reconciliation answer: on one stream, it comes after anything told before. */
    async function reconciled(fw: TestScheduler, taskId: string): Promise<[string, string]> {
      fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: taskId } }] } });
      const s = await fw.nextUpdate(taskId);
      return [s.state, s.reason];
    }
    const record = (agentId: string) => master.store.records.get(`agents/${agentId}`) as { lifecycle: string; unreachableAt?: number } | undefined;

    test('declared unreachable only once the registry holds it: meanwhile the agent is cut off and refused and nobody is told; a failed write tells nobody and is tried again', async () => {
      const { agent: a, registeredAt, aware, unaware, held } = await agentWithTwoFrameworks();
      a.answerPings = false;
      const release = master.store.hold();
      advanceTo(firstIgnoredPing(registeredAt) + UNREACHABLE_AFTER_MS);
      const markedAt = master.clock.now();
      // Cut off at once: its stream ends, its offer is rescinded.
      expect(((await a.messages.whenEnded('the silent agent stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      expect((await unaware.events.next((e) => e.type === 'RESCIND', 'RESCIND')).rescind!.offer_id!.value).toBe(held.id!.value);
      // While the registry write is in flight, coming back is refused (to be tried again) and nobody is told.
      const again = track(FakeAgent.connect(master.address, { id: a.agentId, tasks: reportedTasks(aware, unaware) }));
      const refused = (await again.messages.whenEnded('the re-registration while marked')) as grpc.ServiceError;
      expect([refused.code, refused.details]).toEqual([grpc.status.UNAVAILABLE, `agent ${a.agentId} is being marked unreachable; re-register again shortly`]);
      expect(await reconciled(aware, 'aware-1')).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION']);
      expect(await reconciled(unaware, 'unaware-1')).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION']);
      expect(toldOutright(aware, unaware)).toEqual([]);

      // The write fails: still nobody is told, and the registry holds the agent as it was.
      master.store.failWrites = new Error('disk full');
      release();
      await waitFor(() => master.logs.messages('error').includes('could not record the agent as unreachable; trying again'), 'the failed write');
      expect(await reconciled(unaware, 'unaware-1')).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION']);
      expect(toldOutright(aware, unaware)).toEqual([]);
      expect(record(a.agentId)!.lifecycle).toBe('REGISTERED');
      expect((await agentState(a.agentId)).lifecycle).toBe('REGISTERED');

      // Tried again after another timeout, durably this time: then the frameworks are told, with since when.
      master.store.failWrites = undefined;
      master.clock.advance(UNREACHABLE_AFTER_MS);
      const unreachable = await aware.nextUpdate('aware-1', 'TASK_UNREACHABLE');
      const lost = await unaware.nextUpdate('unaware-1', 'TASK_LOST');
      for (const s of [unreachable, lost]) expect(timeFromWire(s.unreachable_time)).toBe(markedAt + UNREACHABLE_AFTER_MS);
      expect(record(a.agentId)).toMatchObject({ lifecycle: 'UNREACHABLE', unreachableAt: markedAt + UNREACHABLE_AFTER_MS });
      expect((await agentState(a.agentId)).lifecycle).toBe('UNREACHABLE');
    });

    test('a master deposed before its unreachable mark is durable tells nobody (a leader thawed after a stall: its successor never saw the mark)', async () => {
      const { agent: a, registeredAt, aware, unaware } = await agentWithTwoFrameworks();
      a.answerPings = false;
      const release = master.store.hold();
      advanceTo(firstIgnoredPing(registeredAt) + UNREACHABLE_AFTER_MS);
      await a.messages.whenEnded('the silent agent stream');
      master.store.open(master.store.term + 1); // a successor took over: this master's writes are fenced
      release();
      for (const fw of [aware, unaware]) await fw.events.whenEnded(`${fw === aware ? 'aware' : 'unaware'} framework stream of the deposed master`);
      expect(toldOutright(aware, unaware)).toEqual([]);
      expect(record(a.agentId)!.lifecycle).toBe('REGISTERED');
    });

    test('an unreachable agent that re-registers: partition-aware tasks are adopted and reconcile as RUNNING, the others are killed', async () => {
      const { agent: a, registeredAt, aware, unaware } = await agentWithTwoFrameworks();
      a.answerPings = false;
      advanceTo(firstIgnoredPing(registeredAt) + UNREACHABLE_AFTER_MS);
      await aware.nextUpdate('aware-1', 'TASK_UNREACHABLE');
      await unaware.nextUpdate('unaware-1', 'TASK_LOST');

      const back = await agent({ id: a.agentId, tasks: reportedTasks(aware, unaware) });
      const kill = await back.messages.next((m) => m.type === 'KILL_TASK', 'KILL_TASK');
      expect([kill.kill_task!.framework_id!.value, kill.kill_task!.task_id!.value]).toEqual([unaware.frameworkId, 'unaware-1']);
      // The agent is told it is back before it is told what to kill; nothing of the aware framework is killed.
      const types = back.messages.log.map((m) => m.type);
      expect(types.indexOf('REREGISTERED')).toBeLessThan(types.indexOf('KILL_TASK'));
      expect(back.messages.log.filter((m) => m.type === 'KILL_TASK')).toHaveLength(1);

      aware.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'aware-1' } }] } });
      const reconciled = await aware.nextUpdate('aware-1');
      expect([reconciled.state, reconciled.reason]).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION']);
      expect((await agentState(a.agentId)).lifecycle).toBe('REGISTERED');
    });

    test('an agent stream that breaks and comes back within the timeout keeps its tasks, and no framework hears of it', async () => {
      const { agent: a, aware, unaware, held } = await agentWithTwoFrameworks();
      a.close();
      // The master notices the break: the agent's offers are rescinded at once.
      expect((await unaware.events.next((e) => e.type === 'RESCIND', 'RESCIND')).rescind!.offer_id!.value).toBe(held.id!.value);
      master.clock.advance(UNREACHABLE_AFTER_MS - 1000);

      const back = await agent({ id: a.agentId, tasks: reportedTasks(aware, unaware) });
      master.clock.advance(2000); // past the moment the agent would have been declared unreachable
      expect((await agentState(a.agentId)).lifecycle).toBe('REGISTERED');

      for (const fw of [aware, unaware]) {
        const taskId = fw === aware ? 'aware-1' : 'unaware-1';
        fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: taskId } }] } });
        expect((await fw.nextUpdate(taskId)).state).toBe('TASK_RUNNING');
        expect(fw.events.log.filter((e) => e.type === 'UPDATE' && e.update!.status!.reason !== 'REASON_RECONCILIATION' && e.update!.status!.state !== 'TASK_RUNNING')).toEqual([]);
      }
      expect(back.messages.log.filter((m) => m.type === 'KILL_TASK')).toEqual([]);
      // And what its tasks leave free is offered again.
      expect(scalar((await agentState(a.agentId)).offered_resources, 'cpus')).toBe(2);
    });

    test('an agent that reconnects before its old stream is noticed closed: its outstanding offers are rescinded, then offered anew', async () => {
      const a = await agent({ resources: 'cpus:2;mem:1024' });
      const fw = await framework(true);
      const [offer] = await offered(fw);

      const second = await agent({ id: a.agentId, resources: 'cpus:2;mem:1024' });
      expect(((await a.messages.whenEnded('the superseded stream')) as grpc.ServiceError).code).toBe(grpc.status.ABORTED);
      expect((await fw.events.next((e) => e.type === 'RESCIND', 'RESCIND')).rescind!.offer_id!.value).toBe(offer!.id!.value);
      const [again] = await offered(fw);
      expect(again!.agent_id!.value).toBe(second.agentId);
      expect(again!.resources.find((r) => r.name === 'cpus')!.scalar!.value).toBe(2);
    });
  });

  test('MarkAgentGone: its tasks are GONE_BY_OPERATOR (LOST to others), it is shut down, and its later REREGISTER is refused with SHUTDOWN', async () => {
    const { agent: a, aware, unaware } = await agentWithTwoFrameworks();
    await operator.call('MarkAgentGone', { agent_id: { value: a.agentId } });

    const gone = await aware.nextUpdate('aware-1');
    expect([gone.state, gone.reason]).toEqual(['TASK_GONE_BY_OPERATOR', 'REASON_AGENT_REMOVED_BY_OPERATOR']);
    expect((await unaware.nextUpdate('unaware-1')).state).toBe('TASK_LOST');
    await a.messages.next((m) => m.type === 'SHUTDOWN', 'SHUTDOWN');
    await a.messages.whenEnded('the gone agent stream');
    expect((await agentState(a.agentId)).lifecycle).toBe('GONE');

    const again = track(FakeAgent.connect(master.address, { id: a.agentId, tasks: reportedTasks(aware, unaware) }));
    const shutdown = await again.messages.next((m) => m.type === 'SHUTDOWN', 'SHUTDOWN');
    expect(shutdown.shutdown!.message).toMatch(/marked gone/);
    expect(((await again.messages.whenEnded('the refused stream')) as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(again.messages.log.map((m) => m.type)).not.toContain('REREGISTERED');
  });

  test('DrainAgent: every task is killed, the agent offers nothing, and it is DRAINED once its tasks are done and acknowledged', async () => {
    const draining = await agent({ hostname: 'draining' });
    const other = await agent({ hostname: 'other' });
    const fw = await framework(true);
    await running(fw, draining, ['t1', 't2'], 0);
    const before = await offered(fw);
    expect(agentsIn(before)).toEqual([draining.agentId, other.agentId].sort());

    await operator.call('DrainAgent', { agent_id: { value: draining.agentId }, max_grace_period: { nanoseconds: String(10e9) } });
    const killed = [];
    for (let i = 0; i < 2; i++) killed.push((await draining.messages.next((m) => m.type === 'KILL_TASK', 'KILL_TASK')).kill_task!);
    expect(killed.map((k) => k.task_id!.value).sort()).toEqual(['t1', 't2']);
    expect(killed.every((k) => k.kill_policy?.grace_period?.nanoseconds === String(10e9))).toBe(true);
    const drainOffer = before.find((o) => o.agent_id!.value === draining.agentId)!;
    expect((await fw.events.next((e) => e.type === 'RESCIND', 'RESCIND')).rescind!.offer_id!.value).toBe(drainOffer.id!.value);

    // No new offers from it: the next cycle offers only the other agent.
    fw.send({ type: 'DECLINE', decline: { offer_ids: before.filter((o) => o !== drainOffer).map((o) => o.id!), filters: { refuse_seconds: 0 } } });
    await fw.settled();
    expect(agentsIn(await offered(fw))).toEqual([other.agentId]);

    for (const taskId of ['t1', 't2']) {
      expect((await agentState(draining.agentId)).drain_info!.state).toBe('DRAINING');
      draining.status(fw.frameworkId, taskId, 'TASK_KILLED');
      fw.ack(await fw.nextUpdate(taskId, 'TASK_KILLED'));
      await fw.settled();
    }
    const drained = await agentState(draining.agentId);
    expect([drained.drain_info!.state, drained.lifecycle]).toEqual(['DRAINED', 'REGISTERED']);
  });

  test('DeactivateAgent stops offers from an agent (rescinding outstanding ones); ReactivateAgent resumes them', async () => {
    const a = await agent({ hostname: 'a' });
    const b = await agent({ hostname: 'b' });
    const fw = await framework(false);
    const offers = await offered(fw);
    expect(agentsIn(offers)).toEqual([a.agentId, b.agentId].sort());

    await operator.call('DeactivateAgent', { agent_id: { value: a.agentId } });
    const ofA = offers.find((o) => o.agent_id!.value === a.agentId)!;
    expect((await fw.events.next((e) => e.type === 'RESCIND', 'RESCIND')).rescind!.offer_id!.value).toBe(ofA.id!.value);
    expect((await agentState(a.agentId)).deactivated).toBe(true);
    fw.send({ type: 'DECLINE', decline: { offer_ids: [offers.find((o) => o !== ofA)!.id!], filters: { refuse_seconds: 0 } } });
    await fw.settled();
    const whileDeactivated = await offered(fw);
    expect(agentsIn(whileDeactivated)).toEqual([b.agentId]);

    await operator.call('ReactivateAgent', { agent_id: { value: a.agentId } });
    expect(agentsIn(await offered(fw))).toEqual([a.agentId]);
    expect((await agentState(a.agentId)).deactivated).toBe(false);
  });

  it('ends a stream whose bytes are not an AgentMessage with INVALID_ARGUMENT, before or after registering, and keeps serving', async () => {
    // AgentLink.Connect hands the master each request's bytes, decoded only when handled: bytes
    // that are no AgentMessage must still end that stream with a status naming the problem.
    const connect = berthServiceDefinitions().AgentLink.Connect;
    const client = new grpc.Client(master.address, grpc.credentials.createInsecure());
    const rawStream = () => {
      const inbox = new Inbox<MasterMessage__Output>();
      const stream = client.makeBidiStreamRequest('/berth.v1.AgentLink/Connect', (b: Buffer) => b, (b: Buffer) => connect.responseDeserialize(b));
      stream.on('data', (m: MasterMessage__Output) => inbox.push(m));
      stream.on('error', (err) => inbox.end(err));
      return { inbox, stream };
    };
    const junk = Buffer.from([0x07]); // field 0, wire type 7: no decoder accepts it
    try {
      const first = rawStream();
      first.stream.write(junk);
      const err = (await first.inbox.whenEnded('a stream that opened with junk')) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/^not a valid berth\.v1\.AgentMessage \(1 bytes\): /);

      const registered = rawStream();
      registered.stream.write(connect.requestSerialize({ type: 'REGISTER', register: { agent_info: { hostname: 'raw', resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }] }, version: 'test' } }));
      const agentId = (await registered.inbox.next((m) => m.type === 'REGISTERED', 'REGISTERED')).registered!.agent_id!.value;
      expect((await agentState(agentId)).connected).toBe(true);
      registered.stream.write(junk);
      expect(((await registered.inbox.whenEnded('a registered stream that sent junk')) as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
      expect((await agentState(agentId)).connected).toBe(false);
    } finally {
      client.close();
    }
    expect((await agent({ hostname: 'after' })).agentId).not.toBe('');
  });
});
