import type { Resources } from '../common/resources';
import type { Milli } from '../common/scalar';

/** Scalar quantities by resource name, in thousandths (see `common/scalar`). */
export type QuantityMap = ReadonlyMap<string, Milli>;

/**
 * Scalar quantities by pool dimension (see `ResourcePool.dim`): the cheap form the allocator hands
 * to sorters on its hot path, built once per allocation and shared by the role and framework sorter.
 */
export interface QuantityVector {
  readonly dims: readonly number[];
  readonly values: readonly Milli[];
}

/** What sorters accept as an allocation: either form. */
export type SorterQuantities = QuantityMap | QuantityVector;

/**
 * The total of all agents' scalar resources: the denominator of every share.
 *
 * One pool is shared by the role sorter and every per-role framework sorter, so adding an agent
 * is one update instead of one per sorter (Mesos called `addSlave` on every framework sorter).
 * Sorters compare `version` with the version they last sorted against and re-sort lazily.
 */
export class ResourcePool {
  /** Names left out of fair-share computation (Mesos `--fair_sharing_excluded_resource_names`). */
  readonly excluded: ReadonlySet<string>;
  /**
   * Scalar names get dense indices ("dimensions") so sorters keep allocations in typed arrays:
   * an allocation then costs a few array additions per tree level instead of map updates.
   */
  private readonly dims = new Map<string, number>();
  private readonly names: string[] = [];
  private totalVec = new Float64Array(8);
  private excludedVec = new Uint8Array(8);
  private _version = 0;

  constructor(excludedNames: Iterable<string> = []) {
    this.excluded = new Set(excludedNames);
  }

  /** Incremented on every change of the total; sorters use it to notice stale shares. */
  get version(): number {
    return this._version;
  }

  /** Number of dimensions so far; vectors shorter than this are zero beyond their length. */
  get dimensions(): number {
    return this.names.length;
  }

  /** The dimension of a scalar name, assigned on first use. */
  dim(name: string): number {
    let d = this.dims.get(name);
    if (d === undefined) {
      d = this.names.length;
      this.dims.set(name, d);
      this.names.push(name);
      if (d >= this.totalVec.length) {
        const t = new Float64Array(this.totalVec.length * 2);
        t.set(this.totalVec);
        this.totalVec = t;
        const e = new Uint8Array(this.excludedVec.length * 2);
        e.set(this.excludedVec);
        this.excludedVec = e;
      }
      this.excludedVec[d] = this.excluded.has(name) ? 1 : 0;
    }
    return d;
  }

  nameOf(dim: number): string {
    return this.names[dim]!;
  }

  /** The total as a map (for operators and tests). */
  get total(): ReadonlyMap<string, Milli> {
    const out = new Map<string, Milli>();
    for (let d = 0; d < this.names.length; d++) if (this.totalVec[d]! > 0) out.set(this.names[d]!, this.totalVec[d]!);
    return out;
  }

  /** The scalar quantities of `r` by dimension, all reservations and flags included. */
  vectorOf(r: Resources): QuantityVector {
    const dims: number[] = [];
    const values: number[] = [];
    const entries = r.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.kind !== 'scalar') continue;
      const d = this.dim(e.name);
      const at = dims.indexOf(d);
      if (at === -1) {
        dims.push(d);
        values.push(e.scalar!);
      } else {
        values[at] += e.scalar!;
      }
    }
    return { dims, values };
  }

  /** The same for a quantity map. */
  vectorOfMap(q: QuantityMap): QuantityVector {
    const dims: number[] = [];
    const values: number[] = [];
    for (const [name, v] of q) {
      if (v === 0) continue;
      dims.push(this.dim(name));
      values.push(v);
    }
    return { dims, values };
  }

  add(q: QuantityMap): void {
    this.change(q, 1);
  }

  remove(q: QuantityMap): void {
    this.change(q, -1);
  }

  /**
   * The dominant share of an allocation vector: max over dimensions of allocated / total.
   * Only scalars count, excluded names do not, and a name with no total contributes nothing.
   */
  dominantShare(alloc: Float64Array): number {
    let share = 0;
    const n = Math.min(alloc.length, this.names.length);
    for (let d = 0; d < n; d++) {
      const a = alloc[d]!;
      if (a <= 0) continue;
      const total = this.totalVec[d]!;
      if (total <= 0 || this.excludedVec[d] === 1) continue;
      const s = a / total;
      if (s > share) share = s;
    }
    return share;
  }

  private change(q: QuantityMap, sign: 1 | -1): void {
    for (const [name, v] of q) {
      if (v === 0) continue;
      const d = this.dim(name);
      const next = this.totalVec[d]! + sign * v;
      this.totalVec[d] = next > 0 ? next : 0;
    }
    this._version++;
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
  allocated(client: string, q: SorterQuantities): void;
  unallocated(client: string, q: SorterQuantities): void;
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
