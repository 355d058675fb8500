/**
 * Issue 15, points 1 and 13, as a framework sees them across a master failover (over real gRPC; the
 * new leader recovers from the registry the old one wrote). The framework is not partition-aware, so
 * every "unknown" answer would reach it as TASK_LOST — a jobs-style framework would count a success
 * as a failure and run it again.
 *
 * - While the task's agent is still expected back, reconciliation and KILL say nothing about the
 *   task (with the agent named, without it, or with an agent the master does not know).
 * - The agent re-registers reporting the task ended and its FINISHED update unacknowledged: the
 *   asks are answered then, without asking again (issue 17), with TASK_FINISHED, then the agent's
 *   own update follows, which completes the task.
 * - A task that ran its whole life while no master ran (STARTING, RUNNING, FINISHED all pending) is
 *   answered with the head of that queue, not ahead of the updates still to come.
 * - Issue 17: an ask the master cannot answer yet is remembered and answered once (however often
 *   it was asked) when the agent returns, or with the partition-aware answer when it never does;
 *   a framework cannot make the master remember more than its limit.
 */
import { status as Status } from '@grpc/grpc-js';
import type { FrameworkInfo } from '../../src/generated/berth/v1/FrameworkInfo';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { timeFromWire } from '../../src/common/wire';
import { MasterMetrics } from '../../src/master/metrics';
import { MemoryStore } from '../support/memory-registry';
import { closeAfterEach, FakeAgent, launch, reportedTask, startTestMaster, TestScheduler, waitFor, type TestMaster } from '../support/master-harness';

