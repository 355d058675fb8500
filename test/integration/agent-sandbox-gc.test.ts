/**
 * Issue 15, point 6, on the agent: a finished task's sandbox — and so its log through
 * Operator.ReadTaskLog — stays after the task is forgotten, until the agent's garbage collection
 * takes it (here: the disk passes the headroom). A real Agent (process containerizer, real time)
 * against the in-process test master over real gRPC; the disk gauge is the test's.
 */
import { status as Status } from '@grpc/grpc-js';
import * as fs from 'node:fs';
import type { ReadTaskLogResponse__Output } from '../../src/generated/berth/v1/ReadTaskLogResponse';
import { AgentFixture, until } from '../support/agent-fixture';
import { TestOperator, waitFor } from '../support/master-harness';

jest.setTimeout(30_000);

describe('agent: sandbox garbage collection', () => {
  let f: AgentFixture;
  let operator: TestOperator;

  beforeEach(async () => {
    f = await AgentFixture.start('sandbox-gc');
    operator = new TestOperator(f.master.address);
  });

  afterEach(async () => {
    operator.close();
    await f.close();
  });

  it('keeps a finished task\'s log readable until the disk fills past the headroom, then reclaims the sandbox', async () => {
    let usage = 0.2;
    // A week's delay: only disk use can make it go within the test. Checked every 50 ms of real time.
    const agent = await f.startAgent({}, { sandboxGc: { gcDelayMs: 7 * 86_400_000, gcDiskHeadroom: 0.1, diskWatchIntervalMs: 50, diskUsage: () => usage } });
    await f.launch({ taskId: 'report', command: 'echo the-report' });
    await f.expectStates('report', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    await waitFor(() => agent.taskState(f.fw.frameworkId, 'report') === undefined, 'the agent to forget the acknowledged task');
    await waitFor(() => agent.sandboxGc.pending === 1, 'the sandbox to be scheduled for garbage collection');
    const sandbox = f.sandboxOf('report');

    const read = () => operator.call<ReadTaskLogResponse__Output>('ReadTaskLog', { task_id: { value: 'report' }, framework_id: { value: f.fw.frameworkId }, stream: 'STDOUT' });
    expect(Buffer.from((await read()).data).toString()).toBe('the-report\n');

    usage = 0.95; // past 1 − headroom: every finished sandbox goes at the next check
    await until(() => !fs.existsSync(sandbox), 'the sandbox to be garbage-collected');
    const refusal = await operator.refusal('ReadTaskLog', { task_id: { value: 'report' }, framework_id: { value: f.fw.frameworkId }, stream: 'STDOUT' });
    expect([refusal.code, refusal.details]).toEqual([Status.FAILED_PRECONDITION, expect.stringMatching(/no such task on this agent/)]);
  });
});
