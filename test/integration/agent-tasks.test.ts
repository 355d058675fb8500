import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { AgentFixture, DOCKER, until } from '../support/agent-fixture';
import { waitFor } from '../support/master-harness';

/**
 * Task groups, COMMAND health checks and the agent's launch refusals, end to end: a real Agent (process
 * containerizer unless a test needs DOCKER among its types; real time) against the in-process test
 * master (fake clock) and a framework over real gRPC.
 */
jest.setTimeout(30_000);

describe('agent: task groups, health checks and refusals against a real master', () => {
  let f: AgentFixture;

  beforeEach(async () => {
    f = await AgentFixture.start('agent-tasks');
  });

  afterEach(async () => {
    await f.close();
  });

  /** Waits until `stop` exists in the sandbox (cwd), then exits with `code`. */
  const exitsOnSignalFile = (code: number): string => `while ! test -f stop; do sleep 0.05; done; exit ${code}`;

  const updatesOf = (taskId: string): TaskStatus__Output[] =>
    f.fw.events.log.filter((e) => e.type === 'UPDATE' && e.update!.status!.task_id!.value === taskId).map((e) => e.update!.status!);

  describe('LAUNCH_GROUP', () => {
    it('both tasks run; when one exits non-zero the other is killed, naming the group', async () => {
      const agent = await f.startAgent();
      await f.launchGroup({ taskId: 'g-fails', command: exitsOnSignalFile(4) }, { taskId: 'g-mate', command: 'sleep 1000' });
      await f.expectStates('g-fails', ['TASK_STARTING', 'TASK_RUNNING']);
      await f.expectStates('g-mate', ['TASK_STARTING', 'TASK_RUNNING']);
      expect(agent.taskState(f.fw.frameworkId, 'g-mate')).toBe('TASK_RUNNING');

      fs.writeFileSync(path.join(f.sandboxOf('g-fails'), 'stop'), '');
      const [failed] = await f.expectStates('g-fails', ['TASK_FAILED']);
      expect(failed!.message).toContain('status 4');
      const [killed] = await f.expectStates('g-mate', ['TASK_KILLED']);
      expect(killed!.reason).toBe('REASON_TASK_GROUP_INVALID');
      expect(killed!.message).toMatch(/task g-fails of its group ended with TASK_FAILED/);
    });

    it('KILL of one member kills both', async () => {
      const agent = await f.startAgent();
      await f.launchGroup({ taskId: 'g-a', command: 'sleep 1000' }, { taskId: 'g-b', command: 'sleep 1000' });
      await f.expectStates('g-a', ['TASK_STARTING', 'TASK_RUNNING']);
      await f.expectStates('g-b', ['TASK_STARTING', 'TASK_RUNNING']);

      f.kill('g-a', agent.agentId!);
      const [a] = await f.expectStates('g-a', ['TASK_KILLED']);
      const [b] = await f.expectStates('g-b', ['TASK_KILLED']);
      expect(a!.reason).not.toBe('REASON_TASK_GROUP_INVALID'); // killed by the framework
      expect([b!.reason, b!.message]).toEqual(['REASON_TASK_GROUP_INVALID', 'task g-a of its group was killed']);
    });

    it('a member that cannot start (image pull fails) fails; its mate is killed without ever running', async () => {
      await f.startAgent({ containerizers: 'docker,process' });
      await f.launchGroup(
        { taskId: 'g-mate', command: 'sleep 1000' },
        // A registry on a closed loopback port: the pull fails without leaving the machine.
        { taskId: 'g-noimage', command: 'true', extra: { container: { type: 'DOCKER', docker: { image: '127.0.0.1:1/berth/nope:1' } } } },
      );
      const [, failed] = await f.expectStates('g-noimage', ['TASK_STARTING', 'TASK_FAILED']);
      expect(failed!.reason).toBe('REASON_CONTAINER_LAUNCH_FAILED');
      expect(failed!.message).toMatch(/pulling image 127\.0\.0\.1:1\/berth\/nope:1 failed/);
      const [, killed] = await f.expectStates('g-mate', ['TASK_STARTING', 'TASK_KILLED']);
      expect(killed!.reason).toBe('REASON_TASK_GROUP_INVALID');
      expect(killed!.message).toMatch(/g-noimage/);
      await f.fw.settled();
      expect(updatesOf('g-mate').map((s) => s.state)).toEqual(['TASK_STARTING', 'TASK_KILLED']);
    });

    it('survives an agent restart as a group: a member that died while no agent ran takes its mate with it', async () => {
      const first = await f.startAgent();
      await f.launchGroup({ taskId: 'g-dies', command: 'sleep 1000' }, { taskId: 'g-left', command: 'sleep 1000' });
      await f.expectStates('g-dies', ['TASK_STARTING', 'TASK_RUNNING']);
      await f.expectStates('g-left', ['TASK_STARTING', 'TASK_RUNNING']);
      await waitFor(() => first.pendingUpdates() === 0, 'the acknowledgements of TASK_RUNNING');
      await f.stopAgent(first); // tasks keep running

      const pidFile = path.join(f.sandboxOf('g-dies'), 'berth-container.json');
      const { pid } = JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { pid: number };
      process.kill(-pid, 'SIGKILL');
      await waitFor(() => (JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { exit?: unknown }).exit !== undefined, 'the exit to be recorded');

      const second = await f.startAgent();
      expect(second.agentId).toBe(first.agentId);
      const [dead] = await f.expectStates('g-dies', ['TASK_FAILED']);
      expect(dead!.message).toContain('SIGKILL');
      const [left] = await f.expectStates('g-left', ['TASK_KILLED']);
      expect([left!.reason, left!.message]).toEqual(['REASON_TASK_GROUP_INVALID', 'task g-dies of its group ended with TASK_FAILED']);
    });

    it('a group with a task the agent refuses (privileged DOCKER) is TASK_ERROR as a whole; nothing starts', async () => {
      await f.startAgent({ containerizers: 'docker,process' });
      await f.launchGroup(
        { taskId: 'g-plain', command: 'sleep 1000' },
        { taskId: 'g-privileged', command: 'sleep 1000', extra: { container: { ...DOCKER, docker: { ...DOCKER.docker, privileged: true } } } },
      );
      const [privileged] = await f.expectStates('g-privileged', ['TASK_ERROR']);
      expect([privileged!.reason, privileged!.source]).toEqual(['REASON_TASK_UNAUTHORIZED', 'SOURCE_AGENT']);
      expect(privileged!.message).toMatch(/privileged/);
      const [plain] = await f.expectStates('g-plain', ['TASK_ERROR']);
      expect(plain!.reason).toBe('REASON_TASK_GROUP_INVALID');
      expect(plain!.message).toMatch(/another task of the group was refused: privileged/);

      await f.fw.settled();
      for (const id of ['g-plain', 'g-privileged']) expect(updatesOf(id).map((s) => s.state)).toEqual(['TASK_ERROR']);
      expect(fs.existsSync(path.join(f.workDir, 'sandboxes'))).toBe(false);
      expect(await f.containers()).toEqual([]);
    });
  });

  it('a COMMAND health check in the sandbox: healthy=true, then healthy=false once the file is gone, then killed after the threshold', async () => {
    await f.startAgent();
    const health_check = {
      type: 'COMMAND',
      command: { value: 'test -f healthy', shell: true },
      delay_seconds: 0,
      interval_seconds: 0.2,
      timeout_seconds: 2,
      grace_period_seconds: 10, // failures before the first success are not counted
      consecutive_failures: 2,
    };
    await f.launch({ taskId: 'checked', command: 'touch healthy && sleep 1000', extra: { health_check } });
    const [, running, healthy] = await f.expectStates('checked', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING']);
    expect(running!.healthy).toBeUndefined();
    expect([healthy!.healthy, healthy!.reason, healthy!.source]).toEqual([true, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED', 'SOURCE_AGENT']);

    fs.rmSync(path.join(f.sandboxOf('checked'), 'healthy'));
    const [unhealthy, killed] = await f.expectStates('checked', ['TASK_RUNNING', 'TASK_KILLED']);
    expect([unhealthy!.healthy, unhealthy!.reason]).toEqual([false, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED']);
    expect(unhealthy!.message).toMatch(/command exited with status 1/);
    expect([killed!.healthy, killed!.reason]).toEqual([false, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED']);
    expect(killed!.message).toMatch(/2 consecutive failed health checks/);
    // The agent's kill, not the task's doing; the process's end (SIGTERM) is still reported.
    expect([killed!.source, killed!.container_status?.exit_code]).toEqual(['SOURCE_AGENT', 143]);
  });

  it('refuses a TCP/HTTP health check aimed at a port that is not the task\'s (host networking: it would probe another task or the host)', async () => {
    // KNOWN BUG (fails until fixed): src/agent/launch-spec.ts calls healthCheckFromWire(info.health_check)
    // without the task's ports, so the restriction health-checker.ts documents ("must name one of the
    // task's ports") is never applied: the task runs and the agent probes whatever port the framework names.
    await f.startAgent();
    const [own, foreign] = [f.ports[0]!, f.ports[1]!];
    const health_check = { type: 'TCP', tcp: { port: foreign }, delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 1, grace_period_seconds: 0, consecutive_failures: 3 };
    await f.launch({ taskId: 'probe', command: 'sleep 1000', resources: `cpus:0.1;mem:32;ports:[${own}-${own}]`, extra: { health_check } });
    const first = await f.fw.nextUpdate('probe');
    f.fw.ack(first); // a task the agent wrongly runs is killed by close()
    expect(`${first.state} (${first.reason}): ${first.message}`).toMatch(new RegExp(`^TASK_ERROR \\(REASON_TASK_INVALID\\): .*tcp\\.port: must be one of the task's ports \\(${own}\\), got ${foreign}`));
  });

  it('refuses volumes on a PROCESS task with TASK_ERROR', async () => {
    const agent = await f.startAgent({ allowedHostPaths: ['/tmp'] });
    await f.launch({ taskId: 'vol', command: 'sleep 1000', extra: { container: { type: 'PROCESS', volumes: [{ container_path: '/data', host_path: '/tmp', mode: 'RW' }] } } });
    const [error] = await f.expectStates('vol', ['TASK_ERROR']);
    expect([error!.reason, error!.source]).toEqual(['REASON_TASK_INVALID', 'SOURCE_AGENT']);
    expect(error!.message).toMatch(/volumes need a DOCKER container/);
    await waitFor(() => agent.taskState(f.fw.frameworkId, 'vol') === undefined, 'the agent to forget the refused task once acknowledged');
  });

  it('refuses a privileged DOCKER task (REASON_TASK_UNAUTHORIZED) and a host path not allowed, on an agent that runs DOCKER', async () => {
    await f.startAgent({ containerizers: 'docker,process', allowedHostPaths: [f.workDir] });
    await f.launch(
      { taskId: 'priv', command: 'sleep 1000', extra: { container: { ...DOCKER, docker: { ...DOCKER.docker, privileged: true } } } },
      { taskId: 'etc', command: 'sleep 1000', extra: { container: { ...DOCKER, volumes: [{ container_path: '/host-etc', host_path: '/etc', mode: 'RO' }] } } },
    );
    const [priv] = await f.expectStates('priv', ['TASK_ERROR']);
    expect(priv!.reason).toBe('REASON_TASK_UNAUTHORIZED');
    expect(priv!.message).toMatch(/privileged containers are not allowed/);
    const [etc] = await f.expectStates('etc', ['TASK_ERROR']);
    expect(etc!.reason).toBe('REASON_TASK_UNAUTHORIZED');
    expect(etc!.message).toMatch(/host_path "\/etc" is not under an allowed host path/);
    await until(async () => (await f.containers()).length === 0, 'no container to exist');
  });
});
