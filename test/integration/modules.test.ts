/**
 * The two example modules end to end, each through a modules file given to a real daemon: the
 * rotating container logger on an agent (`runAgent`, process containerizer) and the policy
 * authorizer with hot reload on a master (`startMaster`, bearer tokens); the master's task-label hook
 * and the agent's environment hook (test modules in test/support/modules). And a module whose
 * options are invalid stops `berth agent` with exit 78 naming the module and the field.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { agentConfigSchema } from '../../src/agent/config';
import { memoryLogger } from '../../src/common/logging';
import { masterConfigSchema } from '../../src/master/config';
import { runAgent, type RunningAgent } from '../../src/cli/agent-command';
import { startMaster, type RunningMaster } from '../../src/cli/master-command';
import { AgentFixture, until } from '../support/agent-fixture';
import { FakeAgent, launch, TestOperator, TestScheduler } from '../support/master-harness';
import { runBerthToExit } from '../support/master-process';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples', 'modules');
const TEST_MODULES = path.join(__dirname, '..', 'support', 'modules');

describe('modules loaded from a modules file', () => {
  let dir: string;
  const write = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode: 0o600 });
    return f;
  };
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-modules-e2e-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('rotating-logger on an agent', () => {
    let fixture: AgentFixture;
    let agent: RunningAgent | undefined;
    afterAll(async () => {
      await agent?.stop({ killTasks: true });
      await fixture?.close();
    });

    test("a task's stdout is rotated by size, keeping `keep` copies", async () => {
      fixture = await AgentFixture.start('modules-logger');
      const modules = write('logger.yaml', `modules:\n  - module: ${path.join(EXAMPLES, 'rotating-logger.js')}\n    options: { maxBytes: 2000, keep: 2, checkEveryMs: 20 }\n`);
      const config = agentConfigSchema.parse({ master: fixture.master.address, hostname: 'localhost', workDir: fixture.workDir, containerizers: 'process', processCgroups: false, resources: fixture.resources, http: { port: 0 }, modules });
      agent = await runAgent(config, memoryLogger('warn'), () => undefined);
      await agent.agent.whenRegistered();
      // ~20 KB written in bursts (each burst ~1.3 KB), with pauses the logger's checks fall into.
      await fixture.launch({ taskId: 'chatty', command: 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do for j in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo "burst-$i line-$j ......................................................"; done; sleep 0.1; done' });
      await fixture.expectStates('chatty', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
      const sandbox = fixture.sandboxOf('chatty');
      await until(() => fs.existsSync(path.join(sandbox, 'stdout.2')), 'two rotated copies');
      const size = (f: string) => fs.statSync(path.join(sandbox, f)).size;
      expect(size('stdout')).toBeLessThanOrEqual(2000 + 1400);
      expect(size('stdout.1')).toBeGreaterThan(2000);
      expect(fs.existsSync(path.join(sandbox, 'stdout.3'))).toBe(false);
      // The newest lines are in the live file or the first copy, in order: nothing was reordered.
      const tail = fs.readFileSync(path.join(sandbox, 'stdout.1'), 'utf8') + fs.readFileSync(path.join(sandbox, 'stdout'), 'utf8');
      expect(tail.trimEnd().split('\n').pop()).toMatch(/^burst-15 line-20 /);
    });
  });

  describe('policy-authorizer on a master', () => {
    let master: RunningMaster | undefined;
    const schedulers: TestScheduler[] = [];
    afterAll(async () => {
      for (const s of schedulers) s.close();
      await master?.stop();
    });

    test('wildcard rules decide, and an edited policy file applies without a restart', async () => {
      const TOKEN = 'ci-one-token-0123456789';
      const tokens = write('tokens.yaml', `principals:\n  - name: ci-1\n    token: ${TOKEN}\n`);
      const policy = write('policy.yaml', 'allow:\n  - { principal: "ci-*", action: register_framework, object: "build/*" }\n');
      const modules = write('authz.yaml', `modules:\n  - module: ${path.join(EXAMPLES, 'policy-authorizer.js')}\n    options: { policyFile: ${policy}, checkEveryMs: 20 }\n`);
      const config = masterConfigSchema.parse({ grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'master'), auth: { enabled: true, tokensFile: tokens }, modules });
      master = await startMaster(config, memoryLogger('warn'));
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${TOKEN}`);
      const subscribe = async (role: string) => {
        const s = await TestScheduler.subscribe(master!.grpcAddress, { name: `fw-${role}`, roles: [role], principal: 'ci-1' }, { metadata: md });
        schedulers.push(s);
        return s;
      };
      await expect(subscribe('build/nightly')).resolves.toBeDefined();
      await expect(subscribe('prod')).rejects.toThrow('framework_info.roles: principal "ci-1" may not register in role "prod"');
      // Same size, other content: the reload must not rely on the size alone.
      fs.writeFileSync(policy, 'allow:\n  - { principal: "ci-*", action: register_framework, object: "pro*" }\n');
      await until(async () => subscribe('prod').then(() => true, () => false), 'the reloaded policy to allow prod');
      await expect(subscribe('build/nightly')).rejects.toThrow('framework_info.roles: principal "ci-1" may not register in role "build/nightly"');
    });
  });

  describe('hooks', () => {
    let master: RunningMaster | undefined;
    let fixture: AgentFixture | undefined;
    let agent: RunningAgent | undefined;
    const closers: { close(): void }[] = [];
    afterAll(async () => {
      for (const c of closers) c.close();
      await agent?.stop({ killTasks: true });
      await fixture?.close();
      await master?.stop();
    });

    test('a task-label decorator labels every task the master launches (the agent receives the labels)', async () => {
      const modules = write('labels.yaml', `modules:\n  - module: ${path.join(TEST_MODULES, 'team-label.js')}\n    options: { teams: { "": shop } }\n`);
      const config = masterConfigSchema.parse({ grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'labels-master'), auth: { enabled: false }, modules });
      master = await startMaster(config, memoryLogger('warn'));
      const fake = await FakeAgent.register(master.grpcAddress, { resources: 'cpus:2;mem:256' });
      closers.push(fake);
      const fw = await TestScheduler.subscribe(master.grpcAddress, { name: 'labelled', roles: ['web'] });
      closers.push(fw);
      const offer = (await fw.nextOffers()).offers!.offers[0]!;
      const op = launch(offer, 'labelled-1', 'cpus:1;mem:64', { labels: { labels: [{ key: 'team', value: 'overridden' }, { key: 'own', value: 'kept' }] } });
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations: [op] } });
      const run = await fake.nextRun();
      const labels = Object.fromEntries((run.run_task!.task!.labels?.labels ?? []).map((l) => [l.key, l.value]));
      expect(labels).toEqual({ team: 'shop', 'launched-in-role': 'web', own: 'kept' });
    });

    test('an environment decorator adds variables on the launch path of every task (the task sees them)', async () => {
      fixture = await AgentFixture.start('modules-env');
      const modules = write('env.yaml', `modules:\n  - module: ${path.join(TEST_MODULES, 'region-env.js')}\n    options: { region: eu-west }\n`);
      const config = agentConfigSchema.parse({ master: fixture.master.address, hostname: 'localhost', workDir: fixture.workDir, containerizers: 'process', processCgroups: false, resources: fixture.resources, http: { port: 0 }, modules });
      agent = await runAgent(config, memoryLogger('warn'), () => undefined);
      await agent.agent.whenRegistered();
      await fixture.launch({ taskId: 'env-1', command: 'echo "region=$BERTH_TEST_REGION decorated=$BERTH_TEST_DECORATED"' });
      await fixture.expectStates('env-1', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
      expect(fs.readFileSync(path.join(fixture.sandboxOf('env-1'), 'stdout'), 'utf8')).toContain('region=eu-west decorated=env-1');
    });

    test('an isolator is called around a real container: prepare, isolate with its pid, cleanup once it ended', async () => {
      await agent?.stop({ killTasks: true });
      agent = undefined;
      const journal = path.join(dir, 'isolator.journal');
      const modules = write('isolator.yaml', `modules:\n  - module: ${path.join(TEST_MODULES, 'journal-isolator.js')}\n    options: { journal: ${journal} }\n`);
      const config = agentConfigSchema.parse({ master: fixture!.master.address, hostname: 'localhost', workDir: fixture!.workDir, containerizers: 'process', processCgroups: false, resources: fixture!.resources, http: { port: 0 }, modules });
      agent = await runAgent(config, memoryLogger('warn'), () => undefined);
      await agent.agent.whenRegistered();
      await fixture!.launch({ taskId: 'isolated-1', command: 'true' });
      await fixture!.expectStates('isolated-1', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
      await until(() => fs.existsSync(journal) && fs.readFileSync(journal, 'utf8').includes('cleanup'), 'the isolator cleanup');
      const lines = fs.readFileSync(journal, 'utf8').trim().split('\n');
      const containerId = lines[0]!.split(' ')[2]!;
      expect(lines).toEqual([`prepare isolated-1 ${containerId}`, `isolate ${containerId} pid`, `cleanup ${containerId}`]);
    });
  });

  describe('authenticator and registry backend modules on a master', () => {
    const closers: { close(): void }[] = [];
    let master: RunningMaster | undefined;
    afterEach(async () => {
      for (const c of closers.splice(0)) c.close();
      await master?.stop();
      master = undefined;
    });
    const SECRET = 'a-test-secret-of-some-length';
    const { sign } = require(path.join(TEST_MODULES, 'signed-token-authenticator.js')) as { sign(secret: string, name: string): string };
    const md = (token: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${token}`);
      return m;
    };

    test('an authenticator module decides who calls, with no tokens file; the ACLs still decide what they may do', async () => {
      const modules = write('authn.yaml', `modules:\n  - module: ${path.join(TEST_MODULES, 'signed-token-authenticator.js')}\n    options: { secret: ${SECRET} }\n`);
      const acls = write('authn-acls.yaml', 'rules:\n  - { principal: ci-1, action: register_framework, objects: ["*"] }\n');
      const config = masterConfigSchema.parse({ grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'authn-master'), auth: { enabled: true, aclsFile: acls }, modules });
      master = await startMaster(config, memoryLogger('warn'));
      const subscribe = async (token: string) => {
        const s = await TestScheduler.subscribe(master!.grpcAddress, { name: 'signed', roles: ['build'], principal: token.split('.')[0] }, { metadata: md(token) });
        closers.push(s);
        return s;
      };
      await expect(subscribe(sign(SECRET, 'ci-1'))).resolves.toBeDefined();
      const forged = `ci-1.${sign('another-secret-entirely', 'ci-1').split('.')[1]}`;
      const refused = new TestOperator(master.grpcAddress, md(forged));
      closers.push(refused);
      expect((await refused.refusal('GetFrameworks')).code).toBe(grpc.status.UNAUTHENTICATED);
      // Authenticated but not allowed by the ACLs (no rule for ci-2).
      await expect(subscribe(sign(SECRET, 'ci-2'))).rejects.toThrow(/ci-2/);
    });

    test('a registry backend module keeps the master state: a restarted master finds its frameworks there', async () => {
      const file = path.join(dir, 'registry.json');
      const modules = write('registry.yaml', `modules:\n  - module: ${path.join(TEST_MODULES, 'json-file-registry.js')}\n    options: { file: ${file} }\n`);
      const config = masterConfigSchema.parse({ grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'registry-master'), auth: { enabled: false }, modules });
      master = await startMaster(config, memoryLogger('warn'));
      const fw = await TestScheduler.subscribe(master.grpcAddress, { name: 'kept', roles: ['web'], failover_timeout: 3600 });
      closers.push(fw);
      await fw.settled();
      const frameworkId = fw.frameworkId;
      for (const c of closers.splice(0)) c.close();
      await master.stop();
      master = undefined;
      expect(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')) as object).some((k) => k.includes(frameworkId))).toBe(true);
      // The built-in file registry of that work directory was never written.
      expect(fs.existsSync(path.join(dir, 'registry-master', 'registry'))).toBe(false);

      master = await startMaster(config, memoryLogger('warn'));
      const operator = new TestOperator(master.grpcAddress);
      closers.push(operator);
      expect(JSON.stringify(await operator.call('GetFrameworks'))).toContain(frameworkId);
    });

    test('an authenticator module loaded while auth.enabled is false stops the master (a configuration error naming it)', async () => {
      const modules = write('authn-off.yaml', `modules:\n  - module: ${path.join(TEST_MODULES, 'signed-token-authenticator.js')}\n    options: { secret: ${SECRET} }\n`);
      const config = masterConfigSchema.parse({ grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'authn-off'), auth: { enabled: false }, modules });
      await expect(startMaster(config, memoryLogger('warn'))).rejects.toThrow(/module "signed-token" .* is loaded for extension point authenticator, but auth.enabled is false/);
    });
  });

  test('a module with invalid options stops berth agent with exit 78, naming module and field', async () => {
    const modules = write('bad.yaml', `modules:\n  - module: ${path.join(EXAMPLES, 'rotating-logger.js')}\n    options: { keep: 0 }\n`);
    const r = await runBerthToExit(['agent', '--master', '127.0.0.1:1', '--http-port', '0', '--work-dir', path.join(dir, 'agent'), '--containerizers', 'process', '--modules', modules]);
    expect([r.code, r.stderr]).toEqual([78, `berth agent: invalid configuration:\n  modules[0].options.keep: module "rotating-logger": must be an integer of at least 1, got 0 (in file ${modules}, named by modules)\n`]);
  });
});
