import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { GrpcServerHandle } from '../../src/common/rpc/server';
import { launchOne, startDashboardMaster, startFakeFrameworksApi, type DashboardMaster } from '../support/dashboard';
import { FakeAgent, TestOperator, TestScheduler } from '../support/master-harness';

/** Debian's chromium (scripts/ensure-services.sh installs it); no browser is downloaded. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Every wait for the page is bounded by this (ms). */
const PAGE_WAIT_MS = 5000;
const SCREENSHOT = path.resolve(__dirname, '../../test-artifacts/dashboard.png');

/**
 * The dashboard in a real browser (headless chromium via playwright-core), against a real master
 * with two agents, two frameworks with running tasks and a fake frameworks API: the page shows
 * the agents, tasks, roles, apps, jobs and batch queues; a change of weights and a new task move the roles'
 * shares on the page without a reload; a task's log opens from its row.
 */
describe('dashboard in a browser', () => {
  let dm: DashboardMaster;
  let frameworksApi: GrpcServerHandle;
  let browser: Browser;
  let page: Page;
  let agents: FakeAgent[];
  let web1Agent: FakeAgent;
  let web: TestScheduler;
  let operator: TestOperator;
  const closers: (() => void)[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    frameworksApi = await startFakeFrameworksApi({
      apps: [{ id: '/shop/web', version: '2026-01-01T00:00:00Z', status: { instances: 3, running: 2, healthy: 2, waiting_instances: 1, waiting: '1 instance waiting: no offer has mem 4096 (largest 3968)', deployment: { id: 'd1', app_id: '/shop/web', kind: 'SCALE', state: 'RUNNING', steps: [{ action: 'ScaleApplication', status: 'RUNNING' }] } } }],
      jobs: [{ definition: { id: 'billing.nightly', description: 'nightly invoices', run: { cmd: 'true' } }, schedules: [{ schedule: { id: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Berlin' } }], history: { success_count: '4', failure_count: '1' } }],
      batch: {
        queues: [{ queue: { name: 'research', cohort: 'lab', nominal_quota: { cpus: 4, mem: 4096 }, weight: 1 }, used: { cpus: 6, mem: 1536 }, borrowed: { cpus: 2 }, pending_jobs: 1, admitted_jobs: 2 }],
        jobs: [{ id: 'train-3', definition: { queue: 'research', tasks: 4, shape: { cpus: 1, mem: 256 } }, state: 'PENDING', reason: 'queue research at quota (cpus 6/4; the job needs cpus 4), cohort lab has nothing to lend (cpus 8/8 in use)', attempts: [] }],
      },
      runs: { 'billing.nightly': [{ job_id: 'billing.nightly', run_id: '20260101T030000-1', status: 'SUCCESS', trigger: 'SCHEDULE', schedule_id: 'nightly', attempts: [{ attempt: 1, task_id: 'billing.nightly.1.1' }] }] },
    });
    dm = await startDashboardMaster({ dashboard: { frameworks: frameworksApi.address } });
    const { address } = dm.master;
    agents = [await FakeAgent.register(address, { hostname: 'agent-a' }), await FakeAgent.register(address, { hostname: 'agent-b' })];
    closers.push(...agents.map((a) => () => a.close()));
    web = await TestScheduler.subscribe(address, { name: 'shop', roles: ['web'] });
    closers.push(() => web.close());
    dm.master.clock.advance(1000);
    web1Agent = await launchOne(web, agents, 'web-1', 'cpus:1;mem:128', { health_check: { type: 'COMMAND', command: { value: 'true', shell: true } } });
    const batch = await TestScheduler.subscribe(address, { name: 'reports', roles: ['batch'] });
    closers.push(() => batch.close());
    dm.master.clock.advance(1000);
    await launchOne(batch, agents, 'report-1', 'cpus:2;mem:512');
    operator = new TestOperator(address);
    closers.push(() => operator.close());

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
    page.setDefaultTimeout(PAGE_WAIT_MS);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => msg.type() === 'error' && pageErrors.push(msg.text()));
    // Only the master's loopback port: anything else would be the page reaching out.
    await page.route('**/*', (route) => (route.request().url().startsWith(dm.url) ? route.continue() : route.abort()));
    await page.goto(`${dm.url}/`);
  }, 20_000);

  afterAll(async () => {
    await browser?.close();
    for (const close of closers.splice(0)) close();
    await dm?.stop();
    await frameworksApi?.shutdown(0);
  });

  const text = (selector: string) => page.locator(selector).innerText();
  const roleCell = (role: string, cell: 'weight' | 'share') => page.locator(`#roles tr[data-role="${role}"] td.${cell}`);

  test('shows the agents, the tasks with state and health, the roles, apps and jobs', async () => {
    await page.locator('#connection', { hasText: 'live' }).waitFor();
    await page.locator('#agents tr[data-agent-id]').nth(1).waitFor();
    expect(await page.locator('#agents td.hostname').allInnerTexts()).toEqual(['agent-a', 'agent-b']);
    const task = page.locator('#tasks tr[data-task-id="web-1"]');
    await task.waitFor();
    expect(await task.innerText()).toMatch(/web-1\s+shop\s+agent-[ab]\s+web\s+running\s+healthy/);
    expect(await page.locator('#tasks tr[data-task-id="report-1"]').innerText()).toContain('running');
    expect(await roleCell('web', 'share').innerText()).toBe('12.5%'); // cpus 1 of 8
    expect(await roleCell('batch', 'share').innerText()).toBe('25%'); // cpus 2 of 8
    await page.locator('#apps tr[data-app-id="/shop/web"]').waitFor();
    expect(await text('#apps tr[data-app-id="/shop/web"]')).toContain('no offer has mem 4096');
    expect(await text('#jobs tr[data-job-id="billing.nightly"]')).toContain('0 3 * * *');
    expect(await text('#batch tr[data-queue="research"]')).toMatch(/research\s+lab\s+1\s+cpus 6\/4 · mem 1536\/4096\s+cpus 2\s+2\s+1/);
    expect(await text('#batch tr[data-batch-job="train-3"]')).toContain('pending');
    expect(await text('#batch tr[data-batch-job="train-3"]')).toContain('cohort lab has nothing to lend');
    expect(await text('#summary')).toMatch(/2\s*agents/);
  });

  test('a change of weights and a new task move the role shares without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true));

    await operator.call('UpdateWeights', { weights: [{ role: 'web', weight: 2 }] });
    await page.locator('#roles tr[data-role="web"] td.weight', { hasText: /^2$/ }).waitFor();
    await page.locator('#roles tr[data-role="web"] td.share', { hasText: /^6\.3%$/ }).waitFor(); // 12.5 % ÷ 2

    dm.master.clock.advance(6000); // the accept's 5 s filter on web-1's agent expires: its last cpu is offered again
    await launchOne(web, agents, 'web-2', 'cpus:1;mem:128');
    await page.locator('#tasks tr[data-task-id="web-2"]').waitFor();
    await page.locator('#roles tr[data-role="web"] td.share', { hasText: /^12\.5%$/ }).waitFor(); // 2 of 8 cpus ÷ 2

    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
  });

  test("a task's log opens from its row (ReadTaskLog through the master); the page is saved as a screenshot", async () => {
    const answered = (async () => {
      const read = (await web1Agent.messages.next((m) => m.type === 'READ_TASK_LOG', 'READ_TASK_LOG')).read_task_log!;
      expect([read.task_id!.value, read.stream]).toEqual(['web-1', 'STDOUT']);
      web1Agent.send({ type: 'TASK_LOG', task_log: { request_id: read.request_id, data: Buffer.from('listening on :8080\n'), size: 19, offset: 0, error: '' } });
    })();
    await page.locator('#tasks tr[data-task-id="web-1"] td.logs a', { hasText: 'stdout' }).click();
    await answered;
    await page.locator('.log pre', { hasText: 'listening on :8080' }).waitFor();
    await page.locator('.log-head button', { hasText: 'close' }).click();
    await page.locator('.log').waitFor({ state: 'detached' });

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    expect(pageErrors).toEqual([]);
  });
});
