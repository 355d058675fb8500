import type { Milli } from '../common/scalar';

/** Scalar quantities by resource name, in thousandths (see `common/scalar`). */
export type QuantityMap = ReadonlyMap<string, Milli>;

/**
 * The total of all agents' scalar resources: the denominator of every share.
 *
 * One pool is shared by the role sorter and every per-role framework sorter, so adding an agent
 * is one update instead of one per sorter (Mesos called `addSlave` on every framework sorter).
 * Sorters compare `version` with the version they last sorted against and re-sort lazily.
 */
export class ResourcePool {
  readonly total = new Map<string, Milli>();
  /** Names left out of fair-share computation (Mesos `--fair_sharing_excluded_resource_names`). */
  readonly excluded: ReadonlySet<string>;
  private _version = 0;

  constructor(excludedNames: Iterable<string> = []) {
    this.excluded = new Set(excludedNames);
  }

  /** Incremented on every change of `total`; sorters use it to notice stale shares. */
  get version(): number {
    return this._version;
  }

  add(q: QuantityMap): void {
    for (const [name, v] of q) if (v !== 0) this.total.set(name, (this.total.get(name) ?? 0) + v);
    this._version++;
  }

  remove(q: QuantityMap): void {
    for (const [name, v] of q) {
      if (v === 0) continue;
      const left = (this.total.get(name) ?? 0) - v;
      if (left > 0) this.total.set(name, left);
      else this.total.delete(name);
    }
    this._version++;
  }

  /**
   * The dominant share of an allocation: max over resource names of allocated / total.
   * Only scalars count, excluded names do not, and a name with no total contributes nothing.
   */
  dominantShare(allocation: QuantityMap): number {
    let share = 0;
    for (const [name, total] of this.total) {
      if (total <= 0 || this.excluded.has(name)) continue;
      const a = allocation.get(name);
      if (a !== undefined && a > 0) {
        const s = a / total;
        if (s > share) share = s;
      }
    }
    return share;
  }
}

/**
 * Orders the clients of one level of allocation: roles (hierarchical paths such as `eng/backend`)
 * in the role sorter, frameworks in each role's framework sorter.
 *
 * The contract follows Mesos's sorter: the allocator tells the sorter about clients, their
 * activity and what they were allocated; the sorter answers in which order to offer. A sorter
 * is synchronous and does no I/O. Implementations: `DrfSorter` (weighted dominant resource
 * fairness) and `RandomSorter` (weighted random order).
 */
export interface Sorter {
  /** Adds an inactive client. Adding a known client is a no-op. Paths use `/` for hierarchy. */
  add(client: string): void;
  /** Removes a client and what it was allocated. Unknown clients are ignored. */
  remove(client: string): void;
  contains(client: string): boolean;
  /** Only active clients are visited by `forEach`. Both are idempotent. */
  activate(client: string): void;
  deactivate(client: string): void;
  isActive(client: string): boolean;
  /** Sets the weight of a path (a client or an inner node of the hierarchy); default 1. */
  updateWeight(path: string, weight: number): void;
  /** Records resources allocated to (or taken back from) a known client. */
  allocated(client: string, q: QuantityMap): void;
  unallocated(client: string, q: QuantityMap): void;
  /** What the client (including its sub-paths, for an inner node) holds. */
  allocation(client: string): QuantityMap;
  /** The client's weighted dominant share (for DRF; other sorters may report it too). */
  share(client: string): number;
  /**
   * Visits the active clients in offer order until `visit` returns `false`.
   * `visit` must not change the sorter unless it then returns `false`.
   */
  forEach(visit: (client: string) => boolean | void): void;
  /** Number of clients, active or not. */
  count(): number;
  /** Whether any client is active. */
  hasActive(): boolean;
  /** The active clients in offer order (allocates; for tests and operator views). */
  sort(): string[];
}

/** Builds a sorter over a shared pool; `random` is the injected source of randomness. */
export type SorterFactory = (pool: ResourcePool, random: () => number) => Sorter;
