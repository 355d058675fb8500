import * as grpc from '@grpc/grpc-js';
import { FakeAgent, launch, waitFor, reportedTask, startTestMaster, TestScheduler, type TestMaster, closeAfterEach } from '../support/master-harness';
import type { BusEvent } from '../../src/master/event-bus';
import { mirroredEvent } from '../../src/master/registry/nats-mirror';

/**
 * Edge cases of streams and re-registration that must not leave half state behind: a repeated
 * SUBSCRIBE, a refused REREGISTER, tasks that finished while the master was away, and agents that
 * come back with tasks of a framework that was removed meanwhile.
 */
describe('master: repeated subscriptions and re-registrations', () => {
  let master: TestMaster;
  const track = closeAfterEach();

  beforeEach(async () => {
    master = await startTestMaster();
  });

  afterEach(async () => {
    await master.stop();
  });

  async function runningTask(fw: TestScheduler, agent: FakeAgent, taskId: string) {
    master.clock.advance(1000);
    const [offer] = (await fw.nextOffers()).offers!.offers;
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, taskId, 'cpus:1;mem:64')], filters: { refuse_seconds: 0 } } });
    const run = await agent.nextRun();
    fw.ack(await (agent.status(fw.frameworkId, taskId, 'TASK_RUNNING'), fw.nextUpdate(taskId, 'TASK_RUNNING')));
    return run;
  }

  test('a repeated SUBSCRIBE on the same stream is answered again and changes nothing', async () => {
    const fw = track(await TestScheduler.subscribe(master.address, { failover_timeout: 60 }));
    fw.send({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'test', user: 'test', roles: ['*'], id: { value: fw.frameworkId } } } });
    const again = await fw.events.next((e) => e.type === 'SUBSCRIBED', 'second SUBSCRIBED');
    expect(again.subscribed!.framework_id!.value).toBe(fw.frameworkId);
    const entry = master.daemon.core!.frameworks.get(fw.frameworkId)!;
    expect([entry.connected, entry.failoverTimer]).toEqual([true, undefined]);
    fw.send({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'x', user: 'x', roles: ['*'], id: { value: 'another' } } } });
    const err = await fw.nextError();
    expect([err.fatal, err.message]).toEqual([true, expect.stringMatching(/already subscribed as/)]);
    expect(master.daemon.core!.frameworks.size).toBe(1);
  });

  test('a re-SUBSCRIBE without a user keeps the registered one; another user is refused', async () => {
    const first = track(await TestScheduler.subscribe(master.address, { user: 'svc', failover_timeout: 60 }));
    const id = first.frameworkId;
    first.close();
    const again = track(await TestScheduler.subscribe(master.address, { id: { value: id }, user: '', failover_timeout: 60 }));
    expect(again.frameworkId).toBe(id);
    expect(master.daemon.core!.frameworks.get(id)!.info.user).toBe('svc');
    again.close();
    const refused = await TestScheduler.subscribe(master.address, { id: { value: id }, user: 'root', failover_timeout: 60 }).catch((err: Error) => err);
    expect((refused as Error).message).toMatch(/cannot change after registration: user \("svc" → "root"\)/);
  });

  test('a REREGISTER with an invalid task is refused and leaves the agent as it was', async () => {
    const agent = await FakeAgent.register(master.address);
    agent.close();
    await waitFor(() => master.daemon.core!.agents.get(agent.agentId)!.connected === false, 'disconnect noticed');
    const bad = track(FakeAgent.connect(master.address, { id: agent.agentId, tasks: [{ ...reportedTask('f', 't', 'cpus:1'), resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }] }] }));
    const ended = (await bad.messages.whenEnded('the refused re-registration')) as grpc.ServiceError;
    expect(ended.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(ended.details).toMatch(/reregister\.tasks\[0\]\.resources/);
    const entry = master.daemon.core!.agents.get(agent.agentId)!;
    expect([entry.connected, entry.lifecycle, entry.unreachableTimer !== undefined]).toEqual([false, 'REGISTERED', true]);
  });

  test('a REREGISTER whose live tasks hold the same ports is refused whole, naming both tasks; the agent stays as it was', async () => {
    const fw = track(await TestScheduler.subscribe(master.address, { failover_timeout: 60 }));
    const agent = await FakeAgent.register(master.address);
    agent.close();
    await waitFor(() => master.daemon.core!.agents.get(agent.agentId)!.connected === false, 'disconnect noticed');
    const tasks = [
      reportedTask(fw.frameworkId, 'a', 'cpus:0.5;ports:[31000-31002]'),
      reportedTask(fw.frameworkId, 'done', 'cpus:0.5;ports:[31002-31002]', { state: 'TASK_FINISHED' }), // ended: holds nothing
      reportedTask(fw.frameworkId, 'b', 'cpus:0.5;ports:[31002-31003]'),
    ];
    const bad = track(FakeAgent.connect(master.address, { id: agent.agentId, tasks }));
    const ended = (await bad.messages.whenEnded('the refused re-registration')) as grpc.ServiceError;
    expect([ended.code, ended.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'reregister.tasks[2].resources: task b holds ports [31002-31002] that task a (reregister.tasks[0]) holds too']);
    const entry = master.daemon.core!.agents.get(agent.agentId)!;
    expect([entry.connected, entry.lifecycle, entry.tasks.size, entry.unreachableTimer !== undefined]).toEqual([false, 'REGISTERED', 0, true]);
    // Without the overlap the same report is taken.
    const good = track(await FakeAgent.register(master.address, { id: agent.agentId, tasks: [tasks[0]!, tasks[1]!, reportedTask(fw.frameworkId, 'b', 'cpus:0.5;ports:[31003-31003]')] }));
    expect(good.agentId).toBe(agent.agentId);
    expect(master.daemon.core!.agents.get(agent.agentId)!.tasks.size).toBe(3);
  });

  test('a task that finished while its agent was away is not reported gone; its real update follows', async () => {
    const agent = await FakeAgent.register(master.address);
    const fw = track(await TestScheduler.subscribe(master.address, { failover_timeout: 60 }));
    const run = await runningTask(fw, agent, 't');
    agent.close();
    await waitFor(() => master.daemon.core!.agents.get(agent.agentId)!.connected === false, 'disconnect noticed');
    const finished = reportedTask(fw.frameworkId, 't', 'cpus:1;mem:64', { state: 'TASK_FINISHED' });
    const back = track(await FakeAgent.register(master.address, { id: agent.agentId, tasks: [finished], frameworks: [run.run_task!.framework_info as never] }));
    back.status(fw.frameworkId, 't', 'TASK_FINISHED');
    const update = await fw.nextUpdate('t');
    expect(update.state).toBe('TASK_FINISHED');
  });

  test('TASK_ADDED says whether the master launched the task or its agent reported it; the NATS mirror repeats only launches', async () => {
    const events: BusEvent[] = [];
    master.daemon.core!.bus.subscribe((e) => void events.push(e));
    const agent = await FakeAgent.register(master.address);
    const fw = track(await TestScheduler.subscribe(master.address, { failover_timeout: 60 }));
    const run = await runningTask(fw, agent, 'launched');
    agent.close();
    await waitFor(() => master.daemon.core!.agents.get(agent.agentId)!.connected === false, 'disconnect noticed');
    const reported = reportedTask(fw.frameworkId, 'reported', 'cpus:1;mem:64', { state: 'TASK_RUNNING' });
    const launched = reportedTask(fw.frameworkId, 'launched', 'cpus:1;mem:64', { state: 'TASK_RUNNING' });
    track(await FakeAgent.register(master.address, { id: agent.agentId, tasks: [launched, reported], frameworks: [run.run_task!.framework_info as never] }));
    await waitFor(() => events.some((e) => e.kind === 'AGENT_UPDATED' && e.payload['tasks'] === 2), 'the re-registration event');
    const added = events.filter((e) => e.kind === 'TASK_ADDED');
    expect(added.map((e) => [e.payload['taskId'], e.payload['origin']])).toEqual([['launched', 'launch'], ['reported', 'agent']]);
    expect(added.map((e) => mirroredEvent(e)?.payload['task'])).toEqual([expect.objectContaining({ taskId: 'launched', resources: 'cpus:1;mem:64' }), undefined]);
  });

  test("a REREGISTER's unacknowledged updates set the task's state but are not forwarded: the agent resends them in order", async () => {
    const agent = await FakeAgent.register(master.address);
    const fw = track(await TestScheduler.subscribe(master.address, { failover_timeout: 60 }));
    const run = await runningTask(fw, agent, 't');
    agent.close();
    await waitFor(() => master.daemon.core!.agents.get(agent.agentId)!.connected === false, 'disconnect noticed');
    // Away, the task finished; RUNNING (a resend) and FINISHED are both still unacknowledged.
    const pending = (state: string, uuid: string) => ({
      framework_id: { value: fw.frameworkId },
      status: { task_id: { value: 't' }, state, uuid: Buffer.from(uuid, 'hex'), agent_id: { value: agent.agentId }, source: 'SOURCE_AGENT' },
      latest_state: 'TASK_FINISHED',
    });
    const finished = reportedTask(fw.frameworkId, 't', 'cpus:1;mem:64', { state: 'TASK_FINISHED' });
    const back = track(await FakeAgent.register(master.address, {
      id: agent.agentId, tasks: [finished], frameworks: [run.run_task!.framework_info as never],
      unacknowledgedUpdates: [pending('TASK_RUNNING', 'aa'.repeat(16)), pending('TASK_FINISHED', 'bb'.repeat(16))] as never,
    }));
    expect(master.daemon.core!.frameworks.get(fw.frameworkId)!.tasks.get('t')?.state ?? 'TASK_FINISHED').toBe('TASK_FINISHED');
    // The first update the framework gets is the agent's own resend of the head, not the whole queue.
    const head = back.status(fw.frameworkId, 't', 'TASK_RUNNING');
    const first = await fw.nextUpdate('t');
    expect([first.state, Buffer.from(first.uuid as Uint8Array).equals(head)]).toEqual(['TASK_RUNNING', true]);
  });

  test('an agent returning with tasks of a removed framework is told to shut that framework down', async () => {
    const agent = await FakeAgent.register(master.address);
    const fw = await TestScheduler.subscribe(master.address, { failover_timeout: 0 });
    const run = await runningTask(fw, agent, 't');
    const frameworkId = fw.frameworkId;
    agent.close();
    await waitFor(() => master.daemon.core!.agents.get(agent.agentId)!.connected === false, 'agent disconnect noticed');
    fw.send({ type: 'TEARDOWN', teardown: {} });
    await waitFor(() => !master.daemon.core!.frameworks.has(frameworkId), 'teardown');
    fw.close();
    const back = track(await FakeAgent.register(master.address, { id: agent.agentId, tasks: [reportedTask(frameworkId, 't', 'cpus:1;mem:64')], frameworks: [run.run_task!.framework_info as never] }));
    const shutdown = await back.messages.next((m) => m.type === 'SHUTDOWN_FRAMEWORK', 'SHUTDOWN_FRAMEWORK');
    expect(shutdown.shutdown_framework!.framework_id!.value).toBe(frameworkId);
    expect(master.daemon.core!.frameworks.has(frameworkId)).toBe(false);
    // Its last update would be resent for ever: the master acknowledges it in the framework's stead.
    const uuid = back.status(frameworkId, 't', 'TASK_KILLED');
    const ack = await back.messages.next((m) => m.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT', 'ack for a removed framework');
    expect(Buffer.from(ack.status_update_acknowledgement!.uuid).equals(uuid)).toBe(true);
  });
});
