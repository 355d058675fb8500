/**
 * Launch backoff per instance slot and Kubernetes-style upgrade bounds, through the real framework
 * API: a real master, three real agents (fake containerizer: a command with "crash" exits with status
 * 1 after 20 ms), the framework host running `services`, berth.v1.Services called as a client would.
 */
import * as grpc from '@grpc/grpc-js';
import { FrameworkCluster } from '../support/framework-cluster';

interface AppTask { task_id: string; state: string; version: string; killing: boolean; instance: number }
interface Delay { instance: number; failures: number; delay_seconds: number; launch_at?: { nanoseconds: string } | null; reason: string }
interface AppStatus { running: number; tasks: AppTask[]; backoff_seconds: number; delayed_instances: Delay[]; deployment?: { state: string } | null; waiting: string }

describe('services: instance slots and upgrade bounds over gRPC', () => {
  let cluster: FrameworkCluster;

  beforeAll(async () => {
    cluster = await FrameworkCluster.start({ agents: 3, plugins: [{ name: 'services', module: 'services', options: { refuseSeconds: 1 } }] });
  });

  afterAll(() => cluster.stop());

  const call = <T>(method: string, request: object): Promise<T> => cluster.call<T>('Services', method, request);
  const status = async (id: string): Promise<AppStatus> => (await call<{ app: { status: AppStatus } }>('GetApp', { app_id: id })).app.status;

  it('instances crashing together each back off on their own: no slot waits longer for the others\' failures', async () => {
    await call('PutApp', { definition: JSON.stringify({ id: '/crashers', cmd: 'crash now', cpus: 0.1, mem: 32, instances: 3, backoffSeconds: 5, backoffFactor: 2, maxLaunchDelaySeconds: 60 }) });
    // Each slot fails, is relaunched at once, fails again: then all three wait 5 s (one app-wide
    // backoff would have grown to 5 × 2⁴ = 80 → 60 s by now).
    let seen: Delay[] = [];
    await cluster.cycleUntil(async () => {
      seen = (await status('/crashers')).delayed_instances;
      return seen.length === 3;
    }, 'three slots waiting for their backoff', 100);
    expect(seen.map((d) => d.instance).sort()).toEqual([0, 1, 2]);
    for (const d of seen) {
      expect(d).toMatchObject({ failures: 2, delay_seconds: 5, reason: expect.stringMatching(/^TASK_FAILED /) });
      expect(Number(d.launch_at!.nanoseconds) / 1e6).toBeGreaterThan(cluster.hostClock.now());
    }
    const s = await status('/crashers');
    expect(s.backoff_seconds).toBe(5);
    expect(s.waiting).toMatch(/^launch of 3 instances delayed after task failures: instance \d relaunches in [\d.]+ s \(failure 2, backoff 5\.000 s: TASK_FAILED /);
    await call('DeleteApp', { app_id: '/crashers' });
    await cluster.cycleUntil(async () => (await call<{ apps: unknown[] }>('ListApps', {})).apps.length === 0, 'the app to go');
  });

  it('maxUnavailable 1, maxSurge 0: an upgrade replaces one task at a time', async () => {
    const def = { id: '/one-by-one', cmd: 'serve v1', cpus: 0.1, mem: 32, instances: 4, minReadySeconds: 0, upgradeStrategy: { maxUnavailable: 1, maxSurge: 0 } };
    await call('PutApp', { definition: JSON.stringify(def) });
    await cluster.cycleUntil(async () => (await status('/one-by-one')).running === 4 && (await status('/one-by-one')).deployment == null, 'v1 running');
    await call('PutApp', { definition: JSON.stringify({ ...def, cmd: 'serve v2' }) });
    let fewest = 4;
    let most = 4;
    await cluster.cycleUntil(async () => {
      const s = await status('/one-by-one');
      fewest = Math.min(fewest, s.tasks.filter((t) => t.state === 'TASK_RUNNING' && !t.killing).length);
      most = Math.max(most, s.tasks.length);
      return s.deployment == null && s.running === 4 && new Set(s.tasks.map((t) => t.version)).size === 1;
    }, 'the upgrade to finish');
    expect(fewest).toBe(3);
    expect(most).toBe(4);
    expect((await status('/one-by-one')).tasks.map((t) => t.instance).sort()).toEqual([0, 1, 2, 3]);
  });

  it('refuses both styles at once, naming both fields', async () => {
    const err = await call('PutApp', { definition: JSON.stringify({ id: '/both', cmd: 'x', upgradeStrategy: { maximumOverCapacity: 0, maxSurge: '25%' } }) }).catch((e: grpc.ServiceError) => e);
    expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect((err as grpc.ServiceError).details).toMatch(/upgradeStrategy\.maxSurge: must not be given together with upgradeStrategy\.maximumOverCapacity/);
    // The message form takes counts as text.
    const wire = await call('PutApp', { app: { id: '/wire', cmd: 'x', upgrade_strategy: { max_unavailable: 'one' } } }).catch((e: grpc.ServiceError) => e);
    expect((wire as grpc.ServiceError).details).toMatch(/upgradeStrategy\.maxUnavailable: must be a count \(an integer >= 0\) or a percentage from "0%" to "100%", got "one"/);
  });
});
