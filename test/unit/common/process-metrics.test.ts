import { Registry } from 'prom-client';
import { collectProcessMetrics, EVENT_LOOP_MONITORING_PRECISION_MS } from '../../../src/common/process-metrics';

// The module object prom-client calls into (an `import * as` namespace would be a copy).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const perfHooks = require('perf_hooks') as typeof import('node:perf_hooks');

describe('collectProcessMetrics', () => {
  test('samples the event-loop delay every 100 ms (not prom-client\'s 10 ms) and exports the lag percentiles under the prefix', async () => {
    const monitor = jest.spyOn(perfHooks, 'monitorEventLoopDelay');
    try {
      const registry = new Registry();
      collectProcessMetrics(registry, 'idle_test_');
      expect(EVENT_LOOP_MONITORING_PRECISION_MS).toBe(100);
      expect(monitor).toHaveBeenCalledTimes(1);
      expect(monitor).toHaveBeenCalledWith({ resolution: 100 });
      const text = await registry.metrics();
      for (const name of ['idle_test_nodejs_eventloop_lag_p99_seconds', 'idle_test_nodejs_eventloop_lag_max_seconds', 'idle_test_process_resident_memory_bytes']) {
        expect(text).toMatch(new RegExp(`^# TYPE ${name} gauge`, 'm'));
      }
    } finally {
      monitor.mockRestore();
    }
  });
});
