import type { NatsAuthSettings } from '../../common/nats-auth';
import type { LeaseTiming } from './lease-holder';

/** Indexes into the shared BigInt64Array: the master's heartbeat and the last renew's send time (ms). */
export const HEARTBEAT = 0;
export const SENT_AT = 1;
export const SHARED_SLOTS = 2;

/** What the lease worker thread is started with (structured-cloneable). */
export interface LeaseWorkerData {
  readonly servers: readonly string[];
  readonly name: string;
  /** The NATS credentials settings; the worker reads their files itself. */
  readonly auth: NatsAuthSettings | undefined;
  readonly bucket: string;
  readonly key: string;
  readonly value: string;
  readonly timing: LeaseTiming;
  /** The worker stops renewing once the master's heartbeat is older than this. */
  readonly stuckMs: number;
  readonly shared: SharedArrayBuffer;
}

export type ToLeaseWorker =
  | { readonly type: 'hold'; readonly generation: number; readonly revision: number; readonly sentAt: number }
  | { readonly type: 'release'; readonly generation: number }
  | { readonly type: 'close' };

export type FromLeaseWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'renewed'; readonly generation: number; readonly revision: number }
  | { readonly type: 'lost'; readonly generation: number; readonly reason: string }
  | { readonly type: 'released'; readonly generation: number; readonly revision: number };
