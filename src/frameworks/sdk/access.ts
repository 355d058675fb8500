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
