/**
 * A plugin's own metrics (`context.metrics`): counters, gauges and histograms that the framework
 * host exports at its `/metrics`, each named `berth_plugin_<plugin>_<name>` (a dash in the plugin's
 * name becomes `_`), so that two plugins can never collide. Asking again for a metric of the same
 * name, kind and labels returns the same one: a plugin restarted by the host (or re-created) goes on
 * counting where it left off, as Prometheus expects of a counter.
 *
 *     const runs = context.metrics.counter('runs_total', 'Runs started, by outcome.', ['outcome']);
 *     runs.inc(1, { outcome: 'success' });
 *     const lag = context.metrics.histogram('fire_lag_seconds', 'Time from a run's instant to its start.');
 *     lag.observe(0.012);
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type MetricLabels = Readonly<Record<string, string | number>>;

export interface PluginCounter {
  /** Adds `value` (≥ 0, default 1). */
  inc(value?: number, labels?: MetricLabels): void;
}

export interface PluginGauge {
  set(value: number, labels?: MetricLabels): void;
  inc(value?: number, labels?: MetricLabels): void;
  dec(value?: number, labels?: MetricLabels): void;
}

export interface PluginHistogram {
  /** Records one observation (seconds, for a `_seconds` histogram). */
  observe(value: number, labels?: MetricLabels): void;
}

export interface PluginMetrics {
  /** A counter; its name ends in `_total`. */
  counter(name: string, help: string, labelNames?: readonly string[]): PluginCounter;
  gauge(name: string, help: string, labelNames?: readonly string[]): PluginGauge;
  /** A histogram; `buckets` are upper bounds (default: 5 ms … 10 s). */
  histogram(name: string, help: string, options?: { readonly labelNames?: readonly string[]; readonly buckets?: readonly number[] }): PluginHistogram;
}

const NAME = /^[a-z][a-z0-9_]*$/;
const LABEL = /^[a-z_][a-z0-9_]*$/;

type Kind = 'counter' | 'gauge' | 'histogram';
type Made = { readonly kind: Kind; readonly labels: string; readonly metric: Counter<string> | Gauge<string> | Histogram<string> };

/**
 * The metrics of one plugin, in a registry shared with the host's other plugins (names cannot
 * collide: each carries the plugin's prefix). Metrics once made stay registered for the process.
 */
export class PluginMetricsRegistry implements PluginMetrics {
  private readonly prefix: string;
  private readonly made = new Map<string, Made>();

  /** @param registry where the metrics are registered (the host's, served at /metrics). @default a registry of its own */
  constructor(
    plugin: string,
    readonly registry: Registry = new Registry(),
  ) {
    this.prefix = `berth_plugin_${plugin.replace(/-/g, '_')}_`;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): PluginCounter {
    if (!name.endsWith('_total')) throw new Error(`metrics.counter: name must end in "_total", got "${name}"`);
    const c = this.make('counter', name, help, labelNames, (o) => new Counter(o)) as Counter<string>;
    return { inc: (value = 1, labels) => (labels === undefined ? c.inc(value) : c.inc(labels, value)) };
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): PluginGauge {
    const g = this.make('gauge', name, help, labelNames, (o) => new Gauge(o)) as Gauge<string>;
    return {
      set: (value, labels) => (labels === undefined ? g.set(value) : g.set(labels, value)),
      inc: (value = 1, labels) => (labels === undefined ? g.inc(value) : g.inc(labels, value)),
      dec: (value = 1, labels) => (labels === undefined ? g.dec(value) : g.dec(labels, value)),
    };
  }

  histogram(name: string, help: string, options: { readonly labelNames?: readonly string[]; readonly buckets?: readonly number[] } = {}): PluginHistogram {
    const buckets = options.buckets === undefined ? undefined : [...options.buckets];
    if (buckets !== undefined && (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!)))) {
      throw new Error(`metrics.histogram ${name}: buckets must be increasing finite numbers, got ${JSON.stringify(options.buckets)}`);
    }
    const h = this.make('histogram', name, help, options.labelNames ?? [], (o) => new Histogram({ ...o, ...(buckets !== undefined ? { buckets } : {}) })) as Histogram<string>;
    return { observe: (value, labels) => (labels === undefined ? h.observe(value) : h.observe(labels, value)) };
  }

  private make(kind: Kind, name: string, help: string, labelNames: readonly string[], create: (o: { name: string; help: string; labelNames: string[]; registers: Registry[] }) => Made['metric']): Made['metric'] {
    if (help.trim() === '') throw new Error(`metrics.${kind} ${name}: help must say what it counts`);
    if (!NAME.test(name)) throw new Error(`metrics.${kind}: name must be lowercase letters, digits and "_" (starting with a letter), got "${name}"`);
    for (const l of labelNames) {
      if (!LABEL.test(l)) throw new Error(`metrics.${kind} ${name}: label name must be lowercase letters, digits and "_", got "${l}"`);
    }
    const labels = [...labelNames].join(',');
    const existing = this.made.get(name);
    if (existing !== undefined) {
      if (existing.kind !== kind || existing.labels !== labels) {
        throw new Error(`metrics.${kind} ${name}: already made as a ${existing.kind} with labels [${existing.labels}]; a metric keeps its kind and labels`);
      }
      return existing.metric;
    }
    const metric = create({ name: this.prefix + name, help, labelNames: [...labelNames], registers: [this.registry] });
    this.made.set(name, { kind, labels, metric });
    return metric;
  }
}
