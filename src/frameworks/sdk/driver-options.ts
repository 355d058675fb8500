/** How a SchedulerDriver (driver.ts) is configured (its options are part of the SDK's API). */
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { Framework } from './framework';
import type { KeyValueStore } from './store';

/** Store key of the framework id. */
export const FRAMEWORK_ID_KEY = 'driver/framework-id';

export interface SchedulerDriverOptions {
  /** Master gRPC addresses (`host:port`); any of them — standbys redirect to the leader. */
  readonly masters: readonly string[];
  readonly framework: Framework;
  readonly clock: Clock;
  /** Where the framework id is kept (key {@link FRAMEWORK_ID_KEY}); without it, only in memory. */
  readonly store?: KeyValueStore;
  /** Bearer token (`authorization: Bearer …`) for a master with authentication. */
  readonly token?: string;
  /**
   * TLS to the masters: `caFile` (PEM) verifies them, `certFile`/`keyFile` are this framework's
   * certificate for mutual TLS (its common name is then the framework's principal, no token needed).
   * The files are read and checked when the driver is made. @default plaintext
   */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  /** First re-dial delay. @default 500 */
  readonly backoffMinMs?: number;
  /** Cap of the re-dial delay. @default 30_000 */
  readonly backoffMaxMs?: number;
  /** Re-dial delay for 30 s after losing a subscribed stream (a new leader serves within its lease). @default 250 */
  readonly failoverRedialMs?: number;
  /**
   * First repeat of an unanswered explicit reconciliation. A safety net only: the master remembers
   * an ask it cannot answer yet and answers it as the task's agent returns (or is given up on), so
   * each task is asked about once per subscription and again only if still unanswered this long
   * after (e.g. the master could not keep the ask: past its per-framework limit). @default 60_000
   */
  readonly reconcileMinMs?: number;
  /** Cap of the reconciliation repeat (the delay doubles from `reconcileMinMs`). @default 600_000 */
  readonly reconcileMaxMs?: number;
  /** Heartbeat intervals without any event before the stream is dropped. @default 5 */
  readonly missedHeartbeats?: number;
  /** How long a new stream may wait for SUBSCRIBED before it is dropped and re-dialled. @default 30_000 */
  readonly subscribeTimeoutMs?: number;
  /**
   * Keep the Node.js process alive from `start()` to `stop()`, also while no master answers (the
   * driver's timers do not, so a standalone framework would otherwise exit when its master dies).
   * @default true
   */
  readonly keepProcessAlive?: boolean;
  readonly logger?: Logger;
}
