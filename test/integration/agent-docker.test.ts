import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Agent } from '../../src/agent/agent';
import type { Containerizer } from '../../src/agent/containerizer/containerizer';
import type { ReadTaskLogResponse__Output } from '../../src/generated/berth/v1/ReadTaskLogResponse';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { AgentFixture, DOCKER, docker, duration, sleep, until, type AgentStartOptions, type TaskSpec } from '../support/agent-fixture';
import { TestOperator, waitFor, WAIT_MS } from '../support/master-harness';

/**
 * The agent end to end with the real Docker containerizer: a real Agent (docker,process containerizers,
 * real time) against the in-process test master (fake clock) and a framework over real gRPC, tasks in
 * containers of the real engine (busybox test image). Every container carries the fixture's scope
 * label (its work directory) and is force-removed after each test.
 */
jest.setTimeout(30_000);

describe('agent: Docker containerizer against a real master and the real engine', () => {
  let f: AgentFixture;

  beforeEach(async () => {
    f = await AgentFixture.start('agent-docker');
  });

  afterEach(async () => {
    await f.close();
  });

  const dockerAgent = (opts: AgentStartOptions = {}): Promise<Agent> => f.startAgent({ containerizers: 'docker,process', ...opts });

  /** A DOCKER task of the test image running `command` through /bin/sh. */
  const dockerTask = (taskId: string, command: string, extra: Record<string, unknown> = {}, resources?: string): TaskSpec => ({
    taskId,
    command,
    ...(resources !== undefined ? { resources } : {}),
    extra: { container: DOCKER, ...extra },
  });

  /** The next update of the task (in `state`, when given), waiting up to `ms`. */
  const update = (taskId: string, state?: string, ms = WAIT_MS): Promise<TaskStatus__Output> =>
    f.fw.events
      .next((e) => e.type === 'UPDATE' && e.update?.status?.task_id?.value === taskId && (state === undefined || e.update.status.state === state), `UPDATE ${taskId} ${state ?? ''}`, ms)
      .then((e) => e.update!.status!);

  /** Everything the task's container wrote to stdout so far, from the engine (frame headers dropped). */
  const engineLog = async (taskId: string): Promise<string> => {
    const { id } = await f.container(taskId);
    if (id === '') return '';
    const raw = (await docker.getContainer(id).logs({ stdout: true, stderr: false, follow: false })) as unknown as Buffer;
    return raw.toString('latin1');
  };

  const uuidOf = (s: TaskStatus__Output): string => Buffer.from(s.uuid).toString('hex');

  it('runs a DOCKER task: STARTING → RUNNING → FINISHED, its stdout readable through Operator.ReadTaskLog before and after it is forgotten', async () => {
    const agent = await dockerAgent();
    const operator = new TestOperator(f.master.address);
    try {
      await f.launch(dockerTask('hello', 'echo one; echo two; echo "hello from $BERTH_TASK_ID in $BERTH_SANDBOX"'));
      await f.expectStates('hello', ['TASK_STARTING', 'TASK_RUNNING']);
      const finished = await update('hello');
      expect([finished.state, finished.message, finished.source, finished.container_status?.exit_code]).toEqual(['TASK_FINISHED', 'Command exited with status 0', 'SOURCE_EXECUTOR', 0]);
      expect(finished.agent_id!.value).toBe(agent.agentId);

      // It really ran in a container of the engine, from the test image.
      const [c] = await f.containers();
      expect(c).toBeDefined();
      expect([c!.Image, c!.State, c!.Labels['io.berth.task-id']]).toEqual([DOCKER.docker.image, 'exited', 'hello']);

      const last = 'hello from hello in /mnt/berth/sandbox\n';
      const expected = `one\ntwo\n${last}`;
      const readLog = (extra: object = {}) => operator.call<ReadTaskLogResponse__Output>('ReadTaskLog', { task_id: { value: 'hello' }, framework_id: { value: f.fw.frameworkId }, stream: 'STDOUT', ...extra });
      const live = await readLog(); // from the engine's log: the container still exists
      expect([Buffer.from(live.data).toString(), Number(live.size)]).toEqual([expected, expected.length]);
      // The last 2 lines, counted back from the end of the engine's log.
      const tail = await readLog({ tail_lines: 2 });
      expect([Buffer.from(tail.data).toString(), Number(tail.offset)]).toEqual([`two\n${last}`, 4]);

      // Acknowledged: the agent forgets the task and removes the container, keeping its log in the sandbox.
      f.fw.ack(finished);
      await waitFor(() => agent.taskState(f.fw.frameworkId, 'hello') === undefined, 'the agent to forget the task');
      await until(async () => (await f.containers()).length === 0, 'the container to be removed');
      expect(fs.readFileSync(path.join(f.sandboxOf('hello'), 'stdout'), 'utf8')).toBe(expected);
      expect(Buffer.from((await readLog()).data).toString()).toBe(expected);
      expect(Buffer.from((await readLog({ tail_lines: 1 })).data).toString()).toBe(last); // from the sandbox copy
    } finally {
      operator.close();
    }
  });

  it('reports a non-zero exit as TASK_FAILED naming the status (and the last stderr line)', async () => {
    await dockerAgent();
    await f.launch(dockerTask('fails', 'echo "cannot continue" >&2; exit 3'));
    const [, , failed] = await f.expectStates('fails', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    expect(failed!.message).toContain('status 3');
    expect(failed!.message).toContain('cannot continue');
    expect(failed!.reason).toBe('REASON_COMMAND_EXECUTOR_FAILED');
  });

  it('kill honours the grace period: a task trapping SIGTERM runs on until SIGKILL; one that does not ends at once', async () => {
    const agent = await dockerAgent();
    await f.launch(
      dockerTask('stubborn', 'trap "echo got TERM" TERM; echo ready; while true; do sleep 0.1; done', { kill_policy: { grace_period: duration(1500) } }),
      dockerTask('polite', 'sleep 1000', { kill_policy: { grace_period: duration(30_000) } }),
    );
    await f.expectStates('stubborn', ['TASK_STARTING', 'TASK_RUNNING']);
    await f.expectStates('polite', ['TASK_STARTING', 'TASK_RUNNING']);
    await until(async () => (await engineLog('stubborn')).includes('ready'), 'the stubborn task to set its trap');

    const t0 = Date.now();
    f.kill('stubborn', agent.agentId!);
    f.kill('polite', agent.agentId!);

    // The stubborn one got SIGTERM, ignored it and is still running ~1 s later (within its 1.5 s).
    await until(async () => (await engineLog('stubborn')).includes('got TERM'), 'the stubborn task to receive SIGTERM');
    await sleep(Math.max(0, t0 + 1000 - Date.now()));
    expect((await f.container('stubborn')).state).toBe('running');
    expect(f.fw.events.peek((e) => e.update?.status?.task_id?.value === 'stubborn')).toEqual([]);

    const [stubborn] = await f.expectStates('stubborn', ['TASK_KILLED']);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(1450);
    // Its own grace period: SIGKILL came after 1.5 s, not at once (the exact bound against the 3 s default is
    // the fake-clock test in docker-containerizer.test.ts; a loaded CI engine adds seconds here).
    expect(elapsed).toBeLessThan(10_000);
    expect(stubborn!.message).toContain('137'); // SIGKILLed
    expect(stubborn!.container_status?.exit_code).toBe(137);
    expect((await f.container('stubborn')).state).toBe('exited');

    // The polite one ends on SIGTERM, long before its 30 s grace period (the wait is generous: a
    // busy engine on a 2-core CI host can take seconds to stop a container).
    const polite = await f.fw.nextUpdate('polite', 'TASK_KILLED', 20_000);
    f.fw.ack(polite);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect([polite.source, polite.container_status?.exit_code]).toEqual(['SOURCE_EXECUTOR', 143]); // SIGTERM: 128 + 15
  }, 45_000);

  it('a task breaching its memory limit is TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY', async () => {
    await dockerAgent();
    await f.launch(dockerTask('hog', 'tail /dev/zero', {}, 'cpus:0.1;mem:16'));
    await f.expectStates('hog', ['TASK_STARTING', 'TASK_RUNNING']);
    const failed = await update('hog', undefined, 20_000);
    expect([failed.state, failed.reason]).toEqual(['TASK_FAILED', 'REASON_CONTAINER_LIMITATION_MEMORY']);
    expect(failed.message).toMatch(/memory limit/);
    f.fw.ack(failed);
  });

  it('a task serving on $PORT0 is reachable on 127.0.0.1:<port> (host networking)', async () => {
    const agent = await dockerAgent();
    const port = f.ports[0]!;
    await f.launch(dockerTask('pong', 'while true; do echo pong | nc -l -p $PORT0; done', {}, `cpus:0.1;mem:32;ports:[${port}-${port}]`));
    await f.expectStates('pong', ['TASK_STARTING', 'TASK_RUNNING']);
    let answer = '';
    await until(async () => {
      answer = await new Promise<string>((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        let got = '';
        sock.on('data', (d: Buffer) => (got += d.toString()));
        sock.on('close', () => resolve(got));
        sock.on('error', () => resolve(''));
      });
      return answer.includes('pong');
    }, `an answer on port ${port}`);
    expect(answer).toBe('pong\n');
    f.kill('pong', agent.agentId!);
    await f.expectStates('pong', ['TASK_KILLED']);
  });

  it('a failing health check (TCP, nobody listening) reports healthy=false, then kills the task after 2 failures', async () => {
    await dockerAgent();
    const port = f.ports[1]!;
    const health_check = { type: 'TCP', tcp: { port }, delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 1, grace_period_seconds: 0, consecutive_failures: 2 };
    await f.launch(dockerTask('sick', 'sleep 1000', { health_check }, `cpus:0.1;mem:32;ports:[${port}-${port}]`));
    const [, running, unhealthy, killed] = await f.expectStates('sick', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING', 'TASK_KILLED']);
    expect(running!.healthy).toBeUndefined(); // no verdict yet
    expect([unhealthy!.healthy, unhealthy!.reason]).toEqual([false, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED']);
    expect(unhealthy!.message).toContain(`127.0.0.1:${port}`);
    expect([killed!.healthy, killed!.reason]).toEqual([false, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED']);
    expect(killed!.message).toMatch(/2 consecutive failed health checks/);
    await until(async () => (await f.container('sick')).state !== 'running', 'the container to stop');
  });

  it('a passing health check (HTTP to httpd on $PORT0) reports healthy=true', async () => {
    const agent = await dockerAgent();
    const port = f.ports[2]!;
    const health_check = { type: 'HTTP', http: { port, path: '/' }, delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 1, grace_period_seconds: 10, consecutive_failures: 3 };
    const serve = 'mkdir -p $BERTH_SANDBOX/www && echo ok > $BERTH_SANDBOX/www/index.html && exec httpd -f -p $PORT0 -h $BERTH_SANDBOX/www';
    await f.launch(dockerTask('well', serve, { health_check }, `cpus:0.1;mem:32;ports:[${port}-${port}]`));
    const [, , healthy] = await f.expectStates('well', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING']);
    expect([healthy!.healthy, healthy!.reason]).toEqual([true, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED']);
    expect(healthy!.message).toContain('returned 200');
    f.kill('well', agent.agentId!);
    const [killed] = await f.expectStates('well', ['TASK_KILLED']);
    expect(killed!.reason).not.toBe('REASON_TASK_HEALTH_CHECK_STATUS_UPDATED');
  });

  it('a COMMAND health check runs inside the container (docker exec): healthy, then unhealthy and killed', async () => {
    await dockerAgent();
    const health_check = { type: 'COMMAND', command: { value: 'test -f $BERTH_SANDBOX/healthy', shell: true }, delay_seconds: 0, interval_seconds: 0.2, timeout_seconds: 2, grace_period_seconds: 10, consecutive_failures: 2 };
    await f.launch(dockerTask('exec-checked', 'touch $BERTH_SANDBOX/healthy && sleep 1000', { health_check }));
    const [, , healthy] = await f.expectStates('exec-checked', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_RUNNING']);
    expect([healthy!.healthy, healthy!.reason]).toEqual([true, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED']);
    fs.rmSync(path.join(f.sandboxOf('exec-checked'), 'healthy'));
    const [unhealthy, killed] = await f.expectStates('exec-checked', ['TASK_RUNNING', 'TASK_KILLED']);
    expect([unhealthy!.healthy, unhealthy!.message]).toEqual([false, 'command exited with status 1']);
    expect([killed!.healthy, killed!.reason]).toEqual([false, 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED']);
  });

  it('agent SIGKILLed with 3 running containers and restarted on its work dir: same id, 2 still RUNNING, the dead one FAILED with its exit code', async () => {
    const first = await f.startAgentProcess();
    const stopper = 'while ! test -f $BERTH_SANDBOX/stop; do sleep 0.1; done; exit 7';
    await f.launch(dockerTask('keep-1', 'sleep 1000'), dockerTask('keep-2', 'sleep 1000'), dockerTask('ends', stopper));
    let agentId = '';
    for (const id of ['keep-1', 'keep-2', 'ends']) agentId = (await f.expectStates(id, ['TASK_STARTING', 'TASK_RUNNING']))[1]!.agent_id!.value;
    await until(async () => (await first.metric('berth_agent_pending_status_updates')) === 0, 'the agent to receive every acknowledgement');

    await first.kill(); // SIGKILL: nothing is cleaned up
    await waitFor(() => f.master.daemon.core!.agents.get(agentId)?.connected === false, 'the master to see the agent go');
    for (const id of ['keep-1', 'keep-2', 'ends']) expect((await f.container(id)).state).toBe('running');
    // One task ends while no agent watches it.
    fs.writeFileSync(path.join(f.sandboxOf('ends'), 'stop'), '');
    await until(async () => (await f.container('ends')).state === 'exited', 'the task to exit on its own');

    await f.startAgentProcess();
    const agents = f.master.daemon.core!.agents;
    expect([...agents.keys()]).toEqual([agentId]); // re-registered, not registered anew
    expect(agents.get(agentId)!.connected).toBe(true);

    const failed = await update('ends', 'TASK_FAILED');
    expect(failed.message).toContain('status 7');
    expect(failed.agent_id!.value).toBe(agentId);
    f.fw.ack(failed);

    f.fw.send({ type: 'RECONCILE', reconcile: { tasks: ['keep-1', 'keep-2'].map((id) => ({ task_id: { value: id }, agent_id: { value: agentId } })) } });
    for (const id of ['keep-1', 'keep-2']) {
      const reconciled = await update(id);
      expect([reconciled.state, reconciled.source, reconciled.reason]).toEqual(['TASK_RUNNING', 'SOURCE_MASTER', 'REASON_RECONCILIATION']);
      expect((await f.container(id)).state).toBe('running');
    }
    // Re-attached for real: the new agent process kills them and sees them end.
    for (const id of ['keep-1', 'keep-2']) f.kill(id, agentId);
    for (const id of ['keep-1', 'keep-2']) await f.expectStates(id, ['TASK_KILLED']);
    const bad = f.fw.events.log.filter((e) => e.type === 'UPDATE' && ['keep-1', 'keep-2'].includes(e.update!.status!.task_id!.value) && ['TASK_LOST', 'TASK_FAILED', 'TASK_GONE', 'TASK_UNREACHABLE', 'TASK_DROPPED'].includes(e.update!.status!.state));
    expect(bad).toEqual([]);
  });

  it('a container that started while the agent went down (crash during the launch) is reported TASK_RUNNING after the restart', async () => {
    // Recovery re-attaches the live container and reports TASK_RUNNING (the checkpoint still says
    // STAGING: TASK_STARTING is not written to task.json), so the master never sees the task go back.
    const { gate, held } = holdLaunches();
    const first = await dockerAgent({ wrap: held });
    await f.launch(dockerTask('mid-launch', 'sleep 1000'));
    await f.expectStates('mid-launch', ['TASK_STARTING']);
    await waitFor(() => first.pendingUpdates() === 0, 'the acknowledgement of TASK_STARTING');
    await f.stopAgent(first); // the agent goes away during the launch...
    gate.open(); // ...which completes: the container runs
    await until(async () => (await f.container('mid-launch')).state === 'running', 'the container to run');

    const second = await dockerAgent();
    expect(second.taskState(f.fw.frameworkId, 'mid-launch')).toBe('TASK_RUNNING');
    const [running] = await f.expectStates('mid-launch', ['TASK_RUNNING']);
    expect(running!.source).toBe('SOURCE_EXECUTOR');
  });

  it('stopping with killTasks while a launch is under way kills that container too', async () => {
    const { gate, held } = holdLaunches();
    const agent = await dockerAgent({ wrap: held });
    await f.launch(dockerTask('in-flight', 'sleep 1000'));
    await f.expectStates('in-flight', ['TASK_STARTING']);
    const stopping = agent.stop({ killTasks: true }); // waits for the launch in flight...
    gate.open(); // ...which then completes
    await stopping;
    await until(async () => ['exited', 'absent'].includes((await f.container('in-flight')).state), 'the container to be stopped');
  });

  it('resends an unacknowledged update after an agent restart, with the same uuid', async () => {
    const first = await dockerAgent();
    await f.launch(dockerTask('unacked', 'echo done'));
    await f.expectStates('unacked', ['TASK_STARTING', 'TASK_RUNNING']);
    const finished = await update('unacked', 'TASK_FINISHED'); // not acknowledged
    await waitFor(() => first.pendingUpdates() === 1, 'only TASK_FINISHED to be unacknowledged');
    await f.stopAgent(first);

    const second = await dockerAgent();
    expect(second.agentId).toBe(first.agentId);
    const again = await update('unacked', 'TASK_FINISHED');
    expect(uuidOf(again)).toBe(uuidOf(finished));
    f.fw.ack(again);
    await waitFor(() => second.taskState(f.fw.frameworkId, 'unacked') === undefined, 'the agent to forget the task once acknowledged');
    await until(async () => (await f.containers()).length === 0, 'the container to be removed');
  });

  it('resends an unacknowledged update after a master restart, with the same uuid', async () => {
    const agent = await dockerAgent({ statusRetryMinMs: 200, reconnectMaxMs: 200 });
    await f.launch(dockerTask('unacked', 'echo done'));
    await f.expectStates('unacked', ['TASK_STARTING', 'TASK_RUNNING']);
    const finished = await update('unacked', 'TASK_FINISHED'); // not acknowledged
    await waitFor(() => agent.pendingUpdates() === 1, 'only TASK_FINISHED to be unacknowledged');

    await f.restartMaster(); // same address and registry; the framework re-subscribes
    const again = await update('unacked', 'TASK_FINISHED');
    expect(uuidOf(again)).toBe(uuidOf(finished));
    expect(again.agent_id!.value).toBe(agent.agentId);
    await waitFor(() => f.master.daemon.core!.agents.get(agent.agentId!)?.connected === true, 'the agent to re-register with the new master');
    f.fw.ack(again);
    await waitFor(() => agent.pendingUpdates() === 0 && agent.taskState(f.fw.frameworkId, 'unacked') === undefined, 'the agent to get the acknowledgement through the new master');
  });
});

/** A containerizer wrapper whose launches wait until `gate.open()` (a launch still under way). */
function holdLaunches(): { gate: { open: () => void }; held: (real: Containerizer) => Containerizer } {
  let open!: () => void;
  const gated = new Promise<void>((resolve) => (open = resolve));
  const held = (real: Containerizer): Containerizer => ({
    types: real.types,
    launch: async (spec) => (await gated, real.launch(spec)),
    kill: (id, grace) => real.kill(id, grace),
    wait: (id) => real.wait(id),
    recover: () => real.recover(),
    readLog: (id, stream, offset, length) => real.readLog(id, stream, offset, length),
    remove: (id) => real.remove(id),
    exec: (id, command, timeoutMs) => real.exec(id, command, timeoutMs),
    close: () => real.close(),
  });
  return { gate: { open }, held };
}
