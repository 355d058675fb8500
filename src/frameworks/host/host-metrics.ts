/**
 * The framework host's Prometheus metrics, served at its `/metrics`: the host's own
 * (`berth_frameworks_*`: whether each plugin runs, its restarts and handler failures, and the process
 * metrics) and every plugin's own (`context.metrics`, named `berth_plugin_<plugin>_*`; see
 * ../sdk/metrics.ts), in one registry of the host's (never prom-client's global one).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsExposition } from '../../common/http-server';
import { collectProcessMetrics } from '../../common/process-metrics';
import { PluginMetricsRegistry } from '../sdk/metrics';

const PREFIX = 'berth_frameworks_';

export class FrameworkHostMetrics implements MetricsExposition {
  readonly registry = new Registry();
  /** `berth_frameworks_plugin_up{plugin}`: 1 while the plugin's framework runs, 0 while it is restarting or stopped. */
  readonly pluginUp: Gauge<'plugin'>;
  /** `berth_frameworks_plugin_restarts_total{plugin}`: restarts of a failing plugin. */
  readonly pluginRestarts: Counter<'plugin'>;
  /** `berth_frameworks_handler_failures_total{plugin}`: event handlers of a plugin that threw. */
  readonly handlerFailures: Counter<'plugin'>;
  private readonly plugins = new Map<string, PluginMetricsRegistry>();

  /** @param options.processMetrics also export the process metrics (CPU, memory, event loop, GC) as `berth_frameworks_*`. @default true */
  constructor(options: { readonly processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.pluginUp = new Gauge({ name: `${PREFIX}plugin_up`, help: '1 while the plugin runs, 0 while it is restarting or stopped.', labelNames: ['plugin'], registers });
    this.pluginRestarts = new Counter({ name: `${PREFIX}plugin_restarts_total`, help: 'Restarts of a failing plugin.', labelNames: ['plugin'], registers });
    this.handlerFailures = new Counter({ name: `${PREFIX}handler_failures_total`, help: 'Event handlers of a plugin that threw.', labelNames: ['plugin'], registers });
    if (options.processMetrics ?? true) collectProcessMetrics(this.registry, PREFIX);
  }

  /** The plugin's own metrics (the same object for each instance of the plugin: counts go on across restarts). */
  forPlugin(plugin: string): PluginMetricsRegistry {
    let m = this.plugins.get(plugin);
    if (m === undefined) {
      m = new PluginMetricsRegistry(plugin, this.registry);
      this.plugins.set(plugin, m);
      this.pluginUp.set({ plugin }, 0);
      this.pluginRestarts.inc({ plugin }, 0);
      this.handlerFailures.inc({ plugin }, 0);
    }
    return m;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }
}
