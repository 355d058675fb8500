/**
 * Issue 15, points 1 and 13, as a framework sees them across a master failover (over real gRPC; the
 * new leader recovers from the registry the old one wrote). The framework is not partition-aware, so
 * every "unknown" answer would reach it as TASK_LOST — a jobs-style framework would count a success
 * as a failure and run it again.
 *
 * - While the task's agent is still expected back, reconciliation and KILL say nothing about the
 *   task (with the agent named, without it, or with an agent the master does not know).
 * - The agent re-registers reporting the task ended and its FINISHED update unacknowledged: the
 *   answer is TASK_FINISHED, then the agent's own update follows, which completes the task.
 * - A task that ran its whole life while no master ran (STARTING, RUNNING, FINISHED all pending) is
 *   answered with the head of that queue, not ahead of the updates still to come.
 */
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { MemoryStore } from '../support/memory-registry';
import { closeAfterEach, FakeAgent, launch, reportedTask, startTestMaster, TestScheduler, waitFor, type TestMaster } from '../support/master-harness';

describe('reconciliation across a master failover', () => {
  const track = closeAfterEach();
  const masters: TestMaster[] = [];
  afterEach(async () => {
    for (const m of masters.splice(0)) await m.stop();
  });

  async function leader(store: MemoryStore): Promise<TestMaster> {
    const m = await startTestMaster({ store, agentReregisterTimeoutMs: 600_000 });
    masters.push(m);
    return m;
  }

  /** A framework with tasks `ids` RUNNING on one agent of a master that is then killed. */
  async function beforeTheKill(store: MemoryStore, ids: readonly string[]) {
    const first = await leader(store);
    const agent = await FakeAgent.register(first.address);
    const fw = await TestScheduler.subscribe(first.address, { failover_timeout: 600 });
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

  test('a task that finished during the outage is never said lost: silence while its agent is expected back, then TASK_FINISHED', async () => {
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
    const back = track(await FakeAgent.register(next.address, {
      id: agentId, frameworks: [frameworkInfo], tasks: [reportedTask(frameworkId, 't', 'cpus:0.5;mem:64', { state: 'TASK_FINISHED' })],
      unacknowledgedUpdates: [pending(frameworkId, agentId, 't', 'TASK_FINISHED', 'ab', 'TASK_FINISHED')] as never,
    }));
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't' }, agent_id: { value: agentId } }] } });
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
});
