/**
 * The operator's CLI against a real master (test harness: fake clock, fake agents, a framework over
 * gRPC): every command's --json output is the Operator API's answer; tables have their headers;
 * changes (drain, deactivate, quota, weights, teardown) reach the master; bad arguments exit 2.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { FakeAgent, launch, startTestMaster, TestOperator, TestScheduler, type TestMaster } from '../support/master-harness';

describe('berth operator commands', () => {
  let master: TestMaster;
  let operator: TestOperator;
  let fw: TestScheduler;
  const agents: FakeAgent[] = [];

  beforeAll(async () => {
    master = await startTestMaster();
    operator = new TestOperator(master.address);
    for (const hostname of ['h1', 'h2']) agents.push(await FakeAgent.register(master.address, { hostname }));
    fw = await TestScheduler.subscribe(master.address, { name: 'cli-test', roles: ['eng'], failover_timeout: 3600 });
    master.clock.advance(1000);
    const offer = (await fw.nextOffers()).offers!.offers[0]!;
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations: [launch(offer, 'web-1', 'cpus:1;mem:128')] } });
    const agent = agents.find((a) => a.agentId === offer.agent_id!.value)!;
    await agent.nextRun();
    agent.status(fw.frameworkId, 'web-1', 'TASK_RUNNING');
    await fw.nextUpdate('web-1');
  });

  afterAll(async () => {
    fw.close();
    for (const a of agents) a.close();
    await master.stop();
  });

  async function berth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main(['node', 'berth', ...args, '--master', master.address], { stdout: (x) => void (stdout += x), stderr: (x) => void (stderr += x) });
    return { code, stdout, stderr };
  }

  const json = async (...args: string[]): Promise<unknown> => {
    const r = await berth(...args, '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(r.stdout);
  };

  it('lists agents, frameworks, tasks and roles: --json is the API\'s answer, tables have headers', async () => {
    expect(await json('agent', 'list')).toEqual(JSON.parse(JSON.stringify(await operator.call('GetAgents', { include_gone: false }))));
    expect(await json('framework', 'list')).toEqual(JSON.parse(JSON.stringify(await operator.call('GetFrameworks', {}))));
    expect(await json('task', 'list')).toEqual(JSON.parse(JSON.stringify(await operator.call('GetTasks', { include_completed: false }))));
    expect(await json('role', 'list')).toEqual(JSON.parse(JSON.stringify(await operator.call('GetRoles', {}))));

    const agentsTable = (await berth('agent', 'list')).stdout.split('\n');
    expect(agentsTable[0]).toMatch(/^ID\s+HOSTNAME\s+STATE\s+TOTAL\s+ALLOCATED$/);
    expect(agentsTable.filter((l) => /\bh[12]\b/.test(l))).toHaveLength(2);
    expect((await berth('task', 'list')).stdout).toMatch(/web-1\s+TASK_RUNNING/);
    expect((await berth('task', 'show', 'web-1')).stdout).toMatch(/^web-1 {2}TASK_RUNNING/);
    expect((await berth('framework', 'list')).stdout).toMatch(/cli-test\s+eng\s+yes\s+1/);
    expect((await berth('role', 'list')).stdout).toMatch(/^ROLE\s+WEIGHT\s+DOMINANT SHARE/);
    expect((await berth('agent', 'show', 'h1')).stdout).toMatch(/^\S+ {2}h1 {2}registered/);
  });

  it('sets weights and quota, deactivates, reactivates and drains an agent', async () => {
    expect((await berth('weights', 'set', 'eng=3', 'ads=2')).code).toBe(0);
    expect(await json('weights', 'get')).toMatchObject({ weights: expect.arrayContaining([{ role: 'eng', weight: 3 }, { role: 'ads', weight: 2 }]) });
    expect((await berth('quota', 'set', 'eng', '--limit', 'cpus:3;mem:1024')).code).toBe(0);
    expect(await json('quota', 'get')).toMatchObject({ configs: [{ role: 'eng', limits: expect.arrayContaining([{ name: 'cpus', value: 3 }]) }] });

    // The agent without web-1 (it drains at once: nothing to kill there).
    const busy = (await operator.call<{ tasks: { agent_id: { value: string } }[] }>('GetTasks', {})).tasks[0]!.agent_id.value;
    const idle = agents.find((a) => a.agentId !== busy)!;
    const h2 = idle.agentId;
    const host = idle === agents[0] ? 'h1' : 'h2';
    expect((await berth('agent', 'deactivate', h2)).code).toBe(0);
    expect((await json('agent', 'list')) as { agents: { agent_info: { id: { value: string } }; deactivated: boolean }[] }).toMatchObject({ agents: expect.arrayContaining([expect.objectContaining({ agent_info: expect.objectContaining({ id: { value: h2 } }), deactivated: true })]) });
    expect((await berth('agent', 'reactivate', h2)).code).toBe(0);
    const drained = await berth('agent', 'drain', h2); // waits: nothing runs there
    expect(drained).toMatchObject({ code: 0, stdout: expect.stringContaining(`${h2}: drained, 0 task(s) left`) });
    expect((await berth('agent', 'list')).stdout).toMatch(new RegExp(`${h2}\\s+${host}\\s+drained`));
  });

  it('kills a task: the kill reaches its agent, and an unknown task is NOT_FOUND', async () => {
    const busy = agents.find((a) => a.messages.log.some((m) => m.type === 'RUN_TASK'))!;
    expect(await berth('task', 'kill', 'web-1', '--grace-period', '5')).toMatchObject({ code: 0, stdout: 'kill sent to web-1\n' });
    const kill = await busy.messages.next((m) => m.type === 'KILL_TASK', 'KILL_TASK at the agent');
    expect(kill.kill_task!.task_id!.value).toBe('web-1');
    expect(Number(kill.kill_task!.kill_policy!.grace_period!.nanoseconds)).toBe(5e9);
    expect(await berth('task', 'kill', 'nope')).toMatchObject({ code: 1, stderr: expect.stringContaining('no running task "nope"') });
  });

  it('tears a framework down', async () => {
    const other = await TestScheduler.subscribe(master.address, { name: 'to-remove', failover_timeout: 3600 });
    try {
      expect((await berth('framework', 'teardown', other.frameworkId)).code).toBe(0);
      expect(((await json('framework', 'list')) as { frameworks: { framework_info: { name: string } }[] }).frameworks.map((f) => f.framework_info.name)).not.toContain('to-remove');
    } finally {
      other.close();
    }
  });

  it('bad arguments exit 2 and say what is wrong; unknown things exit 1 and say where to look', async () => {
    expect(await berth('weights', 'set', 'eng=zero')).toMatchObject({ code: 2, stderr: expect.stringContaining('weights must be ROLE=NUMBER with a number > 0, got "eng=zero"') });
    expect(await berth('quota', 'set', 'eng', '--limit', 'cpus:-1')).toMatchObject({ code: 2, stderr: expect.stringContaining('--limit') });
    expect(await berth('agent', 'drain', 'x', '--grace-period', 'soon')).toMatchObject({ code: 2 });
    expect(await berth('task', 'show', 'nope')).toMatchObject({ code: 1, stderr: expect.stringContaining('berth task list --all shows them') });
    expect(await berth('agent', 'list', '--nonsense')).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown option '--nonsense'") });
  });

  it('top prints a frame of agents, roles and tasks; maintenance sets and shows the schedule', async () => {
    const top = await berth('top', '--once');
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/agents 2 \(\d active\) {3}tasks 1 \((running|killing) 1\)/);
    expect(top.stdout).toMatch(/^eng\s+3\s+\d+\.\d%/m);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-maint-'));
    try {
      const start = String((Date.now() + 3600_000) * 1e6);
      fs.writeFileSync(path.join(dir, 'schedule.json'), JSON.stringify({ windows: [{ machine_ids: [{ hostname: 'h1' }], unavailability: { start: { nanoseconds: start } } }] }));
      expect((await berth('maintenance', 'set-schedule', path.join(dir, 'schedule.json'))).code).toBe(0);
      expect(await json('maintenance', 'schedule')).toEqual(JSON.parse(JSON.stringify(await operator.call('GetMaintenanceSchedule', {}))));
      expect(((await json('maintenance', 'schedule')) as { schedule: { windows: unknown[] } }).schedule.windows).toHaveLength(1);
      expect(await json('maintenance', 'status')).toEqual(JSON.parse(JSON.stringify(await operator.call('GetMaintenanceStatus', {}))));
      expect(await berth('maintenance', 'set-schedule', path.join(dir, 'missing.json'))).toMatchObject({ code: 2 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('completion prints a bash script that bash accepts, listing the commands', async () => {
    let script = '';
    expect(await main(['node', 'berth', 'completion', 'bash'], { stdout: (x) => void (script += x), stderr: () => undefined })).toBe(0);
    expect(script).toMatch(/complete -F _berth_complete berth/);
    expect(script).toMatch(/"app"\) words="deploy list show scale restart rm/);
    expect(spawnSync('bash', ['-n'], { input: script }).status).toBe(0);
    expect(await main(['node', 'berth', 'completion', 'fish'], { stdout: () => undefined, stderr: () => undefined })).toBe(2);
  });

  it('takes the master from a settings file (BERTH_CLI_CONFIG) when no flag or variable names one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-settings-'));
    const saved = { config: process.env['BERTH_CLI_CONFIG'], master: process.env['BERTH_MASTER'] };
    try {
      fs.writeFileSync(path.join(dir, 'cli.yaml'), `master: ${master.address}\n`);
      process.env['BERTH_CLI_CONFIG'] = path.join(dir, 'cli.yaml');
      delete process.env['BERTH_MASTER'];
      let stdout = '';
      expect(await main(['node', 'berth', 'agent', 'list', '--json'], { stdout: (x) => void (stdout += x), stderr: () => undefined })).toBe(0);
      expect(JSON.parse(stdout).agents).toHaveLength(2);
      fs.writeFileSync(path.join(dir, 'cli.yaml'), 'mastr: x:1\n');
      let stderr = '';
      expect(await main(['node', 'berth', 'agent', 'list'], { stdout: () => undefined, stderr: (x) => void (stderr += x) })).toBe(2);
      expect(stderr).toContain('unknown setting "mastr"');
    } finally {
      if (saved.config === undefined) delete process.env['BERTH_CLI_CONFIG'];
      else process.env['BERTH_CLI_CONFIG'] = saved.config;
      if (saved.master !== undefined) process.env['BERTH_MASTER'] = saved.master;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

