import { register as globalRegistry } from 'prom-client';
import { MasterMetrics, metricKey, TASK_METRIC_STATES } from '../../../src/master/metrics';

describe('MasterMetrics', () => {
  test('the exposition names every master metric, all prefixed berth_', async () => {
    const m = new MasterMetrics();
    const text = await m.exposition();
    for (const name of [
      'berth_agents', 'berth_frameworks', 'berth_tasks', 'berth_outstanding_offers', 'berth_reconciliations_pending', 'berth_elected', 'berth_registry_up',
      'berth_offers_sent_total', 'berth_offers_declined_total', 'berth_offers_rescinded_total', 'berth_tasks_launched_total',
      'berth_status_updates_total', 'berth_invalid_calls_total', 'berth_rejected_operations_total', 'berth_registry_writes_total',
      'berth_allocation_cycle_seconds', 'berth_registry_write_seconds', 'berth_offer_to_launch_seconds',
      'berth_process_cpu_seconds_total', 'berth_nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('berth_'))).toEqual([]);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  test('population gauges export every state, missing ones at 0', async () => {
    const m = new MasterMetrics({ processMetrics: false });
    m.setAgentCounts({ registered: 3, unreachable: 1 });
    m.setFrameworkCounts({ connected: 2 });
    m.setTaskCounts({ TASK_RUNNING: 7 });
    const text = await m.exposition();
    expect(text).toContain('berth_agents{state="registered"} 3');
    expect(text).toContain('berth_agents{state="unreachable"} 1');
    expect(text).toContain('berth_agents{state="gone"} 0');
    expect(text).toContain('berth_frameworks{state="inactive"} 0');
    expect(text).toContain('berth_tasks{state="TASK_RUNNING"} 7');
    expect(text).not.toContain('TASK_STATE_UNSPECIFIED');
    expect(TASK_METRIC_STATES).toContain('TASK_GONE_BY_OPERATOR');

    m.setAgentCounts({ registered: 2 }); // set whole: the unreachable one is gone from the count
    expect(await m.exposition()).toContain('berth_agents{state="unreachable"} 0');
  });

  test('typed counters and histograms, as the master calls them', async () => {
    const m = new MasterMetrics({ processMetrics: false });
    m.invalidCalls.inc({ call: 'ACCEPT', reason: 'UNKNOWN_OFFER' });
    m.invalidCalls.inc({ call: 'ACCEPT', reason: 'UNKNOWN_OFFER' });
    m.offersSent.inc(5);
    m.offersRescinded.inc({ reason: 'agent_removed' });
    m.statusUpdates.inc({ state: 'TASK_RUNNING' });
    m.registryWrites.inc({ result: 'fenced' });
    m.allocationCycle.observe(0.003);
    m.elected.set(1);
    const text = await m.exposition();
    expect(text).toContain('berth_invalid_calls_total{call="ACCEPT",reason="UNKNOWN_OFFER"} 2');
    expect(text).toContain('berth_offers_sent_total 5');
    expect(text).toContain('berth_offers_rescinded_total{reason="agent_removed"} 1');
    expect(text).toContain('berth_registry_writes_total{result="fenced"} 1');
    expect(text).toContain('berth_allocation_cycle_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('berth_allocation_cycle_seconds_count 1');
    expect(text).toContain('berth_elected 1');
  });

  test('snapshot: flat samples with labels, histograms as count and sum, filtered by prefix', async () => {
    const m = new MasterMetrics({ processMetrics: false });
    m.setTaskCounts({ TASK_RUNNING: 4 });
    m.registryWrite.observe(0.01);
    m.registryWrite.observe(0.03);
    const all = await m.snapshot();
    expect(all).toContainEqual({ name: 'berth_tasks', value: 4, labels: { state: 'TASK_RUNNING' } });
    expect(all).toContainEqual({ name: 'berth_registry_write_seconds_count', value: 2, labels: {} });
    expect(all.find((s) => s.name === 'berth_registry_write_seconds_sum')?.value).toBeCloseTo(0.04);
    expect(all.some((s) => s.name.endsWith('_bucket'))).toBe(false);
    const offers = await m.snapshot('berth_offers_');
    expect(offers.length).toBeGreaterThan(0);
    expect(offers.every((s) => s.name.startsWith('berth_offers_'))).toBe(true);
    expect(metricKey({ name: 'berth_x', value: 1, labels: { reason: 'a', call: 'B' } })).toBe('berth_x{call="B",reason="a"}');
    expect(metricKey({ name: 'berth_y', value: 1, labels: {} })).toBe('berth_y');
  });

  test('beforeCollect hooks run at scrape time; a throwing hook does not fail the scrape', async () => {
    const m = new MasterMetrics({ processMetrics: false });
    let agents = 1;
    m.beforeCollect(() => m.setAgentCounts({ registered: agents }));
    m.beforeCollect(() => { throw new Error('broken'); });
    expect(await m.exposition()).toContain('berth_agents{state="registered"} 1');
    agents = 9;
    expect((await m.snapshot('berth_agents')).find((s) => s.labels['state'] === 'registered')?.value).toBe(9);
  });

  test('each instance has its own registry; the global one is untouched', async () => {
    const a = new MasterMetrics({ processMetrics: false });
    const b = new MasterMetrics({ processMetrics: false });
    a.tasksLaunched.inc(3);
    expect(await b.exposition()).toContain('berth_tasks_launched_total 0');
    expect(await globalRegistry.metrics()).not.toContain('berth_');
  });
});
