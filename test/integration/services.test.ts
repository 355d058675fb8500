/**
 * The services framework end to end over real gRPC: a real master, five real agents h1…h5 (fake
 * containerizer: containers would add nothing here), the framework host running the `services` plugin,
 * and the berth.v1.Services API called as a client would (test/support/framework-cluster.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { jsonText } from '../../src/cli/io';
import { main } from '../../src/cli/main';
import { FrameworkCluster } from '../support/framework-cluster';

interface AppTask { task_id: string; hostname: string; state: string; version: string; launched_at?: { nanoseconds: string } }
interface AppInfo {
  id: string;
  version: string;
  status: {
    running: number;
    waiting_instances: number;
    tasks: AppTask[];
    backoff_seconds: number;
    deployment?: { id: string; kind: string; state: string } | null;
    rejected_offers?: { reasons: { reason: string; count: number }[] } | null;
  };
}
interface Deployment { id: string; kind: string; state: string; rollback_of: string; rolled_back_by: string }

describe('services framework over gRPC', () => {
  let cluster: FrameworkCluster;

  beforeAll(async () => {
    cluster = await FrameworkCluster.start({ agents: 5, plugins: [{ name: 'services', module: 'services', options: { refuseSeconds: 1 } }] });
  });

  afterAll(() => cluster.stop());

  const call = <T>(method: string, request: object): Promise<T> => cluster.call<T>('Services', method, request);
  const cycleUntil = (cond: () => Promise<boolean>, what: string, hostStepMs?: number) => cluster.cycleUntil(cond, what, hostStepMs);

  const getApp = async (id: string): Promise<AppInfo> => (await call<{ app: AppInfo }>('GetApp', { app_id: id })).app;
  const running = (app: AppInfo): AppTask[] => app.status.tasks.filter((t) => t.state === 'TASK_RUNNING');

  it('places instances with UNIQUE hostname one per agent, explains why a 6th waits, and scales down killing the youngest', async () => {
    const def = { id: '/shop/web', cmd: 'serve', cpus: 0.1, mem: 32, instances: 3, constraints: [['hostname', 'UNIQUE']] };
    const put = await call<{ deployment_id: string; created: boolean; app_id: string }>('PutApp', { definition: JSON.stringify(def) });
    expect(put).toMatchObject({ created: true, app_id: '/shop/web' });
    await cycleUntil(async () => running(await getApp('/shop/web')).length === 3, '3 running instances');
    const oldest = running(await getApp('/shop/web')).map((t) => t.task_id).sort();
    cluster.hostClock.advance(10_000);

    await call('ScaleApp', { app_id: '/shop/web', instances: 6 });
    await cycleUntil(async () => running(await getApp('/shop/web')).length === 5 && ((await getApp('/shop/web')).status.rejected_offers?.reasons ?? []).some((r) => r.reason.startsWith('constraint')), '5 running and a constraint rejection counted');
    const app = await getApp('/shop/web');
    expect(new Set(running(app).map((t) => t.hostname))).toEqual(new Set(['h1', 'h2', 'h3', 'h4', 'h5']));
    expect(app.status.waiting_instances).toBe(1);
    expect(app.status.rejected_offers!.reasons.map((r) => r.reason).join(' ')).toMatch(/constraint.*hostname.*UNIQUE/);

    // Down to 3: the two launched last go (YOUNGEST_FIRST, Marathon's default).
    await call('ScaleApp', { app_id: '/shop/web', instances: 3, force: true });
    await cycleUntil(async () => (await getApp('/shop/web')).status.tasks.length === 3, '3 instances left');
    expect((await getApp('/shop/web')).status.tasks.map((t) => t.task_id).sort()).toEqual(oldest);
  });

  it('rolls a new version out, and a deployment that cannot finish fails at its deadline and rolls back', async () => {
    const def = { id: '/api', cmd: 'serve', cpus: 0.1, mem: 32, instances: 4, upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }, progressDeadlineSeconds: 30 };
    await call('PutApp', { definition: JSON.stringify(def) });
    // Done once the 4 kept running for minReadySeconds (3 s by default), not at the first TASK_RUNNING.
    await cycleUntil(async () => {
      const app = await getApp('/api');
      return running(app).length === 4 && app.status.deployment == null;
    }, '4 running instances and the create done');
    const v1 = (await getApp('/api')).version;

    await call('PutApp', { definition: JSON.stringify({ ...def, env: { RELEASE: '2' } }) });
    let lowest = 4;
    await cycleUntil(async () => {
      const app = await getApp('/api');
      lowest = Math.min(lowest, running(app).length);
      expect(app.status.tasks.length).toBeLessThanOrEqual(4); // maximumOverCapacity 0
      return app.status.deployment == null && running(app).length === 4 && running(app).every((t) => t.version !== v1);
    }, 'the upgrade to finish');
    expect(lowest).toBeGreaterThanOrEqual(2); // minimumHealthCapacity 0.5 of 4
    const v2 = (await getApp('/api')).version;

    // A version that fits nowhere: no progress, then at the deadline a rollback to v2.
    const bad = await call<{ deployment_id: string }>('PutApp', { definition: JSON.stringify({ ...def, cpus: 100, env: { RELEASE: '3' } }) });
    await cycleUntil(async () => {
      const deps = (await call<{ deployments: Deployment[] }>('ListDeployments', { app_id: '/api', include_finished: true })).deployments;
      return deps.find((d) => d.id === bad.deployment_id)?.state === 'FAILED';
    }, 'the stuck deployment to fail at its deadline', 1000);
    const deps = (await call<{ deployments: Deployment[] }>('ListDeployments', { app_id: '/api', include_finished: true })).deployments;
    const failed = deps.find((d) => d.id === bad.deployment_id)!;
    expect(failed.rolled_back_by).not.toBe('');
    await cycleUntil(async () => {
      const app = await getApp('/api');
      return app.version === v2 && app.status.deployment == null && running(app).length === 4;
    }, 'the rollback to v2');
  });

  it('a crashing app is relaunched with a growing backoff', async () => {
    await call('PutApp', { definition: JSON.stringify({ id: '/crashy', cmd: 'crash now', cpus: 0.1, mem: 32, instances: 1, backoffSeconds: 1, backoffFactor: 2, maxLaunchDelaySeconds: 8 }) });
    const seen: number[] = [];
    await cycleUntil(async () => {
      const b = (await getApp('/crashy')).status.backoff_seconds;
      if (b > 0 && seen[seen.length - 1] !== b) seen.push(b);
      return seen.length >= 3;
    }, 'three backoffs', 250);
    expect(seen.slice(0, 3)).toEqual([1, 2, 4]);
  });

  it('refuses a bad definition with the field and the value', async () => {
    const err = await call('PutApp', { definition: JSON.stringify({ id: '/bad', cmd: 'x', instances: -1 }) }).catch((e: grpc.ServiceError) => e);
    expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect((err as grpc.ServiceError).details).toMatch(/instances: must be an integer >= 0, got -1/);
  });

  describe('berth app / berth deployment (the CLI over the same API)', () => {
    async function berth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      let stdout = '';
      let stderr = '';
      const code = await main(['node', 'berth', ...args, '--frameworks', cluster.host.grpcAddress!], { stdout: (x) => void (stdout += x), stderr: (x) => void (stderr += x) });
      return { code, stdout, stderr };
    }

    it('deploys from a file and waits, lists and shows as tables and JSON matching the API, scales and removes', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-'));
      try {
        const file = path.join(dir, 'cli.yaml');
        fs.writeFileSync(file, 'id: /cli/app\ncmd: serve\ncpus: 0.1\nmem: 32\ninstances: 2\n');
        let deployed: { code: number; stdout: string; stderr: string } | undefined;
        const deploying = berth('app', 'deploy', file).then((r) => (deployed = r));
        await cycleUntil(async () => deployed !== undefined, 'berth app deploy to return');
        await deploying;
        expect(deployed).toMatchObject({ code: 0, stderr: '' });
        expect(deployed!.stdout).toMatch(/create succeeded: 2\/2 running/);

        const listed = await berth('app', 'list', '--json');
        // The API's answer without the proto loader's "_cmd"-style markers (issue 15, point 19).
        expect(listed.stdout).not.toMatch(/"_[a-z_]+":/);
        expect(JSON.parse(listed.stdout)).toEqual(JSON.parse(jsonText(await call('ListApps', {}))));
        const table = await berth('app', 'list', '--prefix', '/cli');
        expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+INSTANCES\s+RUNNING\s+HEALTHY\s+DEPLOYMENT\s+WAITING$/);
        expect(table.stdout).toMatch(/\/cli\/app\s+2\s+2\s+/);
        const shown = await berth('app', 'show', '/cli/app');
        expect(shown.stdout).toMatch(/instances 2: 2 running/);

        let scaled: { code: number } | undefined;
        const scaling = berth('app', 'scale', '/cli/app', '1').then((r) => (scaled = r));
        await cycleUntil(async () => scaled !== undefined, 'berth app scale to return');
        await scaling;
        expect(scaled!.code).toBe(0);
        // rm waits for the app and its tasks to be gone.
        let removed: { code: number; stdout: string } | undefined;
        const removing = berth('app', 'rm', '/cli/app').then((r) => (removed = r));
        await cycleUntil(async () => removed !== undefined, 'berth app rm to return');
        await removing;
        expect(removed).toMatchObject({ code: 0, stdout: expect.stringMatching(/delete succeeded: the app and its tasks are gone\n$/) });
        expect(JSON.parse((await berth('deployment', 'list', '--all', '--app', '/cli/app', '--json')).stdout).deployments.length).toBeGreaterThanOrEqual(3);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('bad arguments exit 2 with a usage message; a bad definition names the field; an unreachable host says what to do (exit 1)', async () => {
      expect(await berth('app', 'scale', '/x', '-1')).toMatchObject({ code: 2, stderr: expect.stringMatching(/instances must be a non-negative integer|unknown option/) });
      expect(await berth('app', 'deploy', '/no/such/file.json')).toMatchObject({ code: 2, stderr: expect.stringContaining('cannot read /no/such/file.json: ENOENT') });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-'));
      try {
        fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ id: '/bad', cmd: 'x', instances: -3 }));
        expect(await berth('app', 'deploy', path.join(dir, 'bad.json'))).toMatchObject({ code: 2, stderr: expect.stringContaining('instances: must be an integer >= 0, got -3') });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      let stderr = '';
      const code = await main(['node', 'berth', 'app', 'list', '--frameworks', '127.0.0.1:1'], { stdout: () => undefined, stderr: (x) => void (stderr += x) });
      expect(code).toBe(1);
      expect(stderr).toMatch(/cannot reach the frameworks at 127\.0\.0\.1:1.*--frameworks HOST:PORT or BERTH_FRAMEWORKS/);
    });
  });
});
