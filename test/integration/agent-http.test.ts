import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentConfigSchema, type AgentConfig } from '../../src/agent/config';
import { runAgent, type RunningAgent } from '../../src/cli/agent-command';
import { loadConfig } from '../../src/common/config';
import { memoryLogger, type MemoryLogger } from '../../src/common/logging';
import { startTestMaster, waitFor, type TestMaster } from '../support/master-harness';

/**
 * The agent's HTTP port through its composition root (`runAgent`, as `berth agent` runs it): a real
 * agent (temp work dir, HTTP on an ephemeral port) against a real in-process master that stands by
 * at first, so the agent cannot register until the test elects it. Waits are bounded (WAIT_MS).
 */
describe('agent HTTP port: /health and /metrics', () => {
  let master: TestMaster;
  let workDir: string;
  let logger: MemoryLogger;
  const running: RunningAgent[] = [];
  let shutdowns = 0;

  beforeEach(async () => {
    master = await startTestMaster({ autoElect: false });
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-http-'));
    logger = memoryLogger('info');
    shutdowns = 0;
  });

  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop({ killTasks: true });
    await master.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  function config(flags: Record<string, unknown> = {}): AgentConfig {
    return loadConfig({
      schema: agentConfigSchema,
      flags: { master: master.address, hostname: 'localhost', workDir, resources: 'cpus:1;mem:256;disk:100;ports:[31000-31009]', httpPort: '0', reconnectMaxMs: '100', ...flags },
      env: {},
    });
  }

  async function start(flags: Record<string, unknown> = {}): Promise<RunningAgent> {
    const r = await runAgent(config(flags), logger, () => shutdowns++);
    running.push(r);
    return r;
  }

  async function get(r: RunningAgent, urlPath: string): Promise<{ status: number; type: string | null; body: string }> {
    const res = await fetch(`http://${r.http.address}${urlPath}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  }

  it('is live at once, ready only once registered with the master, and serves berth_agent_ metrics with process RSS', async () => {
    const r = await start();
    expect(r.http.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(r.http.port).toBeGreaterThan(0);
    const started = logger.entries.find((e) => e.message === 'agent started');
    expect(started?.fields['http']).toBe(`http://${r.http.address}`);

    expect(await get(r, '/health/live')).toMatchObject({ status: 200, body: '{"live":true}\n' });
    // The master stands by: no leader, so the agent cannot register.
    expect(r.agent.registered).toBe(false);
    const notReady = await get(r, '/health/ready');
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.body)).toEqual({ ready: false, reason: 'not registered with the master' });
    let metrics = await get(r, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.body).toMatch(/^berth_agent_registered 0$/m);

    master.election.elect();
    await master.daemon.settled();
    await waitFor(() => r.agent.registered, 'the agent to register with the elected master');

    const ready = await get(r, '/health/ready');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ ready: true });
    metrics = await get(r, '/metrics');
    expect(metrics.body).toMatch(/^berth_agent_registered 1$/m);
    expect(metrics.body).toMatch(/^berth_agent_pending_status_updates 0$/m);
    expect(metrics.body).toContain('berth_agent_tasks{state="TASK_RUNNING"} 0');
    for (const name of ['berth_agent_tasks_launched_total', 'berth_agent_status_updates_sent_total', 'berth_agent_task_launch_seconds', 'berth_agent_master_reconnects_total']) {
      expect(metrics.body).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(metrics.body).toMatch(/^berth_agent_process_resident_memory_bytes [1-9]\d*$/m);
    expect(metrics.body.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('berth_agent_'))).toEqual([]);
    expect((await get(r, '/leader')).status).toBe(404);

    // Stopping closes the HTTP port (and is idempotent).
    running.splice(running.indexOf(r), 1);
    await Promise.all([r.stop(), r.stop()]);
    await expect(fetch(`http://${r.http.address}/health/live`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    expect(shutdowns).toBe(0);
  });

  it('fails to start, naming the address, when the HTTP port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve, reject) => taken.once('error', reject).listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      await expect(start({ httpPort: String(port) })).rejects.toThrow(`cannot listen on 127.0.0.1:${port}`);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
