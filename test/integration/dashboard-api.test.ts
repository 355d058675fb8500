import type { GrpcServerHandle } from '../../src/common/rpc/server';
import { Authenticator, Authorizer } from '../../src/common/auth';
import { authorizeView } from '../../src/common/auth';
import { get, getJson, launchOne, SseClient, startFakeFrameworksApi, startDashboardMaster, type DashboardMaster, type DashboardMasterOptions } from '../support/dashboard';
import { FakeAgent, TestOperator, TestScheduler, waitFor } from '../support/master-harness';

/**
 * The dashboard's API on the master's HTTP port, against a real master (real gRPC to fake agents
 * and frameworks): /api/state, /api/events (Operator.Watch as server-sent events, plus the roles'
 * shares as `usage`), task logs through ReadTaskLog, apps and jobs proxied to the frameworks' gRPC
 * APIs, the static files, and authorization.
 */
describe('master: dashboard API', () => {
  let dm: DashboardMaster | undefined;
  const closers: (() => void | Promise<void>)[] = [];
  const track = <T extends { close(): void }>(x: T): T => {
    closers.push(() => x.close());
    return x;
  };

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await dm?.stop();
    dm = undefined;
  });

  async function start(options: DashboardMasterOptions = {}): Promise<DashboardMaster> {
    dm = await startDashboardMaster(options);
    return dm;
  }

  /** Two agents (cpus:4;mem:4096 each) and a framework in role `web` running task web-1. */
  async function clusterWithTask(m: DashboardMaster): Promise<{ agents: FakeAgent[]; fw: TestScheduler; runsOn: FakeAgent }> {
    const agents = [track(await FakeAgent.register(m.master.address, { hostname: 'agent-a' })), track(await FakeAgent.register(m.master.address, { hostname: 'agent-b' }))];
    const fw = track(await TestScheduler.subscribe(m.master.address, { name: 'web-fw', roles: ['web'] }));
    m.master.clock.advance(1000);
    const runsOn = await launchOne(fw, agents, 'web-1');
    return { agents, fw, runsOn };
  }

  const webShare = (e: { data: { roles: { name: string; dominant_share: number }[] } }) => e.data.roles.find((r) => r.name === 'web')?.dominant_share;

  test('/api/state is GetState: agents, frameworks, tasks and roles with shares, in wire field names', async () => {
    const m = await start();
    const { fw } = await clusterWithTask(m);
    const { status, body } = await getJson<any>(`${m.url}/api/state`);
    expect(status).toBe(200);
    expect(body.agents.map((a: any) => a.agent_info.hostname).sort()).toEqual(['agent-a', 'agent-b']);
    expect(body.frameworks.map((f: any) => [f.framework_info.id.value, f.framework_info.name, f.connected])).toEqual([[fw.frameworkId, 'web-fw', true]]);
    expect(body.tasks.map((t: any) => [t.task_id.value, t.state, t.role])).toEqual([['web-1', 'TASK_RUNNING', 'web']]);
    const web = body.roles.find((r: any) => r.name === 'web');
    expect(web.dominant_share).toBeCloseTo(1 / 8); // cpus 1 of 8 dominates mem 128 of 8192
    expect(typeof body.tasks[0].statuses[0].uuid).toBe('string'); // bytes as base64, not an array of numbers
  });

  test('/api/events: a SNAPSHOT, then cluster events and usage as they happen (weights, another task, an agent)', async () => {
    const m = await start();
    const { agents, fw } = await clusterWithTask(m);
    const sse = track(await SseClient.open(`${m.url}/api/events`));
    expect([sse.status, sse.headers['content-type']]).toEqual([200, 'text/event-stream; charset=utf-8']);

    const snapshot = await sse.nextCluster('SNAPSHOT');
    expect(snapshot.id).toBe(`${snapshot.data.sequence}@${snapshot.data.epoch}`);
    expect(snapshot.data.snapshot.state.tasks.map((t: any) => t.task_id.value)).toEqual(['web-1']);
    expect(webShare(await sse.nextUsage())).toBeCloseTo(1 / 8);

    // Shares are weighted: share = max_r(allocated_r / total_r) / weight.
    const operator = track(new TestOperator(m.master.address));
    await operator.call('UpdateWeights', { weights: [{ role: 'web', weight: 3 }] });
    const role = await sse.nextCluster('ROLE_UPDATED');
    expect([role.data.role_updated.role.name, role.data.role_updated.role.weight]).toEqual(['web', 3]);
    expect(webShare(await sse.nextUsage())).toBeCloseTo(1 / 24);

    // The rest of web-1's agent is offered again once the accept's 5 s filter expired.
    m.master.clock.advance(6000);
    await launchOne(fw, agents, 'web-2', 'cpus:2;mem:128');
    expect((await sse.nextCluster('TASK_ADDED')).data.task_added.task.task_id.value).toBe('web-2');
    await sse.nextUsage((e) => Math.abs(webShare(e)! - 3 / 8 / 3) < 1e-9, 'the share with web-2');

    const third = track(await FakeAgent.register(m.master.address, { hostname: 'agent-c' }));
    const added = await sse.nextCluster('AGENT_ADDED');
    expect([added.data.agent_added.agent.agent_info.id.value, added.data.agent_added.agent.agent_info.hostname]).toEqual([third.agentId, 'agent-c']);

    // The stream's two timers on the master's clock (Watch heartbeat, usage) go with it.
    const withStream = m.master.clock.pending;
    sse.close();
    await waitFor(() => m.master.clock.pending === withStream - 2, 'the watch heartbeat and the usage timer to be cleared');
  });

  test('a client that reconnects with Last-Event-ID gets only what it missed; an unknown id gets a snapshot', async () => {
    const m = await start();
    const first = await SseClient.open(`${m.url}/api/events`);
    const snapshot = await first.nextCluster('SNAPSHOT');
    first.close();

    const missed = track(await FakeAgent.register(m.master.address, { hostname: 'missed' }));
    const resumed = track(await SseClient.open(`${m.url}/api/events`, { 'last-event-id': snapshot.id! }));
    const next = await resumed.events.next((e) => e.event === 'cluster', 'the first cluster event');
    expect([next.data.type, next.data.agent_added.agent.agent_info.id.value]).toEqual(['AGENT_ADDED', missed.agentId]);
    expect(Number(next.data.sequence)).toBe(Number(snapshot.data.sequence) + 1);

    const stranger = track(await SseClient.open(`${m.url}/api/events`, { 'last-event-id': '1@another-master@0/abc' }));
    expect((await stranger.events.next((e) => e.event === 'cluster', 'the first cluster event')).data.type).toBe('SNAPSHOT');
  });

  test('task logs are read from the agent through ReadTaskLog; unknown tasks and bad parameters are JSON errors', async () => {
    const m = await start();
    const { fw, runsOn } = await clusterWithTask(m);
    const url = `${m.url}/api/tasks/${encodeURIComponent(fw.frameworkId)}/web-1/log?stream=stderr&offset=-100`;
    const reply = get(url);
    const read = (await runsOn.messages.next((msg) => msg.type === 'READ_TASK_LOG', 'READ_TASK_LOG')).read_task_log!;
    expect([read.task_id!.value, read.framework_id!.value, read.stream, read.offset]).toEqual(['web-1', fw.frameworkId, 'STDERR', '-100']);
    runsOn.send({ type: 'TASK_LOG', task_log: { request_id: read.request_id, data: Buffer.from('boom\n'), size: 105, offset: 100, error: '' } });
    const r = await reply;
    expect([r.status, r.headers['content-type'], r.body, r.headers['x-log-size'], r.headers['x-log-offset']]).toEqual([200, 'text/plain; charset=utf-8', 'boom\n', '105', '100']);

    const failing = getJson<any>(`${m.url}/api/tasks/${fw.frameworkId}/web-1/log`);
    const second = (await runsOn.messages.next((msg) => msg.type === 'READ_TASK_LOG', 'READ_TASK_LOG')).read_task_log!;
    expect([second.stream, second.offset]).toEqual(['STDOUT', '-65536']); // the defaults: the tail of stdout
    runsOn.send({ type: 'TASK_LOG', task_log: { request_id: second.request_id, error: 'no such sandbox' } });
    expect(await failing).toEqual({ status: 409, body: { code: 'FAILED_PRECONDITION', error: 'reading the log of task "web-1": no such sandbox' } });

    expect(await getJson(`${m.url}/api/tasks/${fw.frameworkId}/nope/log`)).toEqual({ status: 404, body: { code: 'NOT_FOUND', error: 'task_id: unknown task "nope"' } });
    const bad = await getJson<any>(`${m.url}/api/tasks/${fw.frameworkId}/web-1/log?stream=stdin`);
    expect([bad.status, bad.body.error]).toEqual([400, 'stream: must be stdout or stderr, got "stdin"']);
    expect((await getJson<any>(`${m.url}/api/tasks/${fw.frameworkId}/web-1/log?length=lots`)).status).toBe(400);
    expect((await getJson(`${m.url}/api/nothing-here`)).status).toBe(404);
  });

  test('a standby answers 503 with the leader; a deposed leader ends its event streams with an error event', async () => {
    const m = await start({ master: { autoElect: false } });
    m.master.election.current = { id: 'other-master', grpcAddress: '127.0.0.1:1', httpAddress: '127.0.0.1:2' };
    const state = await getJson<any>(`${m.url}/api/state`);
    expect([state.status, state.body.code, state.body.leader]).toEqual([503, 'UNAVAILABLE', { id: 'other-master', grpcAddress: '127.0.0.1:1', httpAddress: '127.0.0.1:2' }]);
    const refused = track(await SseClient.open(`${m.url}/api/events`));
    expect(refused.status).toBe(503);

    m.master.election.elect();
    await m.master.daemon.settled();
    const sse = track(await SseClient.open(`${m.url}/api/events`));
    await sse.nextCluster('SNAPSHOT');
    m.master.election.depose('test');
    const error = await sse.events.next((e) => e.event === 'error', 'an error event');
    expect(error.data.code).toBe('UNAVAILABLE');
    await sse.events.whenEnded('the event stream');
  });

  test('closing the HTTP server ends open event streams', async () => {
    const m = await start();
    const sse = track(await SseClient.open(`${m.url}/api/events`));
    await sse.nextCluster('SNAPSHOT');
    await m.http.close();
    await sse.events.whenEnded('the event stream');
  });

  test('with authentication on, /api/* and /metrics need a token whose principal may view; health never does', async () => {
    const authenticator = new Authenticator([{ name: 'ops', token: 'ops-token' }, { name: 'blind', token: 'blind-token' }]);
    const authorizer = new Authorizer([{ principals: ['blind'], actions: ['view'], objects: ['*'], effect: 'deny' }]);
    const m = await start({ master: { authenticate: authenticator, authorizer }, http: { authorizeMetrics: authorizeView(authenticator, authorizer) } });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    for (const path of ['/api/state', '/api/events', '/api/apps']) {
      const anonymous = await get(`${m.url}${path}`);
      expect([anonymous.status, anonymous.headers['www-authenticate']]).toEqual([401, 'Bearer']);
      expect((await get(`${m.url}${path}`, bearer('blind-token'))).status).toBe(401);
    }
    expect((await get(`${m.url}/metrics`)).status).toBe(401);
    expect((await get(`${m.url}/health/live`)).status).toBe(200);
    expect((await getJson(`${m.url}/api/state`, bearer('ops-token'))).status).toBe(200);
    expect((await get(`${m.url}/metrics`, bearer('ops-token'))).status).toBe(200);
    const sse = track(await SseClient.open(`${m.url}/api/events`, bearer('ops-token')));
    expect((await sse.events.next(() => true, 'the first event')).data.type).toBe('SNAPSHOT');
  });

  describe('apps and jobs from the frameworks API', () => {
    let frameworks: GrpcServerHandle | undefined;
    const runsAsked: unknown[] = [];
    afterEach(async () => {
      await frameworks?.shutdown(0);
      frameworks = undefined;
    });

    async function startFrameworksApi(): Promise<string> {
      frameworks = await startFakeFrameworksApi({
        apps: [{ id: '/shop/web', version: 'v1', status: { instances: 2, running: 1, healthy: 1, waiting_instances: 1, waiting: '1 instance waiting: offers lack mem (needs 512)' } }],
        jobs: [{ definition: { id: 'billing.nightly', run: { cmd: 'true' } }, schedules: [{ schedule: { id: 'nightly', cron: '0 3 * * *', timezone: 'UTC' } }] }],
        runs: { 'billing.nightly': [{ job_id: 'billing.nightly', run_id: 'r1', status: 'SUCCESS', trigger: 'SCHEDULE' }] },
        onListRuns: (request) => runsAsked.push(request),
      });
      return frameworks.address;
    }

    test('unset: the panels are told no frameworks API is configured', async () => {
      const m = await start();
      expect(await getJson(`${m.url}/api/apps`)).toEqual({ status: 200, body: { configured: false, error: 'no frameworks API configured (dashboard.frameworks)' } });
      expect((await getJson<any>(`${m.url}/api/jobs`)).body.configured).toBe(false);
    });

    test('ListApps, ListJobs and ListRuns are proxied over gRPC; their errors keep their meaning', async () => {
      const m = await start({ dashboard: { frameworks: await startFrameworksApi() } });
      const apps = await getJson<any>(`${m.url}/api/apps`);
      expect(apps.status).toBe(200);
      expect(apps.body.configured).toBe(true);
      expect(apps.body.apps.map((a: any) => [a.id, a.status.running, a.status.waiting])).toEqual([['/shop/web', 1, '1 instance waiting: offers lack mem (needs 512)']]);
      const jobs = await getJson<any>(`${m.url}/api/jobs`);
      expect(jobs.body.jobs.map((j: any) => [j.definition.id, j.schedules[0].schedule.cron])).toEqual([['billing.nightly', '0 3 * * *']]);
      const runs = await getJson<any>(`${m.url}/api/jobs/billing.nightly/runs?limit=5`);
      expect(runs.body.runs.map((r: any) => [r.run_id, r.status, r.trigger])).toEqual([['r1', 'SUCCESS', 'SCHEDULE']]);
      expect(runsAsked).toEqual([{ job_id: 'billing.nightly', limit: 5 }]);
      const unknown = await getJson<any>(`${m.url}/api/jobs/nope/runs`);
      expect([unknown.status, unknown.body.code, unknown.body.configured]).toEqual([404, 'NOT_FOUND', true]);
    });

    test('/api/batch joins the batch framework\'s queues and jobs; a host without it answers 501', async () => {
      const without = await start({ dashboard: { frameworks: await startFrameworksApi() } });
      const missing = await getJson<any>(`${without.url}/api/batch`);
      expect([missing.status, missing.body.code]).toEqual([501, 'UNIMPLEMENTED']);
      await without.stop();
      await frameworks!.shutdown(0);
      frameworks = await startFakeFrameworksApi({
        batch: {
          queues: [{ queue: { name: 'q1', cohort: 'research', nominal_quota: { cpus: 4 }, weight: 1 }, used: { cpus: 4 }, pending_jobs: 1, admitted_jobs: 1 }],
          jobs: [{ id: 'train-2', definition: { queue: 'q1', tasks: 4 }, state: 'PENDING', reason: 'queue q1 at quota (cpus 4/4; the job needs cpus 4), cohort research has nothing to lend (cpus 8/8 in use)' }],
        },
      });
      const m = await start({ dashboard: { frameworks: frameworks.address } });
      const batch = await getJson<any>(`${m.url}/api/batch`);
      expect(batch.status).toBe(200);
      expect(batch.body.queues.map((q: any) => [q.queue.name, q.used.cpus, q.pending_jobs])).toEqual([['q1', 4, 1]]);
      expect(batch.body.jobs.map((j: any) => [j.id, j.state, j.reason])).toEqual([['train-2', 'PENDING', 'queue q1 at quota (cpus 4/4; the job needs cpus 4), cohort research has nothing to lend (cpus 8/8 in use)']]);
    });

    test('frameworks that do not answer are a 502 naming the address', async () => {
      const address = await startFrameworksApi();
      await frameworks!.shutdown(0);
      const m = await start({ dashboard: { frameworks: address, frameworksTimeoutMs: 2000 } });
      const r = await getJson<any>(`${m.url}/api/apps`);
      expect([r.status, r.body.configured]).toEqual([502, true]);
      expect(r.body.error).toContain(address);
    });
  });

  test('the page, its script and style, and the vendored preact and htm modules are served', async () => {
    const m = await start();
    const index = await get(`${m.url}/`);
    expect([index.status, index.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
    expect(index.body).toContain('"preact": "/ui/vendor/preact.mjs"');
    for (const path of ['/ui/app.js', '/ui/vendor/preact.mjs', '/ui/vendor/preact-hooks.mjs', '/ui/vendor/htm.mjs']) {
      const r = await get(`${m.url}${path}`);
      expect([path, r.status, r.headers['content-type']]).toEqual([path, 200, 'text/javascript; charset=utf-8']);
    }
    expect((await get(`${m.url}/ui/vendor/htm.mjs`)).body).toMatch(/export default/);
    expect((await get(`${m.url}/ui/style.css`)).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await get(`${m.url}/ui/vendor/other.mjs`)).status).toBe(404);
  });
  test('a killed task\'s TASK_FAILED, resent by its agent until acknowledged, is one event on the stream', async () => {
    const m = await start();
    const { fw, runsOn } = await clusterWithTask(m);
    const sse = track(await SseClient.open(`${m.url}/api/events`));
    await sse.nextCluster('SNAPSHOT');
    const operator = track(new TestOperator(m.master.address));
    await operator.call('KillTask', { task_id: { value: 'web-1' } });
    await runsOn.messages.next((msg) => msg.type === 'KILL_TASK', 'KILL_TASK');
    // The agent reports the end, and — no acknowledgement yet — sends the same update again, as
    // its status update manager does on its retry schedule and on every re-registration.
    const uuid = runsOn.status(fw.frameworkId, 'web-1', 'TASK_FAILED', { message: 'killed by signal 9' });
    runsOn.send({ type: 'STATUS_UPDATE', status_update: { framework_id: { value: fw.frameworkId }, status: { task_id: { value: 'web-1' }, state: 'TASK_FAILED', source: 'SOURCE_AGENT', uuid, agent_id: { value: runsOn.agentId }, message: 'killed by signal 9' }, latest_state: 'TASK_FAILED' } });
    // The framework hears it twice (at-least-once; it deduplicates by uuid)…
    await fw.nextUpdate('web-1', 'TASK_FAILED');
    await fw.nextUpdate('web-1', 'TASK_FAILED');
    // …the stream once: a later event shows the resend was not published in between.
    await sse.nextCluster('TASK_UPDATED', (e) => e.data.task_updated.status.state === 'TASK_FAILED');
    const marker = track(await FakeAgent.register(m.master.address, { hostname: 'after' }));
    await sse.nextCluster('AGENT_ADDED', (e) => e.data.agent_added.agent.agent_info.id.value === marker.agentId);
    const failed = sse.events.log.filter((e) => e.event === 'cluster' && e.data.type === 'TASK_UPDATED' && e.data.task_updated.status.state === 'TASK_FAILED');
    expect(failed).toHaveLength(1);
  });

  test('GET /leader on a single master that leads names it: its id and gRPC address', async () => {
    const m = await start();
    const { status, body } = await getJson<any>(`${m.url}/leader`);
    expect([status, body.id, body.grpcAddress]).toEqual([200, m.master.daemon.core!.options.masterId, m.master.address]);
  });
});
