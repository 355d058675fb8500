/**
 * The `services` framework plugin: Marathon-like long-running apps on Berth.
 *
 * The framework host loads this module and calls {@link createFramework} with the plugin's context;
 * options come from `frameworks.services.options` (see options.ts). The returned framework also
 * serves `berth.v1.Services` (see proto/berth/v1/services.proto) through `grpcServices()`.
 */
import type { PluginFactory } from '../sdk/framework';
import { resolveOptions } from './options';
import { ServicesScheduler } from './scheduler';

export const createFramework: PluginFactory = (context) => new ServicesScheduler(context, resolveOptions(context.options));

export { ServicesScheduler, type AppView, type ServicesDeps } from './scheduler';
export { resolveOptions, type ServicesOptions } from './options';
export {
  parseAppDefinition, parseAppDefinitionText, normalizeAppId, appKey, appIdOfTask,
  type AppDefinition, type DefinitionOptions, type HealthCheckDefinition, type ReadinessCheckDefinition,
} from './app-definition';
export { createServicesApi, servicesGrpcHandlers, servicesServiceBinding, servicesDefinition, toGrpcStatus, type ServicesApi } from './api';
export { ServicesError, type ServicesErrorCode } from './errors';
export { buildTaskInfo, LABEL_APP_ID, LABEL_APP_VERSION } from './task-builder';
export type { AppRecord, AppVersion, DeploymentRecord, DeploymentKind, DeploymentState, TaskRecord, TaskFailure } from './model';
export type { ReadinessProbe, ReadinessTarget, ReadinessResult } from './readiness';
export type { RejectionSummary } from './rejections';
