/**
 * A plugin's own metrics: named under the plugin's prefix, the same metric again when asked again
 * (a restarted plugin goes on counting), and bad names, labels or buckets refused with what is wrong.
 */
import { PluginMetricsRegistry } from '../../../../src/frameworks/sdk/metrics';

describe('PluginMetricsRegistry', () => {
  test('counters, gauges and histograms are exported under berth_plugin_<plugin>_, and asked again are the same', async () => {
    const m = new PluginMetricsRegistry('my-plugin');
    m.counter('runs_total', 'Runs.', ['outcome']).inc(2, { outcome: 'ok' });
    m.counter('runs_total', 'Runs.', ['outcome']).inc(1, { outcome: 'ok' });
    m.gauge('queued', 'Queued runs.').set(7);
    m.histogram('lag_seconds', 'Lag.', { buckets: [0.1, 1] }).observe(0.5);
    const text = await m.registry.metrics();
    expect(text).toContain('berth_plugin_my_plugin_runs_total{outcome="ok"} 3');
    expect(text).toContain('berth_plugin_my_plugin_queued 7');
    expect(text).toContain('berth_plugin_my_plugin_lag_seconds_bucket{le="1"} 1');
  });

  test('refuses what would make a bad or ambiguous metric', () => {
    const m = new PluginMetricsRegistry('p');
    expect(() => m.counter('runs', 'Runs.')).toThrow('name must end in "_total", got "runs"');
    expect(() => m.gauge('Bad-Name', 'x')).toThrow('got "Bad-Name"');
    expect(() => m.gauge('ok', 'x', ['Bad'])).toThrow('label name must be lowercase letters, digits and "_", got "Bad"');
    expect(() => m.gauge('ok', ' ')).toThrow('help must say what it counts');
    expect(() => m.histogram('h_seconds', 'x', { buckets: [1, 0.5] })).toThrow('buckets must be increasing finite numbers');
    m.gauge('depth', 'Depth.');
    expect(() => m.counter('depth_total', 'x')).not.toThrow();
    expect(() => m.gauge('depth', 'Depth.', ['queue'])).toThrow('already made as a gauge with labels []');
  });
});
