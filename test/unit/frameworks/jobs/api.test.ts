/**
 * The `berth.v1.Jobs` handlers, called directly (as grpc-js would, with a request and a callback),
 * and their answers pushed through the service's real protobuf serializers so that every response
 * is a valid message. Also: the plugin factory's FrameworkInfo and option validation.
 */
import * as grpc from '@grpc/grpc-js';
import { FakeClock } from '../../../../src/common/clock';
import { nullLogger } from '../../../../src/common/logging';
import { MemoryKeyValueStore } from '../../../../src/frameworks/sdk/store';
import { createFramework, jobsHandlers, jobsService, type JobsFramework } from '../../../../src/frameworks/jobs';
import type { JobsHandlers } from '../../../../src/generated/berth/v1/Jobs';
import { FakeScheduler, offer, startHarness, status, type Harness } from './harness';

let h: Harness;
let api: JobsHandlers;
beforeEach(async () => {
  h = await startHarness({ start: '2026-03-28T12:00:00Z' });
  api = jobsHandlers(h.framework);
});
afterEach(async () => {
  await h.close();
});

type Method = keyof JobsHandlers;

/** Calls a unary handler; resolves with the response (round-tripped through protobuf) or rejects with the status. */
function call(method: Method, request: unknown): Promise<any> {
  const def = jobsService(h.framework).definition[method]!;
  // What grpc-js hands the handler: the decoded request.
  const decoded = def.requestDeserialize(def.requestSerialize(request));
  return new Promise((resolve, reject) => {
    const handler = api[method] as unknown as grpc.handleUnaryCall<unknown, unknown>;
    handler({ request: decoded } as grpc.ServerUnaryCall<unknown, unknown>, (err: grpc.ServerErrorResponse | Partial<grpc.StatusObject> | null, res?: unknown) => {
      if (err) reject(err);
      else resolve(def.responseDeserialize(def.responseSerialize(res)));
    });
  });
}

const YAML = `
id: billing.nightly
description: Nightly invoices
labels: { team: billing }
run:
  cmd: ./invoice.sh
  cpus: 0.5
  mem: 256
  restart: { policy: ON_FAILURE, activeDeadlineSeconds: 3600 }
schedules:
  - id: nightly
    cron: "30 2 * * *"
    timezone: Europe/Berlin
    concurrencyPolicy: FORBID
`;

