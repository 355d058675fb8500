/**
 * F22: a cron job whose instant falls exactly during a master failover. The leader is killed
 * 0.7 s before the instant; the jobs framework (`berth frameworks`, state in NATS) must still run
 * it — once: one run for the instant, one attempt, one task (Metronome's "1 job run ↔ 1 task"),
 * checked in the framework's history, in the master's tasks and in the ground truth.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadBerthProto } from '../../src/common/rpc/proto';
import { freePorts } from '../support/nats';
import { FaultCluster } from './support/cluster';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(120_000 + iterations() * 80_000);

let cluster: FaultCluster | undefined;
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.stop();
  cluster = undefined;
});

interface Run { run_id: string; status: string; trigger: string; scheduled_at?: { nanoseconds: string } | null; attempts: { task_id: string }[] }

const JOB = 'fault-cron';
/** `fault-cron.<run>.<attempt>` → `fault-cron.<run>`. */
const runOf = (taskId: string): string | undefined => (taskId.startsWith(`${JOB}.`) ? taskId.split('.').slice(0, 2).join('.') : undefined);

test('a cron job due during a master failover runs exactly once', async () => {
  cluster = await FaultCluster.start({ agents: [{ kind: 'fake' }, { kind: 'fake' }] });
  const c = cluster;
  const [apiPort] = await freePorts(1);
  const host = c.procs.add({
    name: 'frameworks', kind: 'berth',
    args: ['frameworks', '--masters', c.masters.map((m) => m.address).join(','), '--plugins', 'jobs', '--grpc-port', String(apiPort),
      '--store', 'nats', '--nats-servers', c.nats.urls.join(','), '--nats-replicas', '3', '--work-dir', path.join(c.root, 'frameworks'), '--auth-enabled', 'false', '--log-level', 'info'],
  });
  host.start();
  const Jobs = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1['Jobs']!;
  const jobs = new Jobs(`127.0.0.1:${apiPort}`, grpc.credentials.createInsecure());
  clients.push(jobs);
  const call = <T>(method: string, request: object): Promise<T> => new Promise((resolve, reject) => {
    (jobs as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void>)[method]!
      .call(jobs, request, { deadline: Date.now() + 5000 }, (e, v) => (e ? reject(e) : resolve(v)));
  });

  const lags: number[] = [];
  for (let i = 0; i < iterations(); i++) {
    // The next whole minute at least 15 s away (time to set up), as a once-a-day schedule.
    let due = Math.ceil((Date.now() + 15_000) / 60_000) * 60_000;
    const at = new Date(due);
    const definition = {
      id: JOB, run: { cmd: 'exit:0:1500', cpus: 0.1, mem: 32 },
      schedules: [{ id: 'daily', cron: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`, timezone: 'UTC', startingDeadlineSeconds: 60 }],
    };
    await c.until('the jobs API to take the job', 30_000, () => call('PutJob', { text: JSON.stringify(definition) }).then(() => true, () => undefined));
    due = at.getTime();

    // Kill the leader just before the instant; a standby takes over around it.
    const { leader } = await c.waitForLeader(10_000);
    await new Promise((r) => setTimeout(r, Math.max(0, due - 700 - Date.now())));
    await leader.proc.kill();
    await c.waitForLeader(15_000, leader);
    leader.proc.start();
    c.faultHealed();
    await c.waitConverged(30_000);

    const run = await c.until(`the run for ${at.toISOString()} to succeed`, 45_000, async () => {
      const runs = (await call<{ runs: Run[] }>('ListRuns', { job_id: JOB, limit: 100 }).catch(() => ({ runs: [] as Run[] }))).runs;
      const mine = runs.filter((r) => r.trigger === 'SCHEDULE' && Number(BigInt(r.scheduled_at?.nanoseconds ?? '0') / 1_000_000n) === due);
      if (mine.length > 1) throw new Error(`${mine.length} runs for one instant: ${JSON.stringify(mine)}`);
      return mine[0]?.status === 'SUCCESS' ? mine[0] : undefined;
    });
    expect(run.attempts).toHaveLength(1);
    const tasks = await c.onLeader<{ tasks: { task_id: { value: string } }[]; completed_tasks: { task_id: { value: string } }[] }>('GetTasks', { include_completed: true });
    const ofRun = [...tasks.tasks, ...tasks.completed_tasks].filter((t) => runOf(t.task_id.value) === `${JOB}.${run.run_id}`);
    expect(ofRun.map((t) => t.task_id.value)).toEqual([run.attempts[0]!.task_id]);
    lags.push(due);
  }
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000, runOf });
  report('cron-failover', { instants: lags.map((t) => new Date(t).toISOString()), ...summary });
});
