import * as grpc from '@grpc/grpc-js';
import { Authenticator, Authorizer } from '../../src/common/auth';
import type { ClusterEvent__Output } from '../../src/generated/berth/v1/ClusterEvent';
import type { GetFrameworksResponse__Output } from '../../src/generated/berth/v1/GetFrameworksResponse';
import type { GetStateResponse__Output } from '../../src/generated/berth/v1/GetStateResponse';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import {
  bearer, closeAfterEach, FakeAgent, launch, startTestMaster, TestOperator, TestScheduler, type TestMaster,
} from '../support/master-harness';

const TOKEN = { a: 'token-of-framework-team-a', b: 'token-of-framework-team-b', ops: 'token-of-the-operators', auditor: 'token-of-the-auditors', agent: 'token-of-the-agents' } as const;
type Who = keyof typeof TOKEN;

/**
 * What each principal reads of the others' work (view_frameworks, view_tasks, access_sandboxes):
 * its own by default, more with a rule — in every Operator read, in Watch and in task logs.
 */
describe('master: per-object read ACLs', () => {
  let master: TestMaster;
  let a: TestScheduler;
  let b: TestScheduler;
  let agent: FakeAgent;
  const track = closeAfterEach();

  beforeEach(async () => {
    master = await startTestMaster({
      authenticate: new Authenticator(Object.entries(TOKEN).map(([name, token]) => ({ name, token }))),
      authorizer: new Authorizer([
        { principals: ['agent'], actions: ['register_agent'], objects: ['*'], effect: 'allow' },
        { principals: ['a', 'b'], actions: ['register_framework', 'run_task'], objects: ['*'], effect: 'allow' },
        { principals: ['ops'], actions: ['view_frameworks', 'view_tasks', 'access_sandboxes'], objects: ['*'], effect: 'allow' },
        { principals: ['auditor'], actions: ['view_frameworks', 'view_tasks'], objects: ['a'], effect: 'allow' },
      ]),
      tls: true,
    });
    agent = track(await FakeAgent.register(master.address, { metadata: bearer(TOKEN.agent) }));
    // One after the other, so each one's first offer is its own.
    for (const who of ['a', 'b'] as const) {
      const fw = track(await TestScheduler.subscribe(master.address, { name: who, roles: ['*'] }, { metadata: bearer(TOKEN[who]) }));
      if (who === 'a') a = fw;
      else b = fw;
      const taskId = `task-of-${who}`;
      master.clock.advance(1000);
      const offer = (await fw.nextOffers()).offers!.offers[0]!;
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations: [launch(offer, taskId, 'cpus:0.5;mem:64', { command: { value: 'echo secret-work', shell: true } })] } });
      await agent.nextRun();
      agent.status(fw.frameworkId, taskId, 'TASK_RUNNING');
      fw.ack(await fw.nextUpdate(taskId, 'TASK_RUNNING'));
    }
  });

  afterEach(async () => {
    await master.stop();
  });

  const as = (who: Who) => track(new TestOperator(master.address, bearer(TOKEN[who])));
  const taskIds = (r: { tasks: { task_id?: { value: string } | null }[] }) => r.tasks.map((t) => t.task_id!.value).sort();

  test('framework B sees none of framework A\'s frameworks, tasks or state; an operator rule sees all', async () => {
    expect(taskIds(await as('b').call<GetTasksResponse__Output>('GetTasks'))).toEqual(['task-of-b']);
    expect((await as('b').call<GetFrameworksResponse__Output>('GetFrameworks')).frameworks.map((f) => f.framework_info!.name)).toEqual(['b']);
    const state = (await as('b').call<GetStateResponse__Output>('GetState')).state!;
    expect([state.frameworks.map((f) => f.framework_info!.name), taskIds(state)]).toEqual([['b'], ['task-of-b']]);
    expect(JSON.stringify(state)).not.toContain('secret-work-of-a');
    // The agent's principal runs no framework: it sees none.
    expect(taskIds(await as('agent').call<GetTasksResponse__Output>('GetTasks'))).toEqual([]);
    expect(taskIds(await as('ops').call<GetTasksResponse__Output>('GetTasks'))).toEqual(['task-of-a', 'task-of-b']);
    expect(taskIds(await as('auditor').call<GetTasksResponse__Output>('GetTasks'))).toEqual(['task-of-a']);
  });

  test('Watch filters the snapshot and every event per subscriber', async () => {
    const watchOf = (who: Who) => as(who).watch();
    const bWatch = watchOf('b');
    const opsWatch = watchOf('ops');
    const snapshot = await bWatch.next((e) => e.type === 'SNAPSHOT', 'SNAPSHOT');
    expect(taskIds(snapshot.snapshot!.state!)).toEqual(['task-of-b']);
    agent.status(a.frameworkId, 'task-of-a', 'TASK_FINISHED');
    agent.status(b.frameworkId, 'task-of-b', 'TASK_FINISHED');
    const finished = (e: ClusterEvent__Output, fw: TestScheduler) => e.type === 'TASK_UPDATED' && e.task_updated?.framework_id?.value === fw.frameworkId;
    await opsWatch.next((e) => finished(e, a), 'A\'s update at the operator');
    await opsWatch.next((e) => finished(e, b), 'B\'s update at the operator');
    await bWatch.next((e) => finished(e, b), 'B\'s own update');
    expect(bWatch.log.filter((e) => finished(e, a) || (e.type === 'TASK_ADDED' && e.task_added?.task?.framework_id?.value === a.frameworkId))).toEqual([]);
  });

  test('task logs: unknown to whoever may not see the task; refused without access_sandboxes', async () => {
    const read = (who: Who, fw: TestScheduler, taskId: string) => as(who).refusal('ReadTaskLog', { framework_id: { value: fw.frameworkId }, task_id: { value: taskId }, stream: 'STDOUT', offset: '0', length: 10 });
    expect(await read('b', a, 'task-of-a')).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'task_id: unknown task "task-of-a"' });
    expect(await read('auditor', a, 'task-of-a')).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/may not read the logs of tasks of framework principal "a" \(the access_sandboxes ACL\)/) });
    // Its own logs it may read: the master relays the request to the agent.
    const own = as('a').call('ReadTaskLog', { framework_id: { value: a.frameworkId }, task_id: { value: 'task-of-a' }, stream: 'STDOUT', offset: '0', length: 10 });
    const relayed = await agent.messages.next((m) => m.type === 'READ_TASK_LOG', 'READ_TASK_LOG');
    agent.send({ type: 'TASK_LOG', task_log: { request_id: relayed.read_task_log!.request_id, data: Buffer.from('hello'), size: '5', offset: '0', error: '' } });
    expect(Buffer.from((await own as { data: Uint8Array }).data).toString()).toBe('hello');
  });
});
