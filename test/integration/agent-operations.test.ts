import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent } from '../../src/agent/agent';
import { SystemClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import type { ReadTaskLogResponse__Output } from '../../src/generated/berth/v1/ReadTaskLogResponse';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { main } from '../../src/cli/main';
import { expectStates as expectStatesAt } from '../support/agent-fixture';
import { launch, startTestMaster, TestOperator, TestScheduler, waitFor, type TestMaster } from '../support/master-harness';

/**
 * Operator and master actions carried out end to end by a real Agent (process containerizer, real
 * time) under a real master (fake clock): task logs, framework teardown, agent removal.
 */
describe('agent: operations through the master', () => {
  let master: TestMaster;
  let fw: TestScheduler;
  let operator: TestOperator;
  let workDir: string;
  const agents: Agent[] = [];

  beforeEach(async () => {
    master = await startTestMaster();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-ops-'));
    fw = await TestScheduler.subscribe(master.address, { name: 'ops-test', failover_timeout: 3600 });
    operator = new TestOperator(master.address);
  });

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ killTasks: true });
    operator.close();
    fw.close();
    await master.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  async function startAgent(onShutdown?: (message: string) => void): Promise<Agent> {
    const agent = new Agent({
      master: master.address,
      hostname: 'localhost',
      resources: Resources.parse('cpus:4;mem:4096;disk:1000;ports:[31000-31099]'),
      workDir,
      clock: new SystemClock(),
      reconnectMinMs: 50,
      onShutdown,
      logger: memoryLogger('warn'),
    });
    agents.push(agent);
    await agent.start();
    await agent.whenRegistered();
    return agent;
  }

  async function run(taskId: string, command: string): Promise<void> {
    master.clock.advance(1000);
    const offer = (await fw.nextOffers()).offers!.offers[0]!;
    fw.send({
      type: 'ACCEPT',
      accept: { offer_ids: [offer.id!], operations: [launch(offer, taskId, 'cpus:0.1;mem:32', { command: { value: command, shell: true } })], filters: { refuse_seconds: 0 } },
    });
  }

  const expectStates = (taskId: string, states: string[]): Promise<TaskStatus__Output[]> => expectStatesAt(fw, taskId, states);

  /** The pid of the task's (only) container, from its sandbox. */
  function taskPid(taskId: string): number {
    const dir = path.join(workDir, 'sandboxes', encodeURIComponent(fw.frameworkId), taskId);
    const [containerId] = fs.readdirSync(dir);
    return (JSON.parse(fs.readFileSync(path.join(dir, containerId!, 'berth-container.json'), 'utf8')) as { pid: number }).pid;
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  const readLog = (request: object) => operator.call<ReadTaskLogResponse__Output>('ReadTaskLog', { task_id: { value: 'echo' }, stream: 'STDOUT', ...request });

  it('Operator.ReadTaskLog returns the task\'s stdout, honouring offset and length, also once the task is over', async () => {
    const agent = await startAgent();
    await run('echo', 'echo berth-log-line');
    await expectStates('echo', ['TASK_STARTING', 'TASK_RUNNING']);
    await waitFor(() => agent.taskState(fw.frameworkId, 'echo') === 'TASK_FINISHED', 'the task to finish');

    const all = await readLog({});
    expect(Buffer.from(all.data).toString()).toBe('berth-log-line\n');
    expect([Number(all.size), Number(all.offset)]).toEqual([15, 0]);
    const middle = await readLog({ offset: 6, length: 3 });
    expect([Buffer.from(middle.data).toString(), Number(middle.offset), Number(middle.size)]).toEqual(['log', 6, 15]);
    const tail = await readLog({ offset: -5 });
    expect([Buffer.from(tail.data).toString(), Number(tail.offset)]).toEqual(['line\n', 10]);

    // Acknowledged, the task is forgotten by the agent; its sandbox (and log) stays readable.
    await expectStates('echo', ['TASK_FINISHED']);
    await waitFor(() => agent.taskState(fw.frameworkId, 'echo') === undefined, 'the agent to forget the task');
    expect(Buffer.from((await readLog({ offset: 6 })).data).toString()).toBe('log-line\n');
  });

  it('TEARDOWN of a framework (SHUTDOWN_FRAMEWORK) kills its running task on the agent', async () => {
    const agent = await startAgent();
    await run('sleeper', 'sleep 1000');
    await expectStates('sleeper', ['TASK_STARTING', 'TASK_RUNNING']);
    const pid = taskPid('sleeper');
    expect(alive(pid)).toBe(true);
    await operator.call('Teardown', { framework_id: { value: fw.frameworkId } });
    // Killed, and — the master acknowledging in the removed framework's stead — then forgotten.
    await waitFor(() => !alive(pid), 'the task process to be gone', 10_000);
    await waitFor(() => agent.taskState(fw.frameworkId, 'sleeper') === undefined, 'the agent to forget the killed task', 10_000);
  });

  it('MarkAgentGone (SHUTDOWN) stops the agent\'s link and the agent reports it stopped', async () => {
    let shutdown: string | undefined;
    const agent = await startAgent((message) => (shutdown = message));
    await operator.call('MarkAgentGone', { agent_id: { value: agent.agentId } });
    await waitFor(() => shutdown !== undefined, 'the agent to report the shutdown');
    expect(shutdown).toMatch(/gone/);
    expect(agent.registered).toBe(false);
    await new Promise((r) => setTimeout(r, 300)); // several backoff periods: the link does not re-dial
    expect(agent.registered).toBe(false);
  });

  describe('berth task logs', () => {
    async function berth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      let stdout = '';
      let stderr = '';
      const code = await main(['node', 'berth', ...args], { stdout: (x) => { stdout += x; }, stderr: (x) => { stderr += x; } });
      return { code, stdout, stderr };
    }

    it('prints the last lines (or bytes) or the whole log, stderr on request, and follows a task until it ends', async () => {
      const agent = await startAgent();
      await run('echo', 'for i in 1 2 3; do echo line $i; done; echo oops >&2');
      await expectStates('echo', ['TASK_STARTING', 'TASK_RUNNING']);
      await waitFor(() => agent.taskState(fw.frameworkId, 'echo') === 'TASK_FINISHED', 'the task to finish');
      expect(await berth('task', 'logs', 'echo', '--master', master.address)).toEqual({ code: 0, stdout: 'line 1\nline 2\nline 3\n', stderr: '' });
      expect((await berth('task', 'logs', 'echo', '--tail', '2', '--master', master.address)).stdout).toBe('line 2\nline 3\n');
      expect((await berth('task', 'logs', 'echo', '--tail', '0', '--master', master.address)).stdout).toBe('');
      // Bytes stay available; they may start mid-line.
      expect((await berth('task', 'logs', 'echo', '--tail-bytes', '9', '--master', master.address)).stdout).toBe('2\nline 3\n');
      expect((await berth('task', 'logs', 'echo', '--stderr', '--all', '--framework', fw.frameworkId, '--master', master.address)).stdout).toBe('oops\n');
      await expectStates('echo', ['TASK_FINISHED']);

      await run('ticker', 'for i in 1 2 3; do echo tick $i; sleep 0.2; done');
      await expectStates('ticker', ['TASK_STARTING', 'TASK_RUNNING']);
      const followed = berth('task', 'logs', 'ticker', '--follow', '--interval-ms', '50', '--master', master.address);
      const ticks = await expectStates('ticker', ['TASK_FINISHED']);
      expect(ticks).toHaveLength(1);
      expect(await followed).toEqual({ code: 0, stdout: 'tick 1\ntick 2\ntick 3\n', stderr: '' });
    });

    it('--tail N of a log of 3 MB (beyond one 1 MiB read) starts at a line, whole lines only; the last line may lack its newline', async () => {
      const agent = await startAgent();
      // 30,000 lines of 100 bytes, then one without a newline.
      await run('big', `${process.execPath} -e "for (let i = 0; i < 30000; i++) process.stdout.write(String(i).padStart(99, '.') + '\\n'); process.stdout.write('end')"`);
      await expectStates('big', ['TASK_STARTING', 'TASK_RUNNING']);
      await waitFor(() => agent.taskState(fw.frameworkId, 'big') === 'TASK_FINISHED', 'the task to finish', 30_000);
      const three = await berth('task', 'logs', 'big', '--tail', '3', '--master', master.address);
      expect(three).toEqual({ code: 0, stdout: `${'29998'.padStart(99, '.')}\n${'29999'.padStart(99, '.')}\nend`, stderr: '' });
      // 25,001 lines (the 25,000 last full ones and "end") are 2.5 MB: printed in several reads, from line 5000 on.
      const many = (await berth('task', 'logs', 'big', '--tail', '25001', '--master', master.address)).stdout;
      expect(many.length).toBe(25_000 * 100 + 3);
      expect(many.startsWith(`${'5000'.padStart(99, '.')}\n${'5001'.padStart(99, '.')}\n`)).toBe(true);
      await expectStates('big', ['TASK_FINISHED']);
    });

    it('says what to do when the master is unreachable (exit 1) or an argument is bad (exit 2)', async () => {
      const down = await berth('task', 'logs', 'x', '--master', '127.0.0.1:1');
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/cannot reach a master at 127\.0\.0\.1:1.*--master HOST:PORT or BERTH_MASTER/);
      const bad = await berth('task', 'logs', 'x', '--tail', '-5', '--master', master.address);
      expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('--tail must be a non-negative integer, got "-5"') });
      expect(await berth('task', 'logs', 'x', '--tail', '5', '--tail-bytes', '100', '--master', master.address)).toMatchObject({
        code: 2, stderr: expect.stringContaining('--tail and --tail-bytes do not go together: use one of --tail <lines>, --tail-bytes <bytes>, --all'),
      });
      expect(await berth('task', 'logs', 'x', '--tail', '100001', '--master', master.address)).toMatchObject({ code: 2, stderr: expect.stringContaining('--tail must be at most 100000 lines, got "100001"') });
      const unknown = await berth('task', 'logs', 'nope', '--master', master.address);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/nope/);
    });
  });
});
