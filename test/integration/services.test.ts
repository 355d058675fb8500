/**
 * The services framework end to end over real gRPC: a real master (fake clock: the test runs the
 * allocation cycles), five real agents (fake containerizer: containers would add nothing here) with
 * hostnames h1…h5, the framework host running the `services` plugin (fake clock for its backoffs and
 * deadlines) and the berth.v1.Services API called as a client would.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../../src/agent/agent';
import { FakeContainerizer } from '../../src/agent/containerizer/fake-containerizer';
import { FakeClock, SystemClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import { loadBerthProto } from '../../src/common/rpc/proto';
import { FrameworkHost } from '../../src/frameworks/host/host';
import { MemoryKeyValueStore } from '../../src/frameworks/sdk/store';
import { startTestMaster, waitFor, type TestMaster } from '../support/master-harness';

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
  let master: TestMaster;
  let hostClock: FakeClock;
  let host: FrameworkHost;
  let client: grpc.Client;
  const agents: Agent[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    master = await startTestMaster({ allocationIntervalMs: 1000 });
    for (let i = 1; i <= 5; i++) {
      const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-svc-h${i}-`));
      dirs.push(workDir);
      // "crash" tasks end on their own with status 1 shortly after they start.
      const containerizer = new FakeContainerizer(new SystemClock(), (spec) => (spec.command.value.includes('crash') ? { exitAfterMs: 20, exitCode: 1 } : {}));
      const agent = new Agent({ master: master.address, hostname: `h${i}`, resources: Resources.parse('cpus:4;mem:4096;disk:1000;ports:[31000-31099]'), workDir, clock: new SystemClock(), containerizer, reconnectMinMs: 50, logger: memoryLogger('error') });
      await agent.start();
      await agent.whenRegistered();
      agents.push(agent);
    }
    hostClock = new FakeClock(Date.now());
    host = new FrameworkHost({ masters: [master.address], plugins: [{ name: 'services', module: 'services', options: { refuseSeconds: 1 } }], store: new MemoryKeyValueStore(), clock: hostClock, grpc: { host: '127.0.0.1', port: 0 }, logger: memoryLogger('error') });
    await host.start();
    await waitFor(() => host.driver('services')?.connected === true, 'the services framework to subscribe');
    const Services = (loadBerthProto() as unknown as { berth: { v1: { Services: grpc.ServiceClientConstructor } } }).berth.v1.Services;
    client = new Services(host.grpcAddress!, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client.close();
    await host.stop();
    for (const a of agents) await a.stop({ killTasks: true });
    await master.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  function call<T>(method: string, request: object): Promise<T> {
    return new Promise((resolve, reject) => {
      (client as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null, v: T) => void) => void>)[method]!(request, (e, v) => (e ? reject(e) : resolve(v)));
    });
  }

  const getApp = async (id: string): Promise<AppInfo> => (await call<{ app: AppInfo }>('GetApp', { app_id: id })).app;
  const running = (app: AppInfo): AppTask[] => app.status.tasks.filter((t) => t.state === 'TASK_RUNNING');

  /** Runs allocation cycles (and the framework's timers, `hostStepMs` per cycle) until `cond` holds. */
  async function cycleUntil(cond: () => Promise<boolean>, what: string, hostStepMs = 100): Promise<void> {
    const end = Date.now() + 15_000;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      master.clock.advance(1000);
      hostClock.advance(hostStepMs);
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  it('places instances with UNIQUE hostname one per agent, explains why a 6th waits, and scales down killing the youngest', async () => {
    const def = { id: '/shop/web', cmd: 'serve', cpus: 0.1, mem: 32, instances: 3, constraints: [['hostname', 'UNIQUE']] };
    const put = await call<{ deployment_id: string; created: boolean; app_id: string }>('PutApp', { definition: JSON.stringify(def) });
    expect(put).toMatchObject({ created: true, app_id: '/shop/web' });
    await cycleUntil(async () => running(await getApp('/shop/web')).length === 3, '3 running instances');
    const oldest = running(await getApp('/shop/web')).map((t) => t.task_id).sort();
    hostClock.advance(10_000);

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
    await cycleUntil(async () => running(await getApp('/api')).length === 4, '4 running instances');
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
});
