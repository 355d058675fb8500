/**
 * The resource model's types: a `Resource` entry, its reservation stack and disk information. The
 * validity checks (resource-validation.ts) and the entry arithmetic (resource-entry.ts) both read
 * them; `resources.ts` re-exports them.
 */
import type { Milli } from './scalar';
import type { Range } from './resource-values';

/** STATIC: declared by the agent operator (`cpus(eng):4`). DYNAMIC: made at runtime by RESERVE. */
export type ReservationType = 'STATIC' | 'DYNAMIC';

/** One level of a reservation stack. */
export interface Reservation {
  readonly type: ReservationType;
  /** The role reserved for; never `*`. Each level refines the one below (a non-strict subrole). */
  readonly role: string;
  /** Who made a DYNAMIC reservation; informational, but part of the identity. */
  readonly principal?: string;
  /** Free-form labels; part of the identity (two reservations differing in labels never combine). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Disk-specific information; only valid on a scalar resource named `disk`. */
export interface DiskInfo {
  /** Present on persistent volumes, which are never split nor merged. */
  readonly persistence?: { readonly id: string; readonly principal?: string };
  /** Where a task mounts the volume. */
  readonly volume?: { readonly containerPath: string; readonly mode: 'RW' | 'RO' };
}

/** The value kind of a resource. */
export type ResourceKind = 'scalar' | 'ranges' | 'set';

/**
 * One resource entry, e.g. "4 cpus reserved to eng". Only the field matching `kind` is set.
 * Entries inside a `Resources` are normalised: ranges sorted and coalesced, sets sorted and unique,
 * absent optional data is `undefined` (never `false`, `{}` or `''`), and values are non-empty.
 */
export interface Resource {
  readonly name: string;
  readonly kind: ResourceKind;
  /** kind === 'scalar': thousandths (milli), a non-negative integer. */
  readonly scalar?: Milli;
  /** kind === 'ranges': sorted, coalesced (no overlap, no adjacency), inclusive integers. */
  readonly ranges?: readonly Range[];
  /** kind === 'set': sorted, unique. */
  readonly set?: readonly string[];
  /** The reservation stack; `[]` = unreserved; the last element is the current owner. */
  readonly reservations: readonly Reservation[];
  readonly disk?: DiskInfo;
  readonly revocable?: boolean;
  /** Only persistent volumes may be shared; identical shared volumes are kept as separate copies. */
  readonly shared?: boolean;
}
