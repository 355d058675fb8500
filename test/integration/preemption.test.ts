import type { Event__Output } from '../../src/generated/berth/v1/Event';
import type { FrameworkInfo } from '../../src/generated/berth/v1/FrameworkInfo';
import type { MasterMessage__Output } from '../../src/generated/berth/v1/MasterMessage';
import { MasterMetrics } from '../../src/master/metrics';
import { closeAfterEach, FakeAgent, launch, startTestMaster, TestOperator, TestScheduler, waitFor, type TestMaster } from '../support/master-harness';

/**
 * Priority preemption over real gRPC (docs/preemption.md): a master (fake clock) with priority
 * classes and preemption enabled for role "prod", simulated agents on loopback sockets, a
 * low-priority framework filling the cluster with tasks and a high-priority one declaring a gang
 * that free resources cannot hold. The victims get a KILL with the configured grace and end
 * TASK_KILLED with REASON_CONTAINER_PREEMPTED; the freed agents go to the gang (nobody else is
 * offered them meanwhile); Watch reports the decision; a disruption budget is never exceeded;
 * unknown classes are refused at the edge; a role without preemption never preempts.
 */
describe('master: priority preemption', () => {
  let master: TestMaster;
  let metrics: MasterMetrics;
  const track = closeAfterEach();

  beforeEach(async () => {
    metrics = new MasterMetrics();
    master = await startTestMaster({ metrics, allocationIntervalMs: 1000, priorityClasses: { low: -10, high: 100 }, preemption: { roles: ['prod'], killGraceMs: 3000 } });
  });

  afterEach(async () => {
    await master.stop();
  });

  async function agents(n: number): Promise<FakeAgent[]> {
    const out: FakeAgent[] = [];
    for (let i = 0; i < n; i++) out.push(track(await FakeAgent.register(master.address, { hostname: `h${i}`, resources: 'cpus:2;mem:1024' })));
    return out;
  }

  /** A low-priority framework running one 2-cpu task on every agent (all RUNNING). */
  async function fill(all: FakeAgent[], extra: (i: number) => Record<string, unknown> = () => ({})): Promise<TestScheduler> {
    const low = track(await TestScheduler.subscribe(master.address, { name: 'batch', roles: ['batch'], priority_class: 'low' }));
    master.clock.advance(1000);
    const offers = (await low.nextOffers()).offers!.offers;
    expect(offers).toHaveLength(all.length);
    offers.forEach((o, i) => low.send({ type: 'ACCEPT', accept: { offer_ids: [o.id!], operations: [launch(o, `low-${i}`, 'cpus:2;mem:512', extra(i))] } }));
    for (const a of all) {
      const run = await a.nextRun();
      a.status(low.frameworkId, run.run_task!.task!.task_id!.value, 'TASK_RUNNING');
    }
    for (let i = 0; i < all.length; i++) low.ack(await low.nextUpdate(`low-${i}`, 'TASK_RUNNING'));
    return low;
  }

  function gangFramework(count: number, role = 'prod'): Promise<TestScheduler> {
    const info: Partial<FrameworkInfo> = {
      name: 'trainer',
      roles: [role],
      priority_class: 'high',
      demand: { [role]: { shapes: [], gangs: [{ gang_id: 'train', shapes: [{ resources: [{ name: 'cpus', value: 2 }, { name: 'mem', value: 256 }], count }], spread: { kind: 'ONE_PER_AGENT' } }] } },
    };
    return TestScheduler.subscribe(master.address, info).then(track);
  }

  const kills = (a: FakeAgent) => a.messages.peek((m: MasterMessage__Output) => m.type === 'KILL_TASK');

  test('a high-priority gang preempts low-priority tasks with grace, is offered their agents first, and runs', async () => {
    const all = await agents(3);
    const low = await fill(all);
    const operator = new TestOperator(master.address);
    const watch = operator.watch();
    await watch.next((e) => e.type === 'SNAPSHOT', 'SNAPSHOT');
    const high = await gangFramework(2);
    master.clock.advance(1000);
    const event = await watch.next((e) => e.type === 'PREEMPTION', 'PREEMPTION');
    const p = event.preemption!;
    const lowLogBefore = low.events.log.length;
    expect(p).toMatchObject({ framework_id: { value: high.frameworkId }, gang_id: 'train', role: 'prod', priority_class: 'high', priority: 100, kill_grace_seconds: 3 });
    // The fewest tasks: two of the three, one per agent the gang will use, the youngest first.
    expect(p.victims).toHaveLength(2);
    expect(p.victims.every((v) => v.framework_id!.value === low.frameworkId && v.role === 'batch' && v.priority === -10)).toBe(true);
    const victimIds = p.victims.map((v) => v.task_id!.value).sort();
    expect(p.agents.map((a) => a.value).sort()).toEqual(p.victims.map((v) => v.agent_id!.value).sort());
    await waitFor(() => all.reduce((n, a) => n + kills(a).length, 0) === 2, 'two KILL_TASKs');
    for (const a of all) {
      for (const k of kills(a)) {
        expect(k.kill_task).toMatchObject({ reason: 'REASON_CONTAINER_PREEMPTED', kill_policy: { grace_period: { nanoseconds: String(3e9) } } });
        expect(k.kill_task!.message).toContain(`preempted for gang "train" of framework ${high.frameworkId}`);
      }
    }
    // Still within the grace: nothing else is decided for the same gang, and no offers go round.
    master.clock.advance(1000);
    await high.settled();
    expect(watch.peek((e) => e.type === 'PREEMPTION')).toHaveLength(0); // (the first was taken by next())
    expect(high.events.log.some((e: Event__Output) => e.type === 'OFFERS')).toBe(false);

    // The victims end; their framework is told why, and the gang gets the freed agents.
    for (const a of all) {
      for (const k of kills(a)) a.status(low.frameworkId, k.kill_task!.task_id!.value, 'TASK_KILLED', { reason: 'REASON_CONTAINER_PREEMPTED', message: k.kill_task!.message });
    }
    for (const id of victimIds) {
      const update = await low.nextUpdate(id, 'TASK_KILLED');
      expect(update.reason).toBe('REASON_CONTAINER_PREEMPTED');
      low.ack(update);
    }
    master.clock.advance(0); // the prompt cycle for the freed resources
    const offers = await high.nextOffers();
    expect(offers.offers!.gangs[0]).toMatchObject({ gang_id: 'train', tasks: 2 });
    expect(offers.offers!.offers.map((o) => o.agent_id!.value).sort()).toEqual(p.agents.map((a) => a.value).sort());
    // The low framework was not offered the victims' cpus in between (what the gang leaves, memory, it may be).
    await low.settled();
    const lowOffers = low.events.log.slice(lowLogBefore).filter((e: Event__Output) => e.type === 'OFFERS').flatMap((e) => e.offers!.offers);
    expect(lowOffers.filter((o) => o.resources.some((r) => r.name === 'cpus'))).toEqual([]);
    high.send({ type: 'ACCEPT_GANG', accept_gang: { gang_id: 'train', launches: offers.offers!.offers.map((o, i) => ({ offer_id: o.id!, operations: [launch(o, `train-${i}`, 'cpus:2;mem:256')] })) } });
    const runs = await Promise.all(all.filter((a) => p.agents.some((x) => x.value === a.agentId)).map((a) => a.messages.next((m) => m.type === 'RUN_TASK' && m.run_task!.task!.task_id!.value.startsWith('train-'), 'gang RUN_TASK')));
    expect(runs).toHaveLength(2);
    const exposition = await metrics.exposition();
    expect(exposition).toContain('berth_preemptions_total{role="prod"} 1');
    expect(exposition).toContain('berth_preempted_tasks_total{role="batch"} 2');
    operator.close();
  });

  test('plain demand of a high-priority framework preempts too; only it is offered the freed agents, and the claim ends once it has them', async () => {
    const all = await agents(3);
    const low = await fill(all);
    const operator = new TestOperator(master.address);
    const watch = operator.watch();
    await watch.next((e) => e.type === 'SNAPSHOT', 'SNAPSHOT');
    const shape = { resources: [{ name: 'cpus', value: 2 }, { name: 'mem', value: 256 }], count: 2 };
    const web = track(await TestScheduler.subscribe(master.address, { name: 'web', roles: ['prod'], priority_class: 'high', demand: { prod: { shapes: [shape] } } }));
    master.clock.advance(1000);
    const p = (await watch.next((e) => e.type === 'PREEMPTION', 'PREEMPTION')).preemption!;
    expect(p).toMatchObject({ framework_id: { value: web.frameworkId }, gang_id: '', role: 'prod', priority_class: 'high', priority: 100 });
    expect(p.victims).toHaveLength(2);
    await waitFor(() => all.reduce((n, a) => n + kills(a).length, 0) === 2, 'two KILL_TASKs');
    for (const a of all) for (const k of kills(a)) expect(k.kill_task!.message).toContain(`preempted for pending tasks of framework ${web.frameworkId}`);
    const lowLogBefore = low.events.log.length;
    for (const a of all) for (const k of kills(a)) a.status(low.frameworkId, k.kill_task!.task_id!.value, 'TASK_KILLED', { reason: 'REASON_CONTAINER_PREEMPTED' });
    for (const v of p.victims) low.ack(await low.nextUpdate(v.task_id!.value, 'TASK_KILLED'));
    master.clock.advance(0);
    const offers = await web.nextOffers();
    expect(offers.offers!.offers.map((o) => o.agent_id!.value).sort()).toEqual(p.agents.map((a) => a.value).sort());
    await low.settled();
    expect(low.events.log.slice(lowLogBefore).filter((e: Event__Output) => e.type === 'OFFERS').flatMap((e) => e.offers!.offers).filter((o) => o.resources.some((r) => r.name === 'cpus'))).toEqual([]);
    // Given to its claimant, an agent is nobody's claim any more.
    expect(master.daemon.core!.allocator.claims!(master.clock.now())).toEqual([]);
    operator.close();
  });

  test('a disruption budget is never exceeded: a gang that would need more of the group preempts nothing', async () => {
    const all = await agents(3);
    const budget = { disruption_budget: { group: 'web', instances: 3, max_unavailable: 1 } };
    const low = await fill(all, () => budget);
    const high = await gangFramework(2);
    for (let i = 0; i < 3; i++) master.clock.advance(1000);
    await high.settled();
    expect(all.every((a) => kills(a).length === 0)).toBe(true);
    // A gang of one fits the budget: exactly one task is preempted.
    high.send({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { name: 'trainer', user: '', roles: ['prod'], priority_class: 'high', demand: { prod: { shapes: [], gangs: [{ gang_id: 'one', shapes: [{ resources: [{ name: 'cpus', value: 2 }, { name: 'mem', value: 256 }], count: 1 }] }] } } } } });
    await high.settled();
    master.clock.advance(1000);
    await waitFor(() => all.reduce((n, a) => n + kills(a).length, 0) === 1, 'one KILL_TASK');
    master.clock.advance(1000);
    await low.settled();
    expect(all.reduce((n, a) => n + kills(a).length, 0)).toBe(1);
  });

  test('a role without preemption never preempts; unknown priority classes are refused naming the known ones', async () => {
    const all = await agents(2);
    await fill(all);
    const dev = await gangFramework(1, 'dev');
    for (let i = 0; i < 3; i++) master.clock.advance(1000);
    await dev.settled();
    expect(all.every((a) => kills(a).length === 0)).toBe(true);

    const err = await TestScheduler.subscribe(master.address, { name: 'x', roles: ['prod'], priority_class: 'urgent' }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain('framework_info.priority_class: unknown priority class "urgent": the master knows default (0), low (-10), high (100)');
    const gangErr = await TestScheduler.subscribe(master.address, { name: 'x', roles: ['prod'], demand: { prod: { gangs: [{ gang_id: 'g', priority_class: 'nope', shapes: [{ resources: [{ name: 'cpus', value: 1 }], count: 1 }] }] } } }).then(() => undefined, (e: Error) => e);
    expect(gangErr?.message).toContain('framework_info.demand["prod"].gangs[0].priority_class: unknown priority class "nope"');
  });
});
