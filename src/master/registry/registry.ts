import { BerthError } from '../../common/errors';

/**
 * The master's durable state: what must survive a master failover (DESIGN §6) — admitted,
 * unreachable and gone agents (with drain state, deactivation and dynamic reservations),
 * frameworks (with their failover timeout and principal), weights, quotas, maintenance — and,
 * in their own key namespaces, the state of built-in frameworks (apps, jobs, runs).
 *
 * Records are JSON values under string keys. Keys are arbitrary strings; an implementation
 * encodes them as its store requires. Tasks are not stored: agents are their source of truth.
 *
 * One master writes at a time: the leader. Writes are applied in call order and resolve when
 * durable. An implementation shared between masters must fence: once another master has become
 * leader and written, every write of the deposed one fails with `RegistryFencedError`, and that
 * master must step down.
 */
export interface Registry {
  /** Reads every record. Called once by a newly elected leader, before it serves. */
  load(): Promise<ReadonlyMap<string, unknown>>;
  /**
   * Applies puts and deletes in order, as one batch where the store allows. Resolves when the
   * batch is durable; batches issued without awaiting are applied in issue order (pipelined).
   * @throws RegistryFencedError when a newer leader has written (the caller must step down)
   * @throws RegistryUnavailableError when the store cannot be reached or lost its quorum
   */
  write(ops: readonly RegistryOp[]): Promise<void>;
  /** Stops the registry; writes after close fail with RegistryUnavailableError. Idempotent. */
  close(): Promise<void>;
}

/** One change: `{ key, value }` stores a record, `{ key, delete: true }` removes it. */
export type RegistryOp = { readonly key: string; readonly value: unknown } | { readonly key: string; readonly delete: true };

/** A newer leader wrote to the registry: this master is deposed and must stop acting as leader. */
export class RegistryFencedError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REGISTRY_FENCED', message, options);
  }
}

/** The registry cannot be read or written now (store down, no quorum, closed). */
export class RegistryUnavailableError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REGISTRY_UNAVAILABLE', message, options);
  }
}

/** Where the current leader can be reached, as told to clients of a standby master. */
export interface LeaderInfo {
  /** The leading master's id (stable per master process). */
  readonly id: string;
  /** Its gRPC address, host:port. */
  readonly grpcAddress: string;
  /** Its HTTP address (dashboard, metrics), host:port. */
  readonly httpAddress?: string;
}

/**
 * Who leads. A master campaigns on start; when it wins it gets a `term` (strictly increasing
 * across the cluster), opens its registry for that term and serves. When it loses leadership
 * (a renew failed, a registry write was fenced, the store is unreachable for longer than the
 * lease) it must stop serving at once.
 */
export interface LeaderElection {
  /** Starts campaigning (or, for a single master, wins at once). */
  start(): Promise<void>;
  /** Stops campaigning and gives up leadership if held (a successor can take over at once). */
  stop(): Promise<void>;
  /**
   * Gives up a leadership this master won but cannot use (its registry could not be opened) and
   * stays a candidate: it campaigns again no sooner than `holdOffMs` from now, so that another
   * master can lead meanwhile. Does nothing when not leading.
   */
  resign(reason: string, holdOffMs: number): Promise<void>;
  /** Whether this master currently leads. */
  readonly isLeader: boolean;
  /** The current leader as last observed, or undefined when none is known. */
  leader(): LeaderInfo | undefined;
  /** Subscribes to changes; returns an unsubscribe function. */
  onChange(listener: (change: LeadershipChange) => void): () => void;
}

export type LeadershipChange =
  /**
   * This master won `term` but must not act yet (an election may wait before it hands over, so that
   * a predecessor notices it lost). `elected` with the same term follows, or `deposed` if the term is
   * lost first. Work that only reads (loading the registry) may start now. Optional: an election may
   * emit `elected` alone.
   */
  | { readonly kind: 'won'; readonly term: number }
  | { readonly kind: 'elected'; readonly term: number }
  | { readonly kind: 'deposed'; readonly reason: string }
  | { readonly kind: 'leader'; readonly leader: LeaderInfo | undefined };
