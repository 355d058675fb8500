import { register as globalRegistry } from 'prom-client';
import { AGENT_TASK_METRIC_STATES, AgentMetrics, type AgentStatsSource } from '../../../src/agent/metrics';

/** A stats source whose answers the test changes, counting how often it is read. */
function fakeStats() {
  const state = { tasks: {} as Record<string, number>, pending: 0, registered: false, containers: 0, reads: 0 };
  const source: AgentStatsSource = {
    tasksByState: () => (state.reads++, state.tasks),
    pendingStatusUpdates: () => state.pending,
    registered: () => state.registered,
    containers: () => state.containers,
  };
  return { state, source };
}

describe('AgentMetrics', () => {
  test('the exposition names every agent metric, all prefixed berth_agent_, process RSS included', async () => {
    const m = new AgentMetrics();
    const text = await m.exposition();
    for (const name of [
      'berth_agent_tasks', 'berth_agent_pending_status_updates', 'berth_agent_registered', 'berth_agent_containers',
      'berth_agent_tasks_launched_total', 'berth_agent_status_updates_sent_total', 'berth_agent_container_launch_failures_total',
      'berth_agent_health_check_failures_total', 'berth_agent_master_reconnects_total', 'berth_agent_task_launch_seconds',
      'berth_agent_process_resident_memory_bytes', 'berth_agent_process_cpu_seconds_total', 'berth_agent_nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('berth_agent_'))).toEqual([]);
    expect(text).toMatch(/^berth_agent_process_resident_memory_bytes [1-9]\d*$/m);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  test('without a stats source the gauges are 0, every task state exported', async () => {
    const text = await new AgentMetrics({ processMetrics: false }).exposition();
    expect(text).toMatch(/^berth_agent_registered 0$/m);
    expect(text).toMatch(/^berth_agent_pending_status_updates 0$/m);
    expect(text).toMatch(/^berth_agent_containers 0$/m);
    for (const state of AGENT_TASK_METRIC_STATES) expect(text).toContain(`berth_agent_tasks{state="${state}"} 0`);
    expect(text).not.toContain('TASK_STATE_UNSPECIFIED');
  });

  test('the stats source is read at scrape time, every scrape', async () => {
    const { state, source } = fakeStats();
    const m = new AgentMetrics({ processMetrics: false, stats: source });
    expect(state.reads).toBe(0);
    Object.assign(state, { tasks: { TASK_RUNNING: 3, TASK_STARTING: 1 }, pending: 2, registered: true, containers: 4 });
    let text = await m.exposition();
    expect(state.reads).toBe(1);
    expect(text).toContain('berth_agent_tasks{state="TASK_RUNNING"} 3');
    expect(text).toContain('berth_agent_tasks{state="TASK_STARTING"} 1');
    expect(text).toContain('berth_agent_tasks{state="TASK_FINISHED"} 0');
    expect(text).toMatch(/^berth_agent_pending_status_updates 2$/m);
    expect(text).toMatch(/^berth_agent_registered 1$/m);
    expect(text).toMatch(/^berth_agent_containers 4$/m);

    // Set whole on each scrape: a state that emptied goes back to 0.
    Object.assign(state, { tasks: { TASK_FINISHED: 1 }, pending: 0, registered: false, containers: 0 });
    text = await m.exposition();
    expect(state.reads).toBe(2);
    expect(text).toContain('berth_agent_tasks{state="TASK_RUNNING"} 0');
    expect(text).toContain('berth_agent_tasks{state="TASK_FINISHED"} 1');
    expect(text).toMatch(/^berth_agent_registered 0$/m);
  });

  test('a source given later is used; a throwing source leaves the last values and the scrape succeeds', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    const { state, source } = fakeStats();
    m.setStatsSource(source);
    Object.assign(state, { registered: true, pending: 5 });
    expect(await m.exposition()).toMatch(/^berth_agent_registered 1$/m);
    m.setStatsSource({
      ...source,
      registered: () => {
        throw new Error('boom');
      },
      pendingStatusUpdates: () => 7,
    });
    const text = await m.exposition();
    expect(text).toMatch(/^berth_agent_registered 1$/m);
    expect(text).toMatch(/^berth_agent_pending_status_updates 7$/m);
  });

  test('event counters and the launch latency histogram, as the agent calls them', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    m.taskLaunched('process');
    m.taskLaunched('process');
    m.taskLaunched('docker');
    m.statusUpdateSent('TASK_RUNNING');
    m.statusUpdateSent('TASK_FINISHED');
    m.statusUpdateSent('TASK_RUNNING');
    m.containerLaunchFailed();
    m.healthCheckFailed();
    m.healthCheckFailed();
    m.masterReconnect();
    m.launchLatency(40); // 0.04 s
    m.launchLatency(12_000); // 12 s
    m.launchLatency(-1); // ignored (a clock step backwards)
    m.launchLatency(Number.NaN); // ignored
    const text = await m.exposition();
    expect(text).toContain('berth_agent_tasks_launched_total{containerizer="process"} 2');
    expect(text).toContain('berth_agent_tasks_launched_total{containerizer="docker"} 1');
    expect(text).toContain('berth_agent_status_updates_sent_total{state="TASK_RUNNING"} 2');
    expect(text).toContain('berth_agent_status_updates_sent_total{state="TASK_FINISHED"} 1');
    expect(text).toMatch(/^berth_agent_container_launch_failures_total 1$/m);
    expect(text).toMatch(/^berth_agent_health_check_failures_total 2$/m);
    expect(text).toMatch(/^berth_agent_master_reconnects_total 1$/m);
    expect(text).toMatch(/^berth_agent_task_launch_seconds_count 2$/m);
    expect(text).toMatch(/^berth_agent_task_launch_seconds_sum 12\.04$/m);
    expect(text).toContain('berth_agent_task_launch_seconds_bucket{le="0.01"} 0');
    expect(text).toContain('berth_agent_task_launch_seconds_bucket{le="0.05"} 1');
    expect(text).toContain('berth_agent_task_launch_seconds_bucket{le="10"} 1');
    expect(text).toContain('berth_agent_task_launch_seconds_bucket{le="30"} 2');
  });

  test('two agents in one process do not collide, and nothing lands in the global registry', async () => {
    const a = new AgentMetrics();
    const b = new AgentMetrics();
    a.masterReconnect();
    expect(await a.exposition()).toMatch(/^berth_agent_master_reconnects_total 1$/m);
    expect(await b.exposition()).toMatch(/^berth_agent_master_reconnects_total 0$/m);
    expect(await globalRegistry.metrics()).not.toContain('berth_agent_');
  });
});
