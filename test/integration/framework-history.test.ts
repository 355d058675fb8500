/**
 * Issue 15, point 6, as an operator sees it: after a framework's TEARDOWN its tasks — the one that
 * had finished and the one the teardown killed — stay in GetTasks(include_completed) (with how each
 * ended, its exit code), the framework in GetFrameworks.completed_frameworks, and their logs readable
 * through Operator.ReadTaskLog (routed to the real agent, which reads the sandbox), under the same
 * read ACLs as a live framework's. The history is bounded by maxCompletedFrameworks. A real Agent
 * (process containerizer, real time) against the in-process test master (fake clock) over real gRPC.
 */
import { status as Status } from '@grpc/grpc-js';
import { Authenticator, Authorizer } from '../../src/common/auth';
import type { GetFrameworksResponse__Output } from '../../src/generated/berth/v1/GetFrameworksResponse';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import type { ReadTaskLogResponse__Output } from '../../src/generated/berth/v1/ReadTaskLogResponse';
import { AgentFixture, until } from '../support/agent-fixture';
import { bearer, TestOperator, TestScheduler } from '../support/master-harness';

jest.setTimeout(30_000);

const TOKEN = { a: 'token-of-framework-team-a', b: 'token-of-framework-team-b', ops: 'token-of-the-operators', auditor: 'token-of-the-auditors', agent: 'token-of-the-agents' } as const;
type Who = keyof typeof TOKEN;

describe('master: history of torn-down frameworks and their tasks', () => {
  let f: AgentFixture;
  const operators: TestOperator[] = [];
  const frameworks: TestScheduler[] = [];

  beforeEach(async () => {
    f = await AgentFixture.start('history', {
      maxCompletedFrameworks: 1,
      authenticate: new Authenticator(Object.entries(TOKEN).map(([name, token]) => ({ name, token }))),
      authorizer: new Authorizer([
        { principals: ['agent'], actions: ['register_agent'], objects: ['*'], effect: 'allow' },
        { principals: ['a', 'b'], actions: ['register_framework', 'run_task'], objects: ['*'], effect: 'allow' },
        { principals: ['ops'], actions: ['view_frameworks', 'view_tasks', 'access_sandboxes', 'teardown'], objects: ['*'], effect: 'allow' },
        { principals: ['auditor'], actions: ['view_frameworks', 'view_tasks'], objects: ['a'], effect: 'allow' },
      ]),
    }, bearer(TOKEN.a));
  });

  afterEach(async () => {
    for (const o of operators.splice(0)) o.close();
    for (const s of frameworks.splice(0)) s.close();
    await f.close();
  });

  const as = (who: Who): TestOperator => {
    const o = new TestOperator(f.master.address, bearer(TOKEN[who]));
    operators.push(o);
    return o;
  };
  const completedTasks = async (who: Who) => {
    const r = await as(who).call<GetTasksResponse__Output>('GetTasks', { include_completed: true });
    return new Map(r.completed_tasks.map((t) => [t.task_id!.value, t]));
  };
  const log = (who: Who, frameworkId: string, taskId: string) =>
    as(who).call<ReadTaskLogResponse__Output>('ReadTaskLog', { task_id: { value: taskId }, framework_id: { value: frameworkId }, stream: 'STDOUT' }).then((r) => Buffer.from(r.data).toString());

  it('keeps the tasks, the framework and the logs after TEARDOWN, within the read ACLs and the bound', async () => {
    const agent = await f.startAgent({}, { token: TOKEN.agent });
    const frameworkId = f.fw.frameworkId;
    await f.launch({ taskId: 'done', command: 'echo done-output; exit 0' }, { taskId: 'long', command: 'echo long-output; sleep 1000' });
    await f.expectStates('done', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    await f.expectStates('long', ['TASK_STARTING', 'TASK_RUNNING']);
    await until(async () => (await log('ops', frameworkId, 'long')) === 'long-output\n', 'the long task to write its line');

    await as('ops').call('Teardown', { framework_id: { value: frameworkId } });
    // The master reports the teardown's kill at once; the agent's own TASK_KILLED (with the exit
    // code) follows when the process has ended. Nothing announces it on any stream: poll, bounded.
    await until(async () => (await completedTasks('ops')).get('long')?.statuses[0]?.container_status?.exit_code === 143, 'the agent\'s TASK_KILLED of the killed task in the history');
    expect(agent.taskState(frameworkId, 'long')).toBeUndefined(); // the agent forgot it (the master acknowledged)

    const history = await completedTasks('ops');
    expect([...history.keys()].sort()).toEqual(['done', 'long']);
    expect([history.get('done')!.state, history.get('done')!.statuses[0]!.container_status?.exit_code]).toEqual(['TASK_FINISHED', 0]);
    expect([history.get('long')!.state, history.get('long')!.framework_id!.value]).toEqual(['TASK_KILLED', frameworkId]);
    const fws = await as('ops').call<GetFrameworksResponse__Output>('GetFrameworks');
    expect([fws.frameworks.length, fws.completed_frameworks.map((x) => x.framework_info!.id!.value)]).toEqual([0, [frameworkId]]);

    // The logs: routed to the agent, read from the sandboxes of the forgotten tasks.
    expect(await log('ops', frameworkId, 'done')).toBe('done-output\n');
    expect(await log('ops', frameworkId, 'long')).toBe('long-output\n');

    // Read ACLs as for a live framework: the auditor sees the tasks but may not read the sandboxes;
    // team B sees nothing of team A's.
    expect([...(await completedTasks('auditor')).keys()].sort()).toEqual(['done', 'long']);
    expect((await as('auditor').refusal('ReadTaskLog', { task_id: { value: 'done' }, framework_id: { value: frameworkId } })).code).toBe(Status.PERMISSION_DENIED);
    expect((await completedTasks('b')).size).toBe(0);
    expect((await as('b').refusal('ReadTaskLog', { task_id: { value: 'done' }, framework_id: { value: frameworkId } })).code).toBe(Status.NOT_FOUND);

    // The bound: with maxCompletedFrameworks 1 a second teardown pushes the first out.
    const second = await TestScheduler.subscribe(f.master.address, { name: 'second' }, { metadata: bearer(TOKEN.a) });
    frameworks.push(second);
    await as('ops').call('Teardown', { framework_id: { value: second.frameworkId } });
    const after = await as('ops').call<GetFrameworksResponse__Output>('GetFrameworks');
    expect(after.completed_frameworks.map((x) => x.framework_info!.id!.value)).toEqual([second.frameworkId]);
    expect((await completedTasks('ops')).size).toBe(0);
    expect((await as('ops').refusal('ReadTaskLog', { task_id: { value: 'done' }, framework_id: { value: frameworkId } })).code).toBe(Status.NOT_FOUND);
  });
});
