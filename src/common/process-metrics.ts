/**
 * prom-client's process metrics (CPU, memory, GC, event-loop lag, …) for a daemon's /metrics.
 *
 * prom-client measures the event-loop delay with a libuv timer that fires every
 * `eventLoopMonitoringPrecision` ms, 10 by default: a hundred wake-ups a second, ~0.6 % of a core
 * per process with nothing else to do — all of an idle master's or agent's CPU (bench:idle). Every
 * 100 ms costs a tenth of that; a stall longer than 100 ms still delays a tick and is recorded, a
 * shorter one is caught in proportion to its length — enough for the lag percentiles an operator
 * alerts on.
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

/** How often the event-loop delay is sampled, in ms. */
export const EVENT_LOOP_MONITORING_PRECISION_MS = 100;

/** Registers the process metrics in `registry`, each name starting with `prefix`. */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS });
}
