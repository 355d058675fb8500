/**
 * Durability of the services framework: the pending store writes and how they reach the store.
 *
 * Owns:
 * - {@link StoreWriter}: the writes (value) and deletes (undefined) not yet flushed, by key, and the
 *   key prefixes to delete; flushing them one batch after another, queuing failed writes again and
 *   retrying them on a timer (1 s, doubling up to 60 s, reset by a batch that works).
 * - {@link snapshot} / {@link restore}: what a changing API command may touch, kept before it runs
 *   and put back (and marked to be written) when its change cannot be saved.
 * - {@link loadRecords}: reading the records back from the store after a (re)start.
 *
 * When these run, and what the scheduler promises its callers about them, is described in the file
 * comment of scheduler.ts.
 */
import type { Clock, TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { KeyValueStore } from '../sdk/store';
import { appKey } from './app-definition';
import { storeKeys, type AppRecord, type DeploymentRecord, type TaskRecord } from './model';
import { clone, type Records } from './records';
import { assignMissingSlots } from './slots';

/** First and longest delay before failed store writes are retried. */
const STORE_RETRY_MIN_MS = 1000;
const STORE_RETRY_MAX_MS = 60_000;

/** Pending store writes and their flushing; the scheduler owns one. */
export class StoreWriter {
  /** Store writes (value) and deletes (undefined) not yet flushed, by key. */
  readonly writes = new Map<string, unknown>();
  /** Prefixes to delete entirely at the next flush (versions of deleted apps). */
  readonly prefixDeletes = new Set<string>();

  /** Store writes, one batch at a time. */
  private flushChain: Promise<void> = Promise.resolve();
  /** A background batch is queued and not started yet (later changes join it). */
  private flushQueued = false;
  /** Retries failed store writes; `storeRetryMs` is the next delay (doubling, reset by a batch that works). */
  private storeRetry: TimerHandle | undefined;
  private storeRetryMs = 0;

  /**
   * @param stopped whether the framework is stopping (no new retry timers then)
   * @param track called with each background batch, so that `idle()` can wait for it
   */
  constructor(
    private readonly store: KeyValueStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly stopped: () => boolean,
    private readonly track: (batch: Promise<unknown>) => void,
  ) {}

  /** Whether anything waits to be written. */
  get pending(): boolean {
    return this.writes.size > 0 || this.prefixDeletes.size > 0;
  }

  /**
   * Writes what changed, one batch after another (so a key never goes back to an older value):
   * awaited when `durable` (and then rejects when a write failed), else queued behind the batch being
   * written (and coalesced with any other change made before it starts). Failed writes are queued
   * again (see {@link writeOut}) and retried by a timer, with backoff.
   */
  flush(durable = true): Promise<void> {
    if (!durable) {
      if (this.flushQueued) return Promise.resolve();
      this.flushQueued = true;
    }
    const batch = this.flushChain.then(() => {
      this.flushQueued = false;
      return this.writeOut();
    });
    this.flushChain = batch.then(() => this.flushed(), (err: unknown) => this.flushFailed(err));
    if (durable) return batch;
    this.track(this.flushChain);
    return Promise.resolve();
  }

  clearRetry(): void {
    if (this.storeRetry !== undefined) this.clock.clearTimeout(this.storeRetry);
    this.storeRetry = undefined;
  }

  private flushed(): void {
    // Everything that failed before was queued again and has now been written.
    this.storeRetryMs = 0;
    this.clearRetry();
  }

  private flushFailed(err: unknown): void {
    if (this.stopped() || this.storeRetry !== undefined) {
      this.logger.error('writing the framework state failed', { err });
      return;
    }
    // The delay grows with each retry that fails (not with every input failing meanwhile).
    const delay = Math.max(STORE_RETRY_MIN_MS, this.storeRetryMs);
    this.storeRetryMs = Math.min(STORE_RETRY_MAX_MS, delay * 2);
    this.logger.error('writing the framework state failed; retrying', { err, retryInMs: delay });
    this.storeRetry = this.clock.setTimeout(() => {
      this.storeRetry = undefined;
      if (!this.stopped()) void this.flush(false);
    }, delay);
  }

  /**
   * Writes every pending change. A write that fails goes back into `writes` — unless a newer value
   * for its key was set meanwhile, which is then written instead — and so does a failed prefix delete;
   * then the batch rejects.
   */
  private async writeOut(): Promise<void> {
    const pending = [...this.writes.entries()];
    const writes = pending.map(([key, value]) => [key, value === undefined ? undefined : clone(value)] as const);
    this.writes.clear();
    const prefixes = [...this.prefixDeletes];
    this.prefixDeletes.clear();
    const errors: unknown[] = [];
    const results = await Promise.allSettled(writes.map(([key, value]) => (value === undefined ? this.store.delete(key) : this.store.put(key, value))));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      errors.push(r.reason);
      const [key, value] = pending[i];
      if (!this.writes.has(key)) this.writes.set(key, value);
    });
    const written = new Set(writes.map(([key]) => key));
    for (const prefix of prefixes) {
      try {
        const entries = await this.store.list(prefix);
        // Not what was just written or is pending (an app created again under the same id).
        const doomed = entries.filter((e) => !written.has(e.key) && !this.writes.has(e.key));
        const deleted = await Promise.allSettled(doomed.map((e) => this.store.delete(e.key)));
        const failed = deleted.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      } catch (err) {
        errors.push(err);
        this.prefixDeletes.add(prefix);
      }
    }
    if (errors.length > 0) {
      const first = errors[0] instanceof Error ? errors[0].message : String(errors[0]);
      throw new Error(`${errors.length} store write${errors.length === 1 ? '' : 's'} failed: ${first}`);
    }
  }
}

