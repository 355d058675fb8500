/**
 * Issue 15, point 5, as a framework and an operator see it: every terminal update carries
 * `container_status.exit_code` (0 on TASK_FINISHED, the code on TASK_FAILED, 128 + the signal on a
 * kill), with both containerizers, and the code survives the whole path — the framework's UPDATE,
 * an explicit RECONCILE, Operator.GetTasks(include_completed) and Watch. Updates about the task's
 * own process are SOURCE_EXECUTOR; a launch failure, which the agent reports, is SOURCE_AGENT.
 * A real Agent (real time) against the in-process test master (fake clock) over real gRPC.
 */
import type { ClusterEvent__Output } from '../../src/generated/berth/v1/ClusterEvent';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { AgentFixture, DOCKER, type TaskSpec } from '../support/agent-fixture';
import { TestOperator } from '../support/master-harness';

jest.setTimeout(30_000);

describe.each([
  ['process', undefined],
  ['docker', DOCKER],
] as const)('exit codes and sources of status updates (%s containerizer)', (kind, container) => {
  let f: AgentFixture;
  let operator: TestOperator;

  beforeEach(async () => {
    f = await AgentFixture.start(`exit-codes-${kind}`);
    operator = new TestOperator(f.master.address);
  });

  afterEach(async () => {
    operator.close();
    await f.close();
  });

  const task = (taskId: string, command: string, extra: Record<string, unknown> = {}): TaskSpec => ({ taskId, command, extra: { ...(container !== undefined ? { container } : {}), ...extra } });
  const codeOf = (s: { container_status?: { exit_code?: number } | null } | undefined) => s?.container_status?.exit_code;

  it('FINISHED carries 0, FAILED its code, KILLED 128+SIGTERM — in UPDATE, RECONCILE, GetTasks and Watch', async () => {
    const agent = await f.startAgent({ containerizers: kind === 'docker' ? 'docker,process' : 'process' });
    const watch = operator.watch();
    await watch.next((e) => e.type === 'SNAPSHOT', 'the Watch snapshot');

    await f.launch(task('ok', 'exit 0'), task('bad', 'echo broken >&2; exit 3'), task('long', 'sleep 1000'));
    const byTask = new Map<string, TaskStatus__Output[]>();
    for (const id of ['ok', 'bad', 'long']) byTask.set(id, await f.expectStates(id, ['TASK_STARTING', 'TASK_RUNNING']));
    for (const [id, [starting, running]] of byTask) {
      expect([id, starting!.source, running!.source]).toEqual([id, 'SOURCE_EXECUTOR', 'SOURCE_EXECUTOR']);
      expect([codeOf(starting), codeOf(running)]).toEqual([undefined, undefined]); // terminal updates only
    }

    const [finished] = await f.expectStates('ok', ['TASK_FINISHED']);
    const [failed] = await f.expectStates('bad', ['TASK_FAILED']);
    f.kill('long', agent.agentId!);
    const [killed] = await f.expectStates('long', ['TASK_KILLED']);
    expect([finished!.source, codeOf(finished)]).toEqual(['SOURCE_EXECUTOR', 0]);
    expect([failed!.source, codeOf(failed), failed!.reason]).toEqual(['SOURCE_EXECUTOR', 3, 'REASON_COMMAND_EXECUTOR_FAILED']);
    expect([killed!.source, codeOf(killed)]).toEqual(['SOURCE_EXECUTOR', 143]);
    const expected = { ok: 0, bad: 3, long: 143 };

    // Acknowledged, the tasks are completed on the master: reconciliation still tells the code.
    f.fw.send({ type: 'RECONCILE', reconcile: { tasks: Object.keys(expected).map((id) => ({ task_id: { value: id }, agent_id: { value: agent.agentId! } })) } });
    for (const [id, code] of Object.entries(expected)) {
      const answer = await f.fw.nextUpdate(id);
      expect([id, answer.reason, answer.source, codeOf(answer)]).toEqual([id, 'REASON_RECONCILIATION', 'SOURCE_MASTER', code]);
    }

    const tasks = await operator.call<GetTasksResponse__Output>('GetTasks', { include_completed: true });
    const completed = new Map(tasks.completed_tasks.map((t) => [t.task_id!.value, t]));
    for (const [id, code] of Object.entries(expected)) expect([id, codeOf(completed.get(id)?.statuses[0])]).toEqual([id, code]);

    const terminal = (id: string) => (e: ClusterEvent__Output) => e.type === 'TASK_UPDATED' && e.task_updated?.status?.task_id?.value === id && e.task_updated.state === e.task_updated.status.state && ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED'].includes(String(e.task_updated.status.state));
    for (const [id, code] of Object.entries(expected)) {
      const event = await watch.next(terminal(id), `TASK_UPDATED of ${id}`);
      expect([id, event.task_updated!.status!.source, codeOf(event.task_updated!.status!)]).toEqual([id, 'SOURCE_EXECUTOR', code]);
    }
  });

  if (kind === 'docker') {
    it('a launch failure is the agent\'s report, without an exit code', async () => {
      await f.startAgent({ containerizers: 'docker,process' });
      // A registry on a closed loopback port: the pull fails without leaving the machine.
      await f.launch({ taskId: 'nope', command: 'true', extra: { container: { type: 'DOCKER', docker: { image: '127.0.0.1:1/berth/nope:1' } } } });
      const [starting, failed] = await f.expectStates('nope', ['TASK_STARTING', 'TASK_FAILED']);
      expect(starting!.source).toBe('SOURCE_EXECUTOR');
      expect([failed!.source, failed!.reason, codeOf(failed)]).toEqual(['SOURCE_AGENT', expect.stringMatching(/^REASON_CONTAINER_(LAUNCH|PULL)_FAILED$/), undefined]);
    });
  }
});
