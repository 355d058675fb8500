/**
 * Who is calling a plugin's gRPC API, and what they may do. The framework host authenticates every
 * call to the APIs it serves (the same bearer tokens or client certificates as the master) and
 * attaches the caller's access to the call; a plugin's handler asks it before it acts:
 *
 *     PutApp: (call, callback) => { callAccess(call).require('manage_app', appId); … }
 *
 * The ACL actions are `view_app`/`manage_app` (services) and `view_job`/`manage_job` (jobs), with the
 * app or job id as the object, so `{ principal: shop, action: manage_app, objects: ['/shop/*'] }`
 * confines a team to its own ids. Viewing is allowed unless a rule denies it; managing needs a rule.
 * A host running without authentication attaches nothing: everything is allowed.
 */
import * as grpc from '@grpc/grpc-js';
import { isValidationError, ValidationError } from '../../common/wire/problems';

/** The actions a plugin API authorizes (ACL action names). */
export type ApiAction = 'view_app' | 'manage_app' | 'view_job' | 'manage_job';

/** The caller of one plugin API call. */
export interface CallAccess {
  /** The authenticated principal; undefined when the host runs without authentication. */
  readonly principal: string | undefined;
  /** Whether the caller may do `action` on `object` (an app or job id). */
  may(action: ApiAction, object?: string): boolean;
  /** @throws AccessDeniedError unless {@link may}. */
  require(action: ApiAction, object?: string): void;
}

/** A call refused by the ACLs; plugins map it to PERMISSION_DENIED. */
export class AccessDeniedError extends Error {
  readonly grpcCode = grpc.status.PERMISSION_DENIED;
}

const attached = new WeakMap<object, CallAccess>();

/** The access of a call made without authentication (a host with `auth.enabled: false`, tests): everything. */
export const ANY_CALLER: CallAccess = { principal: undefined, may: () => true, require: () => undefined };

/** What the caller of `call` may do (everything when the host does not authenticate). */
export function callAccess(call: object): CallAccess {
  return attached.get(call) ?? ANY_CALLER;
}

/** The framework host attaches the caller's access before the plugin's handler runs. */
export function attachCallAccess(call: object, principal: string, may: (action: ApiAction, object?: string) => boolean): void {
  attached.set(call, {
    principal,
    may,
    require(action, object) {
      if (!may(action, object)) throw new AccessDeniedError(`principal "${principal}" may not ${action}${object === undefined ? '' : ` on "${object}"`}`);
    },
  });
}

/**
 * Unary handlers of a plugin's API: `fn` gets the request and the caller's access; what it throws
 * becomes the status `toStatus` gives (see {@link apiErrorStatus}).
 */
export function unaryHandlers(toStatus: (err: unknown) => Partial<grpc.StatusObject>) {
  return <Req, Res>(fn: (req: Req, access: CallAccess) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      Promise.resolve()
        .then(() => fn(call.request, callAccess(call)))
        .then(
          (res) => callback(null, res),
          (err: unknown) => callback(toStatus(err)),
        );
    };
}

/** A plugin's own error with a status-like code (NOT_FOUND, or anything else meaning FAILED_PRECONDITION). */
export interface CodedError {
  readonly code: string;
  readonly message: string;
}

/**
 * The status of what an API handler threw: a validation problem INVALID_ARGUMENT, a refused access
 * its code, the plugin's own error (`isOwn`) NOT_FOUND or FAILED_PRECONDITION by its code, anything
 * else INTERNAL — reported through `report`, since it is a bug.
 */
export function apiErrorStatus(err: unknown, isOwn: (err: unknown) => err is CodedError, report: (err: unknown) => void): Partial<grpc.StatusObject> {
  if (isValidationError(err)) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof AccessDeniedError) return { code: err.grpcCode, details: err.message };
  if (isOwn(err)) return { code: err.code === 'NOT_FOUND' ? grpc.status.NOT_FOUND : grpc.status.FAILED_PRECONDITION, details: err.message };
  report(err);
  return { code: grpc.status.INTERNAL, details: `internal error: ${(err as Error)?.message ?? String(err)}` };
}

/** `value`, or a ValidationError naming `field` when it is empty. */
export function requiredText(value: string | undefined, field: string): string {
  if (value === undefined || value === '') throw ValidationError.of(field, 'is required');
  return value;
}
