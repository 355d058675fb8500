/**
 * `berth.v1.Services`: the unary API of the services framework. {@link createServicesApi} gives the
 * calls as plain async functions (request message in, response message out, errors thrown);
 * {@link servicesGrpcHandlers} wraps them as grpc-js handlers, mapping errors to statuses here and
 * only here: ValidationError → INVALID_ARGUMENT, ServicesError → the status of its code, anything
 * else → INTERNAL.
 */
import { AccessDeniedError, ANY_CALLER, callAccess, type CallAccess } from '../sdk/access';
import * as grpc from '@grpc/grpc-js';
import { isValidationError, ValidationError } from '../../common/wire/problems';
import { loadBerthProto, type GrpcServiceBinding } from '../../common/rpc/proto';
import type { ProtoGrpcType as ServicesProtoGrpcType } from '../../generated/services';
import type { CancelDeploymentRequest } from '../../generated/berth/v1/CancelDeploymentRequest';
import type { CancelDeploymentResponse } from '../../generated/berth/v1/CancelDeploymentResponse';
import type { DeleteAppRequest } from '../../generated/berth/v1/DeleteAppRequest';
import type { DeleteAppResponse } from '../../generated/berth/v1/DeleteAppResponse';
import type { GetAppRequest } from '../../generated/berth/v1/GetAppRequest';
import type { GetAppResponse } from '../../generated/berth/v1/GetAppResponse';
import type { ListAppsRequest } from '../../generated/berth/v1/ListAppsRequest';
import type { ListAppsResponse } from '../../generated/berth/v1/ListAppsResponse';
import type { ListDeploymentsRequest } from '../../generated/berth/v1/ListDeploymentsRequest';
import type { ListDeploymentsResponse } from '../../generated/berth/v1/ListDeploymentsResponse';
import type { PutAppRequest } from '../../generated/berth/v1/PutAppRequest';
import type { PutAppResponse } from '../../generated/berth/v1/PutAppResponse';
import type { RestartAppRequest } from '../../generated/berth/v1/RestartAppRequest';
import type { RestartAppResponse } from '../../generated/berth/v1/RestartAppResponse';
import type { ScaleAppRequest } from '../../generated/berth/v1/ScaleAppRequest';
import type { ScaleAppResponse } from '../../generated/berth/v1/ScaleAppResponse';
import type { ServicesDefinition } from '../../generated/berth/v1/Services';
import { instancesProblem, normalizeAppId, parseAppDefinition, parseAppDefinitionText } from './app-definition';
import { ServicesError } from './errors';
import type { AppDefinition } from './app-definition';
import type { DeploymentRecord } from './model';
import type { ServicesOptions } from './options';
import type { AppView } from './views';
import { appDefinitionFromWire, appInfoToWire, deploymentToWire } from './wire';

/** What the Services API asks of the services framework (ServicesScheduler implements it). */
export interface ServicesBackend {
  readonly options: Pick<ServicesOptions, 'roles'>;
  putApp(def: AppDefinition, opts: { force?: boolean }): Promise<{ deploymentId: string; created: boolean }>;
  scaleApp(appId: string, instances: number, opts: { force?: boolean }): Promise<{ deploymentId: string }>;
  restartApp(appId: string, opts: { force?: boolean }): Promise<{ deploymentId: string }>;
  deleteApp(appId: string): Promise<{ deploymentId: string }>;
  cancelDeployment(deploymentId: string): Promise<{ rollbackDeploymentId: string }>;
  getApp(appId: string): Promise<AppView>;
  listApps(prefix: string): Promise<AppView[]>;
  listDeployments(opts: { appId?: string; includeFinished?: boolean }): Promise<DeploymentRecord[]>;
}

/** The Services calls, as functions. */
export interface ServicesApi {
  PutApp(req: PutAppRequest, access?: CallAccess): Promise<PutAppResponse>;
  GetApp(req: GetAppRequest, access?: CallAccess): Promise<GetAppResponse>;
  ListApps(req: ListAppsRequest, access?: CallAccess): Promise<ListAppsResponse>;
  DeleteApp(req: DeleteAppRequest, access?: CallAccess): Promise<DeleteAppResponse>;
  ScaleApp(req: ScaleAppRequest, access?: CallAccess): Promise<ScaleAppResponse>;
  RestartApp(req: RestartAppRequest, access?: CallAccess): Promise<RestartAppResponse>;
  ListDeployments(req: ListDeploymentsRequest, access?: CallAccess): Promise<ListDeploymentsResponse>;
  CancelDeployment(req: CancelDeploymentRequest, access?: CallAccess): Promise<CancelDeploymentResponse>;
}

