import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent } from '../../src/agent/agent';
import { layout } from '../../src/agent/checkpoint';
import { SystemClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { startTcpProxy } from '../support/tcp-proxy';
import { expectStates as expectStatesAt } from '../support/agent-fixture';
import { launch, startTestMaster, TestScheduler, waitFor, type TestMaster } from '../support/master-harness';

/**
 * A real Agent (process containerizer, temp work dir, real time: processes need it) against a real
 * master (fake clock: the test drives allocation cycles) and a framework over real gRPC. Every wait is
 * bounded by the harness (WAIT_MS).
 */
describe('agent: process containerizer against a real master', () => {
  let master: TestMaster;
  let fw: TestScheduler;
  let workDir: string;
  const agents: Agent[] = [];

  beforeEach(async () => {
    master = await startTestMaster();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-'));
    fw = await TestScheduler.subscribe(master.address, { name: 'agent-test', failover_timeout: 3600 });
  });

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ killTasks: true });
    fw.close();
    await master.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  async function startAgent(address = master.address, extra: { recover?: 'reconnect' | 'cleanup' } = {}): Promise<Agent> {
    const agent = new Agent({
      ...extra,
      master: address,
      hostname: 'localhost',
      resources: Resources.parse('cpus:4;mem:4096;disk:1000;ports:[31000-31099]'),
      workDir,
      clock: new SystemClock(),
      reconnectMinMs: 50,
      logger: memoryLogger('warn'),
    });
    agents.push(agent);
    await agent.start();
    await agent.whenRegistered();
    return agent;
  }

  /** Launches one task on the next offer (one allocation cycle of the fake clock). */
  async function run(taskId: string, command: string, extra: Record<string, unknown> = {}): Promise<void> {
    master.clock.advance(1000);
    const offer = (await fw.nextOffers()).offers!.offers[0]!;
    fw.send({
      type: 'ACCEPT',
      accept: { offer_ids: [offer.id!], operations: [launch(offer, taskId, 'cpus:0.1;mem:32;ports:[31000-31000]', { command: { value: command, shell: true }, ...extra })], filters: { refuse_seconds: 0 } },
    });
  }

  const expectStates = (taskId: string, states: string[]): Promise<TaskStatus__Output[]> => expectStatesAt(fw, taskId, states);

  it('runs a task to TASK_FINISHED and forgets it once the terminal update is acknowledged', async () => {
    const agent = await startAgent();
    await run('hello', 'echo hello $PORT0; exit 0');
    const [, , finished] = await expectStates('hello', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    expect(finished!.agent_id!.value).toBe(agent.agentId);
    expect([finished!.source, finished!.container_status?.exit_code]).toEqual(['SOURCE_EXECUTOR', 0]);
    await waitFor(() => !agent.checkpoint.exists(layout.taskDir(fw.frameworkId, 'hello')), 'the task checkpoint to be removed after the ack');
    const sandboxes = path.join(workDir, 'sandboxes', encodeURIComponent(fw.frameworkId), 'hello');
    const [containerId] = fs.readdirSync(sandboxes);
    expect(fs.readFileSync(path.join(sandboxes, containerId!, 'stdout'), 'utf8')).toBe('hello 31000\n');
    await waitFor(() => fs.readdirSync(path.join(workDir, 'containers')).length === 0, 'the container to be removed from the containerizer');
  });

  it('reports a non-zero exit as TASK_FAILED naming the code', async () => {
    await startAgent();
    await run('fails', 'exit 3');
    const [, , failed] = await expectStates('fails', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    expect(failed!.message).toContain('status 3');
    expect(failed!.reason).toBe('REASON_COMMAND_EXECUTOR_FAILED');
  });

  it('kills a running task on KILL: TASK_KILLED', async () => {
    await startAgent();
    await run('sleeper', 'sleep 1000');
    const [, running] = await expectStates('sleeper', ['TASK_STARTING', 'TASK_RUNNING']);
    fw.send({ type: 'KILL', kill: { task_id: { value: 'sleeper' }, agent_id: running!.agent_id! } });
    await expectStates('sleeper', ['TASK_KILLED']);
  });

  it('fails a task that exceeds its max completion time', async () => {
    await startAgent();
    await run('slow', 'sleep 1000', { max_completion_time: { nanoseconds: String(200e6) } });
    await expectStates('slow', ['TASK_STARTING', 'TASK_RUNNING']);
    const failed = await fw.nextUpdate('slow', 'TASK_FAILED');
    expect(failed.reason).toBe('REASON_MAX_COMPLETION_TIME_REACHED');
  });

  it('survives an agent restart: same id, the running task re-attached and still killable', async () => {
    const first = await startAgent();
    await run('survivor', 'sleep 1000');
    const [, running] = await expectStates('survivor', ['TASK_STARTING', 'TASK_RUNNING']);
    await waitFor(() => first.pendingUpdates() === 0, 'the agent to receive the acknowledgement of TASK_RUNNING');
    await first.stop(); // containers keep running
    agents.splice(agents.indexOf(first), 1);

    const second = await startAgent();
    expect(second.agentId).toBe(first.agentId);
    expect(second.taskState(fw.frameworkId, 'survivor')).toBe('TASK_RUNNING');
    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'survivor' }, agent_id: running!.agent_id! }] } });
    const reconciled = await fw.nextUpdate('survivor');
    expect(reconciled.state).toBe('TASK_RUNNING');
    expect(reconciled.source).toBe('SOURCE_MASTER');

    fw.send({ type: 'KILL', kill: { task_id: { value: 'survivor' }, agent_id: running!.agent_id! } });
    await expectStates('survivor', ['TASK_KILLED']);
  });

  it('reports a task that ended while no agent ran with its terminal update after the restart', async () => {
    const first = await startAgent();
    await run('dies', 'sleep 1000');
    await expectStates('dies', ['TASK_STARTING', 'TASK_RUNNING']);
    await waitFor(() => first.pendingUpdates() === 0, 'the agent to receive the acknowledgement of TASK_RUNNING');
    await first.stop();
    agents.splice(agents.indexOf(first), 1);
    const sandboxes = path.join(workDir, 'sandboxes', encodeURIComponent(fw.frameworkId), 'dies');
    const [containerId] = fs.readdirSync(sandboxes);
    const pidFile = path.join(sandboxes, containerId!, 'berth-container.json');
    const { pid } = JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { pid: number };
    process.kill(-pid, 'SIGKILL');
    await waitFor(() => (JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { exit?: unknown }).exit !== undefined, 'the exit to be recorded');

    await startAgent();
    const [failed] = await expectStates('dies', ['TASK_FAILED']);
    expect(failed!.message).toContain('SIGKILL');
  });

  it('re-dials with backoff after a network cut and re-registers with the same id', async () => {
    const proxy = await startTcpProxy(`grpc://${master.address}`);
    try {
      const agent = await startAgent(proxy.url.replace(/^grpc:\/\//, ''));
      const id = agent.agentId;
      await run('cut', 'sleep 1000');
      const [, running] = await expectStates('cut', ['TASK_STARTING', 'TASK_RUNNING']);
      await waitFor(() => agent.pendingUpdates() === 0, 'the acknowledgement of TASK_RUNNING');
      proxy.cut();
      await waitFor(() => !agent.registered, 'the agent to notice the cut');
      await waitFor(() => agent.registered, 'the agent to re-register');
      expect(agent.agentId).toBe(id);
      fw.send({ type: 'KILL', kill: { task_id: { value: 'cut' }, agent_id: running!.agent_id! } });
      await expectStates('cut', ['TASK_KILLED']);
    } finally {
      await proxy.close();
    }
  });

  it('resends an unacknowledged update after a restart', async () => {
    const first = await startAgent();
    await run('unacked', 'exit 0');
    fw.ack(await fw.nextUpdate('unacked', 'TASK_STARTING'));
    const running = await fw.nextUpdate('unacked', 'TASK_RUNNING'); // not acknowledged
    await waitFor(() => first.taskState(fw.frameworkId, 'unacked') === 'TASK_FINISHED', 'the task to finish');
    await first.stop();
    agents.splice(agents.indexOf(first), 1);

    await startAgent();
    const again = await fw.nextUpdate('unacked', 'TASK_RUNNING');
    expect(Buffer.from(again.uuid).toString('hex')).toBe(Buffer.from(running.uuid).toString('hex'));
    fw.ack(again);
    await expectStates('unacked', ['TASK_FINISHED']);
  });

  it('refuses a corrupt checkpoint with a way out; --recover=cleanup kills the old tasks and registers afresh', async () => {
    const first = await startAgent();
    await run('old', 'sleep 1000');
    await expectStates('old', ['TASK_STARTING', 'TASK_RUNNING']);
    await waitFor(() => first.pendingUpdates() === 0, 'the acknowledgement of TASK_RUNNING');
    await first.stop();
    agents.splice(agents.indexOf(first), 1);
    const sandboxes = path.join(workDir, 'sandboxes', encodeURIComponent(fw.frameworkId), 'old');
    const [containerId] = fs.readdirSync(sandboxes);
    const { pid } = JSON.parse(fs.readFileSync(path.join(sandboxes, containerId!, 'berth-container.json'), 'utf8')) as { pid: number };
    fs.writeFileSync(path.join(workDir, layout.taskInfo(fw.frameworkId, 'old')), '{"version": 1, "frame');

    const refused = new Agent({ master: master.address, hostname: 'localhost', resources: Resources.parse('cpus:1;mem:128'), workDir, clock: new SystemClock(), logger: memoryLogger('error') });
    await expect(refused.start()).rejects.toMatchObject({ code: 'CHECKPOINT_CORRUPT', message: expect.stringContaining('--recover=cleanup') });
    await refused.stop();
    expect(() => process.kill(pid, 0)).not.toThrow(); // nothing was touched

    const fresh = await startAgent(master.address, { recover: 'cleanup' });
    expect(fresh.agentId).not.toBe(first.agentId);
    await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 'the old task to be killed');
    expect(fs.readdirSync(workDir).some((f) => f.startsWith('meta.discarded-'))).toBe(true);
  });
});
