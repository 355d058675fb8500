/**
 * Berth's framework SDK — the package's public API for framework authors (`require('berth')`).
 *
 * A plugin exports `createFramework(context)` returning a {@link Framework}; the framework host
 * (`berth frameworks --plugin ./my-plugin.js`, or `berth dev --plugin …`) runs it with its own
 * {@link SchedulerDriver}. A standalone program can run a driver itself. See
 * docs/writing-a-framework.md and examples/hello-framework.
 */
export type { FiltersArg, Framework, FrameworkContext, OfferFilters, PluginFactory, Registration, SchedulerApi } from './framework';
export { SchedulerDriver, FRAMEWORK_ID_KEY, type SchedulerDriverOptions } from './driver';
export { AccessDeniedError, callAccess, type ApiAction, type CallAccess } from './access';
export { FileKeyValueStore, MemoryKeyValueStore, NatsKeyValueStore, type KeyValueStore } from './store';
export { fitTask, offerResources, offerRole, type Fit, type ShortResource, type TaskShape } from './offer-match';
export { gangDemand, planGang, type GangDeclaration, type GangLaunch, type GangOffer, type GangSpreadRule, type GangTaskBuilder } from './gangs';
export { PluginMetricsRegistry, type MetricLabels, type PluginCounter, type PluginGauge, type PluginHistogram, type PluginMetrics } from './metrics';
export { SystemClock, FakeClock, type Clock } from '../../common/clock';
export { Resources } from '../../common/resources';