describe('berth.v1.Jobs', () => {
  it('PutJob from YAML text, then GetJob: definition with defaults, next fire time (DST day), history', async () => {
    const put = await call('PutJob', { text: YAML });
    expect(put.created).toBe(true);
    expect(put.job.definition).toMatchObject({
      id: 'billing.nightly',
      description: 'Nightly invoices',
      labels: { team: 'billing' },
      run: { cmd: './invoice.sh', cpus: 0.5, mem: 256, disk: 0, max_launch_delay_seconds: 3600, restart: { policy: 'ON_FAILURE', active_deadline_seconds: 3600 } },
      schedules: [{ id: 'nightly', cron: '30 2 * * *', timezone: 'Europe/Berlin', concurrency_policy: 'FORBID', starting_deadline_seconds: 900, enabled: true }],
    });
    // 2026-03-29 is the spring-forward day: 02:30 does not exist, the run is at 03:00 CEST = 01:00Z.
    expect(put.job.schedules[0].next_fire_at).toEqual({ nanoseconds: String(Date.parse('2026-03-29T01:00:00Z') * 1e6) });
    expect((await call('PutJob', { text: YAML })).created).toBe(false);

    const got = (await call('GetJob', { id: 'billing.nightly' })).job;
    expect(got.active_runs).toEqual([]);
    expect(got.history).toMatchObject({ success_count: '0', failure_count: '0' });
    expect(got.dependents).toEqual([]);
  });

  it('PutJob with a definition message', async () => {
    const res = await call('PutJob', {
      definition: {
        id: 'm',
        run: { args: ['/bin/echo', 'x'], docker: { image: 'busybox' }, env: { A: '1' }, constraints: [{ field: 'hostname', operator: 'UNIQUE' }], restart: { policy: 'NEVER' } },
        schedules: [{ id: 'h', cron: '@hourly', concurrency_policy: 'ALLOW', enabled: false }],
      },
    });
    expect(res.job.definition.run).toMatchObject({ args: ['/bin/echo', 'x'], docker: { image: 'busybox', force_pull: false }, env: { A: '1' }, cpus: 1, mem: 128, constraints: [{ field: 'hostname', operator: 'UNIQUE' }] });
    expect(res.job.definition.schedules[0]).toMatchObject({ timezone: 'UTC', enabled: false });
    expect(res.job.schedules[0].next_fire_at).toBeNull();
  });

  it('validation problems are INVALID_ARGUMENT with field-level messages', async () => {
    await expect(call('PutJob', { text: 'id: x\nrun: { cmd: y }\nschedules: [{ id: s, cron: "* * *", timezone: Nowhere/City }]' })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^schedules\[0\]\.timezone: unknown IANA time zone, got "Nowhere\/City"/),
    });
    await expect(call('PutJob', { definition: { id: 'bad', run: { cmd: 'x', cpus: -2 } } })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'run.cpus: must be a finite number > 0 (CPUs), got -2',
    });
    await call('PutJob', { definition: { id: 'a', run: { cmd: 'x' } } });
    await call('PutJob', { definition: { id: 'b', run: { cmd: 'x' }, dependencies: ['a'] } });
    await expect(call('PutJob', { definition: { id: 'a', run: { cmd: 'x' }, dependencies: ['b'] } })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'dependencies: would create a dependency cycle (job → parent): a → b → a',
    });
    await expect(call('GetJob', { id: '' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'id: is required' });
  });

  it('StartRun, ListRuns, StopRun and the run history', async () => {
    await call('PutJob', { definition: { id: 'r', run: { cmd: 'x', restart: { policy: 'ON_FAILURE' } } } });
    const started = (await call('StartRun', { job_id: 'r' })).run;
    expect(started).toMatchObject({ job_id: 'r', status: 'INITIAL', trigger: 'MANUAL', attempts: [{ attempt: 1, task_id: `r.${started.run_id}.1`, state: 'TASK_STATE_UNSPECIFIED' }] });
    await h.framework.offers([offer({ agent: 'a1', hostname: 'h1' })]);
    await h.framework.statusUpdate(status(`r.${started.run_id}.1`, 'TASK_RUNNING', { agent_id: { value: 'a1' } }));
    const job = (await call('GetJob', { id: 'r' })).job;
    expect(job.active_runs).toHaveLength(1);
    expect(job.active_runs[0]).toMatchObject({ status: 'ACTIVE', attempts: [{ state: 'TASK_RUNNING', agent_id: 'a1', hostname: 'h1' }] });
    expect(job.active_runs[0].attempts[0].launched_at).not.toBeNull();

    const stopped = (await call('StopRun', { job_id: 'r', run_id: started.run_id })).run;
    expect(stopped.status).toBe('ACTIVE');
    expect(h.scheduler.killedTaskIds).toEqual([`r.${started.run_id}.1`]);
    await h.framework.statusUpdate(status(`r.${started.run_id}.1`, 'TASK_KILLED'));

    const list = await call('ListRuns', { job_id: 'r' });
    expect(list.runs.map((r: { status: string }) => r.status)).toEqual(['STOPPED']);
    expect(list.history).toMatchObject({ stopped_count: '1', success_count: '0' });
    await expect(call('StopRun', { job_id: 'r', run_id: started.run_id })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await expect(call('StartRun', { job_id: 'nope' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: 'no job "nope"' });
  });

  it('ListJobs by prefix; DeleteJob refuses while runs are active or jobs depend on it', async () => {
    await call('PutJob', { definition: { id: 'etl.extract', run: { cmd: 'x' } } });
    await call('PutJob', { definition: { id: 'etl.load', run: { cmd: 'x' }, dependencies: ['etl.extract'] } });
    await call('PutJob', { definition: { id: 'other', run: { cmd: 'x' } } });
    expect((await call('ListJobs', { prefix: 'etl.' })).jobs.map((j: { definition: { id: string } }) => j.definition.id)).toEqual(['etl.extract', 'etl.load']);
    expect((await call('ListJobs', {})).jobs).toHaveLength(3);

    await expect(call('DeleteJob', { id: 'etl.extract' })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: expect.stringContaining('dependency of etl.load') });
    const run = (await call('StartRun', { job_id: 'other' })).run;
    await h.framework.offers([offer()]);
    await expect(call('DeleteJob', { id: 'other' })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: expect.stringContaining('has active runs') });
    expect(await call('DeleteJob', { id: 'other', stop_current_runs: true })).toEqual({ stopped_run_ids: [run.run_id] });
    expect(h.scheduler.killedTaskIds).toEqual([`other.${run.run_id}.1`]);
    expect(await h.store.list('runs/other/')).toEqual([]);
    expect(await h.store.get('jobs/other')).toBeUndefined();
    await expect(call('GetJob', { id: 'other' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    // The killed task's update arrives later: ignored; a live report of it: killed again.
    await h.framework.statusUpdate(status(`other.${run.run_id}.1`, 'TASK_RUNNING'));
    expect(h.scheduler.killedTaskIds).toEqual([`other.${run.run_id}.1`, `other.${run.run_id}.1`]);
    await call('DeleteJob', { id: 'etl.load' });
    await call('DeleteJob', { id: 'etl.extract' });
    expect((await call('ListJobs', {})).jobs).toEqual([]);
  });
});

describe('the plugin', () => {
  const context = (options: Record<string, unknown> = {}) => ({ clock: new FakeClock(0), logger: nullLogger, store: new MemoryKeyValueStore(), scheduler: new FakeScheduler(), options });

  it('subscribes as "jobs" with a week of failover timeout, partition aware, in the configured roles', async () => {
    const fw = (await createFramework(context())) as JobsFramework;
    expect(fw.frameworkInfo()).toMatchObject({ name: 'jobs', roles: ['*'], failover_timeout: 604800, capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }] });
    const services = fw.grpcServices();
    expect(Object.values(services[0]!.definition).map((m) => m.path)).toEqual(
      expect.arrayContaining(['/berth.v1.Jobs/PutJob', '/berth.v1.Jobs/GetJob', '/berth.v1.Jobs/ListJobs', '/berth.v1.Jobs/DeleteJob', '/berth.v1.Jobs/StartRun', '/berth.v1.Jobs/StopRun', '/berth.v1.Jobs/ListRuns']),
    );
    await fw.stop();
    const batch = (await createFramework(context({ roles: ['batch'], gpus: true }))) as JobsFramework;
    expect(batch.frameworkInfo()).toMatchObject({ roles: ['batch'], capabilities: expect.arrayContaining([{ type: 'GPU_RESOURCES' }]) });
    await batch.stop();
  });

  it('rejects bad options, naming them', async () => {
    await expect(Promise.resolve().then(() => createFramework(context({ historySize: 0, colour: 'red' })))).rejects.toThrow(/options\.historySize: .*got 0; options: unknown option\(s\) colour/);
  });
});