describe('reconciliation across a master failover', () => {
  const track = closeAfterEach();
  const masters: TestMaster[] = [];
  afterEach(async () => {
    for (const m of masters.splice(0)) await m.stop();
  });

  async function leader(store: MemoryStore, options: Parameters<typeof startTestMaster>[0] = {}): Promise<TestMaster> {
    const m = await startTestMaster({ store, agentReregisterTimeoutMs: 600_000, ...options });
    masters.push(m);
    return m;
  }

  /** A framework with tasks `ids` RUNNING on one agent of a master that is then killed. */
  async function beforeTheKill(store: MemoryStore, ids: readonly string[], info: Partial<FrameworkInfo> = {}) {
    const first = await leader(store);
    const agent = await FakeAgent.register(first.address);
    const fw = await TestScheduler.subscribe(first.address, { failover_timeout: 600, ...info });
    first.clock.advance(1000);
    const [offer] = (await fw.nextOffers()).offers!.offers;
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: ids.map((id) => launch(offer!, id, 'cpus:0.5;mem:64')) } });
    const run = await agent.nextRun();
    for (const id of ids) fw.ack(await (agent.status(fw.frameworkId, id, 'TASK_RUNNING'), fw.nextUpdate(id, 'TASK_RUNNING')));
    agent.close();
    fw.close();
    await first.stop();
    return { agentId: agent.agentId, frameworkId: fw.frameworkId, frameworkInfo: run.run_task!.framework_info as never };
  }

  const pending = (frameworkId: string, agentId: string, taskId: string, state: string, uuid: string, latest: string) => ({
    framework_id: { value: frameworkId },
    status: { task_id: { value: taskId }, state, uuid: Buffer.from(uuid.repeat(32), 'hex'), agent_id: { value: agentId }, source: 'SOURCE_EXECUTOR' },
    latest_state: latest,
  });

  /** The answer for `marker`, and the updates for `taskId` received before it (calls are answered in order). */
  async function answersBefore(fw: TestScheduler, marker: string, taskId: string): Promise<{ marker: TaskStatus__Output; before: TaskStatus__Output[] }> {
    const answer = await fw.nextUpdate(marker);
    const log = fw.events.log.filter((e) => e.type === 'UPDATE').map((e) => e.update!.status!);
    return { marker: answer, before: log.slice(0, log.indexOf(answer)).filter((s) => s.task_id!.value === taskId) };
  }

  test('a task that finished during the outage is never said lost: silence while its agent is expected back, then TASK_FINISHED without asking again', async () => {
    const store = new MemoryStore();
    const { agentId, frameworkId, frameworkInfo } = await beforeTheKill(store, ['t']);
    const next = await leader(store);
    expect(next.daemon.core!.agents.get(agentId)!.lifecycle).toBe('RECOVERED');
    const fw = track(await TestScheduler.subscribe(next.address, { id: { value: frameworkId }, failover_timeout: 600 }));
    const other = track(await FakeAgent.register(next.address)); // a registered agent: its unknown task is a sure answer

    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't' }, agent_id: { value: agentId } }, { task_id: { value: 't' } }, { task_id: { value: 't' }, agent_id: { value: 'no-such-agent' } }] } });
    fw.send({ type: 'KILL', kill: { task_id: { value: 't' }, agent_id: { value: agentId } } });
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'marker' }, agent_id: { value: other.agentId } }] } });
    const { marker, before } = await answersBefore(fw, 'marker', 't');
    expect(before).toEqual([]);
    expect(marker.state).toBe('TASK_LOST'); // gone from a registered agent, as a framework that is not partition-aware hears it

    // The agent comes back: the task ended while no master ran; its FINISHED is unacknowledged.
    // The three asks were one remembered ask: it is answered now, once, before the agent's resend.
    const back = track(await FakeAgent.register(next.address, {
      id: agentId, frameworks: [frameworkInfo], tasks: [reportedTask(frameworkId, 't', 'cpus:0.5;mem:64', { state: 'TASK_FINISHED' })],
      unacknowledgedUpdates: [pending(frameworkId, agentId, 't', 'TASK_FINISHED', 'ab', 'TASK_FINISHED')] as never,
    }));
    const answer = await fw.nextUpdate('t');
    expect([answer.state, answer.reason]).toEqual(['TASK_FINISHED', 'REASON_RECONCILIATION']);
    const uuid = back.status(frameworkId, 't', 'TASK_FINISHED'); // the agent's resend
    const real = await fw.nextUpdate('t');
    expect(Buffer.from(real.uuid as Uint8Array).equals(uuid)).toBe(true);
    fw.ack(real);
    await waitFor(() => !next.daemon.core!.frameworks.get(frameworkId)!.tasks.has('t'), 'the acknowledged task to complete');
    expect(fw.events.log.filter((e) => e.type === 'UPDATE' && e.update!.status!.task_id!.value === 't').map((e) => e.update!.status!.state)).toEqual(['TASK_FINISHED', 'TASK_FINISHED']);
  });

  test('a task whose whole life is still in the agent\'s queue is answered with the head of that queue', async () => {
    const store = new MemoryStore();
    const { agentId, frameworkId, frameworkInfo } = await beforeTheKill(store, ['old']);
    const next = await leader(store);
    const fw = track(await TestScheduler.subscribe(next.address, { id: { value: frameworkId }, failover_timeout: 600 }));
    // 'young' reached the agent as the old master died; it started, ran and finished with no master.
    track(await FakeAgent.register(next.address, {
      id: agentId, frameworks: [frameworkInfo],
      tasks: [reportedTask(frameworkId, 'old', 'cpus:0.5;mem:64'), reportedTask(frameworkId, 'young', 'cpus:0.5;mem:64', { state: 'TASK_FINISHED' })],
      unacknowledgedUpdates: [
        pending(frameworkId, agentId, 'young', 'TASK_STARTING', '01', 'TASK_FINISHED'),
        pending(frameworkId, agentId, 'young', 'TASK_RUNNING', '02', 'TASK_FINISHED'),
        pending(frameworkId, agentId, 'young', 'TASK_FINISHED', '03', 'TASK_FINISHED'),
      ] as never,
    }));
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'young' }, agent_id: { value: agentId } }, { task_id: { value: 'old' }, agent_id: { value: agentId } }] } });
    expect((await fw.nextUpdate('young')).state).toBe('TASK_STARTING');
    expect((await fw.nextUpdate('old')).state).toBe('TASK_RUNNING');
    expect(next.daemon.core!.frameworks.get(frameworkId)!.tasks.get('young')!.state).toBe('TASK_FINISHED'); // the operator's view is the latest
  });

  test('asked once (or twice) while the agent is expected back: one answer per task when it re-registers, without asking again', async () => {
    const store = new MemoryStore();
    const { agentId, frameworkId, frameworkInfo } = await beforeTheKill(store, ['a', 'b']);
    const next = await leader(store);
    const fw = track(await TestScheduler.subscribe(next.address, { id: { value: frameworkId }, failover_timeout: 600 }));
    const other = track(await FakeAgent.register(next.address));
    // 'a' asked twice (with its agent, then without), 'b' once without an agent.
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'a' }, agent_id: { value: agentId } }, { task_id: { value: 'b' } }] } });
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'a' } }] } });
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'marker' }, agent_id: { value: other.agentId } }] } });
    await fw.nextUpdate('marker');
    const core = next.daemon.core!;
    expect(core.tasks.pending.sizeOf(frameworkId)).toBe(2);
    const updatesOf = (id: string) => fw.events.log.filter((e) => e.type === 'UPDATE' && e.update!.status!.task_id!.value === id).map((e) => e.update!.status!);
    expect([...updatesOf('a'), ...updatesOf('b')]).toEqual([]);

    track(await FakeAgent.register(next.address, {
      id: agentId, frameworks: [frameworkInfo], tasks: [reportedTask(frameworkId, 'a', 'cpus:0.5;mem:64'), reportedTask(frameworkId, 'b', 'cpus:0.5;mem:64')],
    }));
    const [a, b] = [await fw.nextUpdate('a'), await fw.nextUpdate('b')];
    expect([a.state, a.reason, a.agent_id?.value]).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION', agentId]);
    expect([b.state, b.reason, b.agent_id?.value]).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION', agentId]);
    await fw.settled(); // every agent is back: a marker with no agent is answered at once
    expect([updatesOf('a').length, updatesOf('b').length]).toEqual([1, 1]); // deduplicated: one answer per task id
    expect(core.tasks.pending.size).toBe(0);
    expect(fw.events.log.filter((e) => e.type === 'ERROR')).toEqual([]);
  });

  test('an agent that never returns: the remembered asks get the partition-aware answer when it is declared unreachable', async () => {
    const store = new MemoryStore();
    const { agentId, frameworkId } = await beforeTheKill(store, ['t'], { capabilities: [{ type: 'PARTITION_AWARE' }] });
    const metrics = new MasterMetrics({ processMetrics: false });
    const next = await leader(store, { agentReregisterTimeoutMs: 30_000, metrics });
    const pendingGauge = async () => (await metrics.snapshot('berth_reconciliations_pending'))[0]!.value;
    const fw = track(await TestScheduler.subscribe(next.address, { id: { value: frameworkId }, failover_timeout: 600, capabilities: [{ type: 'PARTITION_AWARE' }] }));
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't' }, agent_id: { value: agentId } }, { task_id: { value: 'nowhere' } }] } });
    await waitFor(() => next.daemon.core!.tasks.pending.sizeOf(frameworkId) === 2, 'both asks to be remembered');
    expect(fw.events.log.filter((e) => e.type === 'UPDATE')).toEqual([]);
    expect(await pendingGauge()).toBe(2);

    next.clock.advance(30_000); // the re-register timeout: the agent is unreachable, and no agent is expected back
    const unreachableAt = next.clock.now();
    const t = await fw.nextUpdate('t');
    expect([t.state, t.reason, t.agent_id?.value]).toEqual(['TASK_UNREACHABLE', 'REASON_RECONCILIATION', agentId]);
    // Since when, as the proto promises (a framework replacing after N minutes unreachable counts from it).
    expect(timeFromWire(t.unreachable_time)).toBe(unreachableAt);
    expect(t.message).toBe(`task unknown to the master; its agent ${agentId} is unreachable`);
    const nowhere = await fw.nextUpdate('nowhere');
    expect([nowhere.state, nowhere.reason, nowhere.unreachable_time]).toEqual(['TASK_UNKNOWN', 'REASON_RECONCILIATION', null]);
    expect(next.daemon.core!.tasks.pending.size).toBe(0);
    expect(await pendingGauge()).toBe(0);
  });

  test('a framework asking about 200,000 unknown ids cannot grow the master past its limit: the rest are refused, named in an ERROR', async () => {
    const store = new MemoryStore();
    const { agentId, frameworkId } = await beforeTheKill(store, ['t']);
    const next = await leader(store, { maxPendingReconciliationsPerFramework: 1000 });
    const fw = track(await TestScheduler.subscribe(next.address, { id: { value: frameworkId }, failover_timeout: 600 }));
    const calls = 5;
    const perCall = 50_000; // 1,000 + 4 × 50,000 ids (a million behave alike; unit/master/pending-reconciliations)
    for (let c = 0; c < calls; c++) {
      // The first names the agent still expected back; the others none (they wait for any agent).
      const tasks = Array.from({ length: c === 0 ? 1000 : perCall }, (_, i) => ({ task_id: { value: `u${c * perCall + i}` }, ...(c === 0 ? { agent_id: { value: agentId } } : {}) }));
      fw.send({ type: 'RECONCILE', request_id: `call-${c}`, reconcile: { tasks } });
    }
    const errors = [];
    for (let c = 1; c < calls; c++) errors.push((await fw.events.next((e) => e.type === 'ERROR', 'ERROR', 20_000)).error!); // many ids take a while to encode and decode
    expect(errors.map((e) => [e.code, e.fatal, e.request_id])).toEqual(Array.from({ length: calls - 1 }, (_, c) => [Status.RESOURCE_EXHAUSTED, false, `call-${c + 1}`]));
    expect(errors[0]!.message).toBe(`reconcile.tasks: 50000 of 50000 task ids were not remembered: framework ${frameworkId} already waits for 1000 answers `
      + '(maxPendingReconciliationsPerFramework); the others are answered as their agents return — ask about these again after answers arrive');
    const core = next.daemon.core!;
    expect(core.tasks.pending.sizeOf(frameworkId)).toBe(1000);
    // A stream that ends takes its asks with it (the framework reconciles again when it re-subscribes).
    fw.close();
    await waitFor(() => core.tasks.pending.size === 0, 'the asks of the closed stream to be dropped');
  }, 60_000);
});