/** What a changing API command may touch, as it was before (to put back when the change cannot be saved). */
export interface Undo {
  readonly appId: string;
  /** The app record as JSON; undefined: the app did not exist. */
  readonly app: string | undefined;
  /** Every deployment record as JSON, in map order. */
  readonly deployments: readonly (readonly [string, string])[];
}

export function snapshot(records: Records, appId: string): Undo {
  const app = records.apps.get(appId);
  return {
    appId,
    app: app === undefined ? undefined : JSON.stringify(app),
    deployments: [...records.deployments.values()].map((d) => [d.id, JSON.stringify(d)] as const),
  };
}

/** Puts the app and the deployments back as they were in `undo`, and marks what differs to be written. */
export function restore(records: Records, writes: Map<string, unknown>, undo: Undo): void {
  const present = records.apps.get(undo.appId);
  if (undo.app === undefined) {
    if (present !== undefined) {
      records.apps.delete(present.id);
      records.need.delete(present.id);
      records.slotPlans.delete(present.id);
      records.rejections.delete(present.id);
      writes.set(storeKeys.app(appKey(present.id)), undefined);
      for (let seq = 1; seq <= present.versionSeq; seq++) writes.set(storeKeys.version(appKey(present.id), seq), undefined);
    }
  } else if (present === undefined || JSON.stringify(present) !== undo.app) {
    const previous = JSON.parse(undo.app) as AppRecord;
    if (present !== undefined) for (let seq = previous.versionSeq + 1; seq <= present.versionSeq; seq++) writes.set(storeKeys.version(appKey(present.id), seq), undefined);
    records.apps.set(previous.id, previous);
    records.markApp(previous);
  }
  const before = new Map(undo.deployments);
  const current = new Map(records.deployments);
  for (const id of current.keys()) if (!before.has(id)) writes.set(storeKeys.deployment(id), undefined);
  records.deployments.clear();
  for (const [id, json] of undo.deployments) {
    const d = current.get(id);
    if (d !== undefined && JSON.stringify(d) === json) {
      records.deployments.set(id, d);
    } else {
      const restored = JSON.parse(json) as DeploymentRecord;
      records.deployments.set(id, restored);
      records.markDeployment(restored);
    }
  }
}

/**
 * Reads apps, tasks and deployments from the store into `records` (empty before). Records written
 * before instance slots existed are brought forward (and marked to be written): an app's app-wide
 * `backoff` is dropped — each slot starts again at its first failure, so at worst one relaunch comes
 * sooner than the old delay said — and tasks without an instance index get the lowest free ones of
 * their app and version, oldest first.
 */
export async function loadRecords(store: KeyValueStore, records: Records): Promise<void> {
  for (const { value } of await store.list<AppRecord & { backoff?: unknown }>(storeKeys.APPS)) {
    if (value.slots === undefined || value.backoff !== undefined) {
      delete value.backoff;
      value.slots ??= {};
      records.apps.set(value.id, value);
      records.markApp(value);
    } else {
      records.apps.set(value.id, value);
    }
  }
  for (const { value } of await store.list<TaskRecord>(storeKeys.TASKS)) records.addTask(value);
  for (const t of assignMissingSlots([...records.tasks.values()])) records.markTask(t);
  for (const { value } of await store.list<DeploymentRecord>(storeKeys.DEPLOYMENTS)) records.deployments.set(value.id, value);
}
