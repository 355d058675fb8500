/**
 * The SDK's SchedulerDriver against real masters over gRPC (fake clocks on both sides), with a fake
 * agent: subscribe and store the id, launch, acknowledge only after the handler, fail over with the
 * stored id and reconcile, follow a standby's pointer to the leader, drop a silent stream, register
 * anew when the master removed the framework.
 */
import { FakeClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { schedulerService } from '../../src/common/rpc/proto';
import { startGrpcServer } from '../../src/common/rpc/server';
import { SchedulerDriver, FRAMEWORK_ID_KEY } from '../../src/frameworks/sdk/driver';
import type { Framework, Registration } from '../../src/frameworks/sdk/framework';
import { fitTask } from '../../src/frameworks/sdk/offer-match';
import { MemoryKeyValueStore } from '../../src/frameworks/sdk/store';
import type { Offer__Output } from '../../src/generated/berth/v1/Offer';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { FakeAgent, Inbox, reportedTask, startTestMaster, TestOperator, waitFor, type TestMaster } from '../support/master-harness';

/** A framework that records what it is told; `failUpdates` makes statusUpdate throw. */
class Recorder implements Framework {
  readonly registrations: Registration[] = [];
  readonly offerBatches = new Inbox<readonly Offer__Output[]>();
  readonly updates = new Inbox<TaskStatus__Output>();
  failUpdates = false;
  disconnects = 0;

  frameworkInfo() {
    return { name: 'recorder', roles: ['*'], failover_timeout: 3600 };
  }

  registered(r: Registration): void {
    this.registrations.push(r);
  }

  offers(offers: readonly Offer__Output[]): void {
    this.offerBatches.push(offers);
  }

  statusUpdate(status: TaskStatus__Output): void {
    this.updates.push(status);
    if (this.failUpdates) throw new Error('handler failed');
  }

  disconnected(): void {
    this.disconnects++;
  }
}

describe('SchedulerDriver', () => {
  const masters: TestMaster[] = [];
  const drivers: SchedulerDriver[] = [];
  const agents: FakeAgent[] = [];
  let clock: FakeClock;
  let store: MemoryKeyValueStore;

  beforeEach(() => {
    clock = new FakeClock(1_000_000);
    store = new MemoryKeyValueStore();
  });

  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.stop();
    for (const a of agents.splice(0)) a.close();
    for (const m of masters.splice(0)) await m.stop();
  });

  async function master(opts: Parameters<typeof startTestMaster>[0] = {}): Promise<TestMaster> {
    const m = await startTestMaster(opts);
    masters.push(m);
    return m;
  }

  async function driver(framework: Framework, addresses: string[]): Promise<SchedulerDriver> {
    const d = new SchedulerDriver({ masters: addresses, framework, clock, store, backoffMinMs: 10, backoffMaxMs: 50, logger: memoryLogger('error') });
    drivers.push(d);
    await d.start();
    return d;
  }

  /** Advances the driver's clock in small steps until `cond` (its re-dial timers run on it). */
  async function drive(cond: () => boolean, what: string): Promise<void> {
    await waitFor(() => {
      clock.advance(10);
      return cond();
    }, what);
  }

  it('subscribes, stores the framework id, launches, and acknowledges an update only once its handler returned', async () => {
    const m = await master();
    const agent = await FakeAgent.register(m.address);
    agents.push(agent);
    const fw = new Recorder();
    const d = await driver(fw, [m.address]);
    await d.whenSubscribed();
    expect(fw.registrations).toEqual([{ frameworkId: d.frameworkId, reregistered: false, master: m.address }]);
    expect(await store.get(FRAMEWORK_ID_KEY)).toBe(d.frameworkId);

    m.clock.advance(1000);
    const [offer] = await fw.offerBatches.next(() => true, 'offers');
    const fit = fitTask(offer!, { cpus: 0.5, mem: 64, ports: 1 });
    if (!fit.ok) throw new Error(fit.message);
    d.launch(offer!, [{ name: 't1', task_id: { value: 't1' }, resources: fit.resources, command: { value: 'true' } }]);
    const run = await agent.nextRun();
    expect(run.run_task!.task!.task_id!.value).toBe('t1');

    fw.failUpdates = true;
    agent.status(d.frameworkId!, 't1', 'TASK_RUNNING');
    await fw.updates.next((u) => u.state === 'TASK_RUNNING', 'TASK_RUNNING at the framework');
    // The handler threw: no acknowledgement reaches the agent.
    await new Promise((r) => setTimeout(r, 100));
    expect(agent.messages.log.some((x) => x.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT')).toBe(false);

    fw.failUpdates = false;
    agent.status(d.frameworkId!, 't1', 'TASK_FINISHED');
    await fw.updates.next((u) => u.state === 'TASK_FINISHED', 'TASK_FINISHED at the framework');
    const ack = await agent.messages.next((x) => x.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT', 'the acknowledgement');
    expect(ack.status_update_acknowledgement!.task_id!.value).toBe('t1');
  });

  it('a new driver with the same store fails over to the same framework id and reconciles what it asks for', async () => {
    const m = await master();
    const agent = await FakeAgent.register(m.address);
    agents.push(agent);
    const first = new Recorder();
    const d1 = await driver(first, [m.address]);
    await d1.whenSubscribed();
    m.clock.advance(1000);
    const [offer] = await first.offerBatches.next(() => true, 'offers');
    const fit = fitTask(offer!, { cpus: 0.5, mem: 64 });
    if (!fit.ok) throw new Error(fit.message);
    d1.launch(offer!, [{ name: 'keep', task_id: { value: 'keep' }, resources: fit.resources, command: { value: 'sleep 100' } }]);
    await agent.nextRun();
    agent.status(d1.frameworkId!, 'keep', 'TASK_RUNNING');
    await first.updates.next((u) => u.state === 'TASK_RUNNING', 'TASK_RUNNING');
    await d1.stop();
    drivers.splice(drivers.indexOf(d1), 1);

    const second = new Recorder();
    const d2 = await driver(second, [m.address]);
    await d2.whenSubscribed();
    expect(d2.frameworkId).toBe(d1.frameworkId);
    expect(second.registrations[0]).toMatchObject({ reregistered: true });
    d2.reconcile([{ taskId: 'keep' }, { taskId: 'never-launched' }]);
    const running = await second.updates.next((u) => u.task_id?.value === 'keep', 'the reconciled state of keep');
    expect(running.state).toBe('TASK_RUNNING');
    const unknown = await second.updates.next((u) => u.task_id?.value === 'never-launched', 'the reconciled state of an unknown task');
    expect(['TASK_UNKNOWN', 'TASK_LOST', 'TASK_GONE', 'TASK_DROPPED']).toContain(unknown.state);
  });

  it('across a master failover it asks about its tasks once and learns their states as their agent returns', async () => {
    const m1 = await master();
    const m2 = await master({ store: m1.store, autoElect: false });
    const agent = await FakeAgent.register(m1.address);
    const fw = new Recorder();
    const d = await driver(fw, [m1.address, m2.address]);
    await d.whenSubscribed();
    m1.clock.advance(1000);
    const [offer] = await fw.offerBatches.next(() => true, 'offers');
    const fit = fitTask(offer!, { cpus: 0.5, mem: 64 });
    if (!fit.ok) throw new Error(fit.message);
    d.launch(offer!, [{ name: 'keep', task_id: { value: 'keep' }, resources: fit.resources, command: { value: 'sleep 100' } }]);
    const run = await agent.nextRun();
    agent.status(d.frameworkId!, 'keep', 'TASK_RUNNING');
    await fw.updates.next((u) => u.state === 'TASK_RUNNING', 'TASK_RUNNING');
    await agent.messages.next((x) => x.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT', 'the acknowledgement');
    agent.close();
    await m1.stop();

    m2.election.elect(); // the new leader expects the agent back; it knows no task yet
    await drive(() => d.connected && d.master === m2.address, 'the re-subscription at the new leader');
    const subscribedAt = clock.now();
    const core = () => m2.daemon.core!;
    await drive(() => core().tasks.pending.sizeOf(d.frameworkId!) === 1, 'the ask about keep to be remembered');
    expect(fw.updates.log.filter((u) => u.task_id?.value === 'keep')).toHaveLength(1); // the RUNNING before the failover only

    const back = await FakeAgent.register(m2.address, { id: agent.agentId, frameworks: [run.run_task!.framework_info as never], tasks: [reportedTask(d.frameworkId!, 'keep', 'cpus:0.5;mem:64')] });
    agents.push(back);
    const answer = await fw.updates.next((u) => u.task_id?.value === 'keep', 'the answer when the agent returns');
    expect([answer.state, answer.reason]).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION']);
    expect(clock.now() - subscribedAt).toBeLessThan(60_000); // before the driver's safety re-ask: answered from the one ask
    expect(core().tasks.pending.size).toBe(0);
  });

  it('follows a standby\'s pointer to the leader', async () => {
    const leader = await master();
    const standby = await master({ store: leader.store, autoElect: false });
    standby.election.current = { id: 'leader', grpcAddress: leader.address } as never;
    const fw = new Recorder();
    const d = await driver(fw, [standby.address]);
    await drive(() => d.connected, 'subscription at the leader');
    expect(d.master).toBe(leader.address);
    expect(fw.registrations).toHaveLength(1);
  });

  it('drops a stream that stays silent for 5 heartbeat intervals and subscribes again', async () => {
    const m = await master({ heartbeatIntervalMs: 1000 });
    const fw = new Recorder();
    const d = await driver(fw, [m.address]);
    await d.whenSubscribed();
    clock.advance(4_999); // the master's heartbeats run on its own (unadvanced) clock: silence
    expect(d.connected).toBe(true);
    clock.advance(1);
    expect(d.connected).toBe(false);
    await drive(() => d.connected, 're-subscription');
    expect(fw.registrations.map((r) => r.reregistered)).toEqual([false, true]);
    expect(fw.disconnects).toBe(1);
  });

  it('registers anew when the master has removed the framework', async () => {
    const m = await master();
    const fw = new Recorder();
    const d1 = await driver(fw, [m.address]);
    await d1.whenSubscribed();
    const oldId = d1.frameworkId!;
    await d1.stop();
    drivers.splice(drivers.indexOf(d1), 1);
    const operator = new TestOperator(m.address);
    await operator.call('Teardown', { framework_id: { value: oldId } });

    const again = new Recorder();
    const d2 = await driver(again, [m.address]);
    await drive(() => d2.connected, 'a new registration');
    expect(d2.frameworkId).not.toBe(oldId);
    expect(await store.get(FRAMEWORK_ID_KEY)).toBe(d2.frameworkId);
  });

  it('drops a stream the master accepted but never answers, and dials again', async () => {
    let streams = 0;
    const silent = await startGrpcServer({ services: [schedulerService({ Connect: () => void streams++ } as never)] });
    try {
      const fw = new Recorder();
      const d = new SchedulerDriver({ masters: [silent.address], framework: fw, clock, store, backoffMinMs: 10, subscribeTimeoutMs: 5_000, logger: memoryLogger('error') });
      drivers.push(d);
      await d.start();
      await waitFor(() => streams === 1, 'the first stream');
      clock.advance(4_999);
      expect(streams).toBe(1);
      clock.advance(1);
      await drive(() => streams === 2, 'a second stream after the subscribe timeout');
      expect(d.connected).toBe(false);
    } finally {
      await silent.shutdown(0);
    }
  });
});