function appId(raw: string | undefined, field = 'app_id'): string {
  if (raw === undefined || raw === '') throw ValidationError.of(field, 'is required');
  const n = normalizeAppId(raw);
  if (!n.ok) throw ValidationError.of(field, n.problem);
  return n.id;
}

export function createServicesApi(fw: ServicesBackend): ServicesApi {
  const roles = fw.options.roles;
  return {
    async PutApp(req, access = ANY_CALLER) {
      const hasText = typeof req.definition === 'string' && req.definition !== '';
      const hasApp = req.app !== undefined && req.app !== null;
      if (hasText === hasApp) throw ValidationError.of('source', `exactly one of definition (JSON/YAML text) and app must be set, got ${hasText ? 'both' : 'neither'}`);
      const def = hasText ? parseAppDefinitionText(req.definition!, { roles }) : parseAppDefinition(appDefinitionFromWire(req.app!), { roles });
      access.require('manage_app', def.id);
      const r = await fw.putApp(def, { force: req.force === true });
      return { deployment_id: r.deploymentId, created: r.created, app_id: def.id };
    },
    async GetApp(req, access = ANY_CALLER) {
      const id = appId(req.app_id);
      access.require('view_app', id);
      return { app: appInfoToWire(await fw.getApp(id)) };
    },
    async ListApps(req, access = ANY_CALLER) {
      const prefix = req.prefix === undefined || req.prefix === '' || req.prefix === '/' ? '' : appId(req.prefix, 'prefix');
      return { apps: (await fw.listApps(prefix)).filter((a) => access.may('view_app', a.id)).map(appInfoToWire) };
    },
    async DeleteApp(req, access = ANY_CALLER) {
      const id = appId(req.app_id);
      access.require('manage_app', id);
      return { deployment_id: (await fw.deleteApp(id)).deploymentId };
    },
    async ScaleApp(req, access = ANY_CALLER) {
      const n = req.instances ?? 0;
      const problem = instancesProblem(n);
      if (problem !== undefined) throw ValidationError.of('instances', problem);
      const id = appId(req.app_id);
      access.require('manage_app', id);
      return { deployment_id: (await fw.scaleApp(id, n, { force: req.force === true })).deploymentId };
    },
    async RestartApp(req, access = ANY_CALLER) {
      const id = appId(req.app_id);
      access.require('manage_app', id);
      return { deployment_id: (await fw.restartApp(id, { force: req.force === true })).deploymentId };
    },
    async ListDeployments(req, access = ANY_CALLER) {
      const filter = req.app_id === undefined || req.app_id === '' ? undefined : appId(req.app_id);
      const list = await fw.listDeployments({ ...(filter === undefined ? {} : { appId: filter }), includeFinished: req.include_finished === true });
      return { deployments: list.filter((d) => access.may('view_app', d.appId)).map(deploymentToWire) };
    },
    async CancelDeployment(req, access = ANY_CALLER) {
      if (!req.deployment_id) throw ValidationError.of('deployment_id', 'is required');
      const target = (await fw.listDeployments({ includeFinished: false })).find((d) => d.id === req.deployment_id);
      if (target !== undefined) access.require('manage_app', target.appId);
      return { rollback_deployment_id: (await fw.cancelDeployment(req.deployment_id)).rollbackDeploymentId };
    },
  };
}

const STATUS: Record<ServicesError['code'], grpc.status> = {
  NOT_FOUND: grpc.status.NOT_FOUND,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
};

/** The gRPC status of an error thrown by an API call. */
export function toGrpcStatus(err: unknown): Partial<grpc.StatusObject> {
  if (isValidationError(err)) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof ServicesError) return { code: STATUS[err.code], details: err.message };
  if (err instanceof AccessDeniedError) return { code: err.grpcCode, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/** grpc-js unary handlers for every call of `api`. */
export function servicesGrpcHandlers(api: ServicesApi): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(api) as (keyof ServicesApi)[]) {
    const call = api[name] as (req: unknown, access: CallAccess) => Promise<unknown>;
    handlers[name] = ((c: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      call(c.request, callAccess(c)).then((res) => callback(null, res), (err: unknown) => callback(toGrpcStatus(err)));
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return handlers;
}

/** The `berth.v1.Services` service definition (loaded with the rest of the contract). */
export function servicesDefinition(): ServicesDefinition {
  return (loadBerthProto() as unknown as ServicesProtoGrpcType).berth.v1.Services.service;
}

/** `api` bound to `berth.v1.Services`, for the framework host's gRPC server. */
export function servicesServiceBinding(api: ServicesApi): GrpcServiceBinding {
  return { definition: servicesDefinition(), implementation: servicesGrpcHandlers(api) };
}
