import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import type { Agent } from '../../src/agent/agent';
import { Authenticator, Authorizer, loadAclsFile } from '../../src/common/auth';
import { AgentFixture, DOCKER, type TaskSpec } from '../support/agent-fixture';
import { bearer, FakeAgent, launch, startTestMaster, TestScheduler, type TestMaster } from '../support/master-harness';

jest.setTimeout(30_000);

const NOBODY = 65534;
/** Bit 13 of a capability set: CAP_NET_RAW. */
const CAP_NET_RAW = 1n << 13n;

/**
 * Which Unix user a task runs as, and what a Docker task may not do: a real Agent (process and Docker
 * containerizers, as root) against the in-process master and a framework over real gRPC.
 */
describe('agent: task users and container hardening', () => {
  let f: AgentFixture;

  beforeEach(async () => {
    f = await AgentFixture.start('task-users', { tls: true });
  });

  afterEach(async () => {
    await f.close();
  });

  /** Runs one task to TASK_FINISHED and returns what it wrote to `$BERTH_SANDBOX/out`. */
  async function output(agentOpts: Parameters<AgentFixture['startAgent']>, task: TaskSpec): Promise<string> {
    if (f.agents.length === 0) await f.startAgent(...agentOpts);
    await f.launch(task);
    await f.expectStates(task.taskId, ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
    return fs.readFileSync(path.join(f.sandboxOf(task.taskId), 'out'), 'utf8');
  }

  const ids = 'id -u > $BERTH_SANDBOX/out; id -g >> $BERTH_SANDBOX/out; id -G >> $BERTH_SANDBOX/out';

  test('a process task on a root agent runs as the default task user, in a sandbox it owns', async () => {
    const out = await output([], { taskId: 'who', command: ids });
    expect(out.trim().split('\n')).toEqual([String(NOBODY), String(NOBODY), String(NOBODY)]);
    const sandbox = fs.statSync(f.sandboxOf('who'));
    expect([sandbox.uid, sandbox.mode & 0o777]).toEqual([NOBODY, 0o700]);
    // The agent's own copy of the container record is its own, not the task's.
    const records = fs.readdirSync(path.join(f.workDir, 'containers')).filter((n) => n.endsWith('.json'));
    expect(records.map((n) => fs.statSync(path.join(f.workDir, 'containers', n)).uid)).toEqual([0]);
  });

  test('a process task runs in cgroups with its memory and cpu limits; exceeding its memory is an OOM kill', async () => {
    await f.startAgent();
    const out = await output([], { taskId: 'limited', resources: 'cpus:0.5;mem:48', command: 'grep -E ":(memory|cpu,cpuacct|cpu):" /proc/self/cgroup > $BERTH_SANDBOX/out || cat /proc/self/cgroup > $BERTH_SANDBOX/out' });
    const containerId = path.basename(f.sandboxOf('limited'));
    expect(out).toContain(`/berth/${containerId}`);
    // The cgroups are gone with the task.
    expect(fs.existsSync(`/sys/fs/cgroup/memory/berth/${containerId}`) || fs.existsSync(`/sys/fs/cgroup/berth/${containerId}`)).toBe(false);

    await f.launch({ taskId: 'hungry', resources: 'cpus:0.5;mem:16', command: 'head -c 200000000 /dev/zero | tail > /dev/null' });
    const [, , oom] = await f.expectStates('hungry', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    expect(oom!.reason).toBe('REASON_CONTAINER_LIMITATION_MEMORY');
  });

  test('CommandInfo.user picks the user; an unknown user fails the task saying so', async () => {
    await f.startAgent({}, { taskUser: 'nobody' });
    expect((await output([], { taskId: 'as-root', command: ids, extra: { command: { value: ids, shell: true, user: 'root' } } })).split('\n')[0]).toBe('0');
    await f.launch({ taskId: 'ghost', command: 'true', extra: { command: { value: 'true', shell: true, user: 'no-such-user-here' } } });
    const [failed] = await f.expectStates('ghost', ['TASK_FAILED']);
    expect(failed).toMatchObject({ state: 'TASK_FAILED', reason: 'REASON_TASK_INVALID', message: 'user "no-such-user-here" does not exist on this agent' });
  });

  test('an agent that is not root runs tasks as itself and fails one that asks for another user', async () => {
    await f.startAgent({}, { taskUsers: { agentUid: 1000, agentUser: 'builder' } });
    const out = await output([], { taskId: 'self', command: 'id -u > $BERTH_SANDBOX/out' });
    expect(out.trim()).toBe(String(process.getuid?.()));
    await f.launch({ taskId: 'other', command: 'true', extra: { command: { value: 'true', shell: true, user: 'nobody' } } });
    const status = await f.fw.nextUpdate('other', 'TASK_FAILED');
    expect(status).toMatchObject({ reason: 'REASON_TASK_UNAUTHORIZED', message: 'the task asks to run as user "nobody", but this agent runs as "builder" (not root) and can run tasks only as itself' });
  });

  test('a Docker task runs as the task user with no-new-privileges, without NET_RAW, under a pids limit', async () => {
    const agent: Agent = await f.startAgent({ containerizers: 'docker,process' });
    expect(agent).toBeDefined();
    const probe = 'id -u > $BERTH_SANDBOX/out; grep -E "^(NoNewPrivs|CapBnd|CapEff):" /proc/self/status >> $BERTH_SANDBOX/out; cat /sys/fs/cgroup/pids/pids.max >> $BERTH_SANDBOX/out 2>/dev/null || echo no-pids-cgroup >> $BERTH_SANDBOX/out';
    const nobody = await output([], { taskId: 'docker-nobody', command: probe, extra: { container: DOCKER } });
    const [uid, ...status] = nobody.trim().split('\n');
    expect(uid).toBe(String(NOBODY));
    const fields = Object.fromEntries(status.filter((l) => l.includes(':')).map((l) => l.split(/:\s+/) as [string, string]));
    expect(fields['NoNewPrivs']).toBe('1');
    expect(BigInt(`0x${fields['CapBnd']}`) & CAP_NET_RAW).toBe(0n);
    expect(status[status.length - 1]).toBe('4096');

    // Even as root inside the container, NET_RAW is gone from the effective set.
    const root = await output([], { taskId: 'docker-root', command: probe, extra: { container: DOCKER, command: { value: probe, shell: true, user: 'root' } } });
    const rootCaps = Object.fromEntries(root.trim().split('\n').filter((l) => l.includes(':')).map((l) => l.split(/:\s+/) as [string, string]));
    expect(BigInt(`0x${rootCaps['CapEff']}`)).not.toBe(0n);
    expect(BigInt(`0x${rootCaps['CapEff']}`) & CAP_NET_RAW).toBe(0n);
  });

  test('a Docker task may ask for a read-only root filesystem; its sandbox stays writable', async () => {
    await f.startAgent({ containerizers: 'docker,process' });
    const out = await output([], {
      taskId: 'ro',
      command: '(touch /bin/x 2>/dev/null && echo wrote-rootfs || echo rootfs-read-only) > $BERTH_SANDBOX/out',
      extra: { container: { ...DOCKER, docker: { ...DOCKER.docker, parameters: [{ key: 'read-only', value: 'true' }] } } },
    });
    expect(out.trim()).toBe('rootfs-read-only');
  });
});

describe('master: the run_task ACL covers the task user', () => {
  let master: TestMaster;
  const TOKEN = { web: 'token-of-the-web-framework', ops: 'token-of-the-ops-framework', agent: 'token-of-the-agents' } as const;

  beforeEach(async () => {
    master = await startTestMaster({
      authenticate: new Authenticator(Object.entries(TOKEN).map(([name, token]) => ({ name, token }))),
      authorizer: new Authorizer([
        { principals: ['agent'], actions: ['register_agent'], objects: ['*'], effect: 'allow' },
        { principals: ['web', 'ops'], actions: ['register_framework'], objects: ['*'], effect: 'allow' },
        { principals: ['web'], actions: ['run_task'], objects: ['*'], effect: 'allow' },
        { principals: ['ops'], actions: ['run_task'], objects: ['*'], effect: 'allow', users: ['root', 'nobody'] },
      ]),
      tls: true,
    });
  });

  afterEach(async () => {
    await master.stop();
  });

  /** What happens to one task: RUN_TASK reached the agent, or the framework's TASK_ERROR. */
  async function tryRun(who: keyof typeof TOKEN, taskId: string, user: string | undefined, frameworkUser = ''): Promise<string> {
    const agent = await FakeAgent.register(master.address, { metadata: bearer(TOKEN.agent) });
    const fw = await TestScheduler.subscribe(master.address, { name: who, roles: ['*'], user: frameworkUser }, { metadata: bearer(TOKEN[who]) });
    try {
      let offer;
      for (let cycle = 0; offer === undefined && cycle < 3; cycle++) {
        master.clock.advance(1000);
        offer = (await fw.nextOffers()).offers!.offers.find((o) => o.agent_id!.value === agent.agentId);
      }
      const op = launch(offer!, taskId, 'cpus:0.1;mem:16', { command: { value: 'true', shell: true, ...(user !== undefined ? { user } : {}) } });
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [op] } });
      await fw.settled();
      const error = fw.events.log.find((e) => e.type === 'UPDATE' && e.update?.status?.task_id?.value === taskId)?.update?.status;
      if (error != null) return `${error.state}: ${error.message}`;
      return (await agent.nextRun()).run_task!.task!.task_id!.value === taskId ? 'RUN_TASK' : 'another task';
    } finally {
      // Gone before the next try, so its offers and resources are not in the way.
      fw.send({ type: 'TEARDOWN' });
      fw.close();
      agent.close();
    }
  }

  test('running as root takes a rule that names root', async () => {
    expect(await tryRun('web', 'as-default', undefined)).toBe('RUN_TASK');
    expect(await tryRun('web', 'as-alice', 'alice')).toBe('RUN_TASK');
    expect(await tryRun('web', 'as-root', 'root')).toBe('TASK_ERROR: operations[0].launch.task_infos[0]: not authorized to launch tasks in role "*" as user "root"');
    expect(await tryRun('web', 'fw-root', undefined, 'root')).toMatch(/as user "root"$/);
    expect(await tryRun('ops', 'ops-root', 'root')).toBe('RUN_TASK');
    expect(await tryRun('ops', 'ops-alice', 'alice')).toMatch(/^TASK_ERROR: .*as user "alice"$/);
  });

  test('an ACLs file may give users to run_task rules only, and names the rule that does otherwise', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-acls-'));
    try {
      const file = path.join(dir, 'acls.yaml');
      fs.writeFileSync(file, 'rules:\n  - { principal: ops, action: [run_task], users: [root] }\n  - { principal: ops, action: [drain_agent], users: [root] }\n');
      expect(() => loadAclsFile(file)).toThrow(/rules\[1\]\.users: applies to the run_task action only/);
      fs.writeFileSync(file, 'rules:\n  - { principal: ops, action: run_task, users: [root] }\n');
      expect(loadAclsFile(file).allowed({ name: 'ops' }, 'run_task', 'web', 'root')).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
