import type { Resources } from '../common/resources';
import { reservationRole } from '../common/resources';
import type { Milli } from '../common/scalar';
import type { QuotaConfig, Quantities } from './types';

/** Adds `sign × q` into `into`, dropping names that reach zero. Mutates `into`. */
export function accumulate(into: Map<string, Milli>, q: Quantities, sign: 1 | -1): void {
  for (const [name, v] of q) {
    if (v === 0) continue;
    const next = (into.get(name) ?? 0) + sign * v;
    if (next > 0) into.set(name, next);
    else into.delete(name);
  }
}

const ANCESTRY = new Map<string, readonly string[]>();

/** The path itself and every ancestor: `a/b/c` → `a/b/c`, `a/b`, `a` (cached: roles are few). */
export function selfAndAncestors(role: string): readonly string[] {
  let out = ANCESTRY.get(role);
  if (out === undefined) {
    const list = [role];
    for (let i = role.lastIndexOf('/'); i > 0; i = role.lastIndexOf('/', i - 1)) list.push(role.slice(0, i));
    if (ANCESTRY.size > 100_000) ANCESTRY.clear();
    ANCESTRY.set(role, (out = list));
  }
  return out;
}

/** Scalar quantities of the reserved entries of `r`, grouped by current reservation role. */
export function reservedQuantitiesByRole(r: Resources): Map<string, Map<string, Milli>> {
  const out = new Map<string, Map<string, Milli>>();
  for (const e of r.entries) {
    if (e.kind !== 'scalar' || e.reservations.length === 0 || e.revocable) continue;
    const role = reservationRole(e)!;
    let q = out.get(role);
    if (q === undefined) out.set(role, (q = new Map()));
    q.set(e.name, (q.get(e.name) ?? 0) + e.scalar!);
  }
  return out;
}

/** Scalar quantities of the unreserved, non-revocable entries of `r`. */
export function unreservedQuantities(r: Resources): Map<string, Milli> {
  const out = new Map<string, Milli>();
  for (const e of r.entries) {
    if (e.kind === 'scalar' && e.reservations.length === 0 && !e.revocable) out.set(e.name, (out.get(e.name) ?? 0) + e.scalar!);
  }
  return out;
}

/**
 * Quota consumption per role subtree, as Mesos 1.9 defines it: everything reserved to the role
 * or its sub-roles (allocated or not) plus the unreserved resources allocated to them. Offered
 * resources count as allocated while the offer is outstanding, so a quota cannot be overrun by
 * offers in flight.
 */
export class QuotaTracker {
  private readonly quotas = new Map<string, QuotaConfig>();
  private readonly reserved = new Map<string, Map<string, Milli>>();
  private readonly allocatedUnreserved = new Map<string, Map<string, Milli>>();
  /** Roles that have a quota with limits, and every role below one: these need shrinking. */
  private limitedCache = new Map<string, boolean>();
  /** Roles that have a quota or sit below one: only their allocations need tracking. */
  private coveredCache = new Map<string, boolean>();

  set(role: string, quota: QuotaConfig | undefined): void {
    const empty = quota === undefined || ((quota.guarantees?.size ?? 0) === 0 && (quota.limits?.size ?? 0) === 0);
    if (empty) this.quotas.delete(role);
    else this.quotas.set(role, quota);
    this.limitedCache.clear();
    this.coveredCache.clear();
  }

  /**
   * Recounts unreserved allocations after quotas changed. Allocations are tracked only under
   * roles with a quota (most clusters have few), so a new quota needs the current picture once.
   */
  rebuildAllocated(allocations: Iterable<{ role: string; resources: Resources }>): void {
    this.allocatedUnreserved.clear();
    for (const a of allocations) this.trackAllocated(a.role, a.resources, 1);
  }

  get(role: string): QuotaConfig | undefined {
    return this.quotas.get(role);
  }

  all(): ReadonlyMap<string, QuotaConfig> {
    return this.quotas;
  }

  hasGuarantees(): boolean {
    for (const q of this.quotas.values()) if ((q.guarantees?.size ?? 0) > 0) return true;
    return false;
  }

  trackReserved(total: Resources, sign: 1 | -1): void {
    for (const [role, q] of reservedQuantitiesByRole(total)) this.add(this.reserved, role, q, sign);
  }

  /** Records an allocation (sign 1) or its return (−1) of `resources` to `role`. */
  trackAllocated(role: string, resources: Resources, sign: 1 | -1): void {
    if (!this.covers(role)) return;
    const unreserved = unreservedQuantities(resources);
    if (unreserved.size > 0) this.add(this.allocatedUnreserved, role, unreserved, sign);
  }

  /** Whether the role or an ancestor has a quota. */
  covers(role: string): boolean {
    let v = this.coveredCache.get(role);
    if (v === undefined) {
      v = selfAndAncestors(role).some((r) => this.quotas.has(r));
      this.coveredCache.set(role, v);
    }
    return v;
  }

  /** Reservations plus unreserved allocations of the role's subtree. */
  consumed(role: string): Map<string, Milli> {
    const out = new Map(this.reserved.get(role));
    const a = this.allocatedUnreserved.get(role);
    if (a !== undefined) accumulate(out, a, 1);
    return out;
  }

  /** Whether the role or an ancestor has limits (so offers to it must be shrunk). */
  isLimited(role: string): boolean {
    let v = this.limitedCache.get(role);
    if (v === undefined) {
      v = selfAndAncestors(role).some((r) => (this.quotas.get(r)?.limits?.size ?? 0) > 0);
      this.limitedCache.set(role, v);
    }
    return v;
  }

  /**
   * How much more unreserved of each limited name the role may take: the minimum over itself and
   * its ancestors of limit − consumption (never negative). Names without a limit are absent.
   */
  limitHeadroom(role: string): Map<string, Milli> {
    const out = new Map<string, Milli>();
    for (const r of selfAndAncestors(role)) {
      const limits = this.quotas.get(r)?.limits;
      if (limits === undefined) continue;
      const consumed = this.consumed(r);
      for (const [name, limit] of limits) {
        const room = Math.max(0, limit - (consumed.get(name) ?? 0));
        const prev = out.get(name);
        out.set(name, prev === undefined ? room : Math.min(prev, room));
      }
    }
    return out;
  }

  /** Guarantee minus consumption, per name, for a role with a guarantee (empty when satisfied). */
  unsatisfiedGuarantee(role: string): Map<string, Milli> {
    const out = new Map<string, Milli>();
    const g = this.quotas.get(role)?.guarantees;
    if (g === undefined) return out;
    const consumed = this.consumed(role);
    for (const [name, want] of g) {
      const gap = want - (consumed.get(name) ?? 0);
      if (gap > 0) out.set(name, gap);
    }
    return out;
  }

  private add(table: Map<string, Map<string, Milli>>, role: string, q: Quantities, sign: 1 | -1): void {
    for (const r of selfAndAncestors(role)) {
      let m = table.get(r);
      if (m === undefined) table.set(r, (m = new Map()));
      accumulate(m, q, sign);
      if (m.size === 0) table.delete(r);
    }
  }
}

/**
 * Unreserved resources held back for roles whose guarantees are not yet met, for one allocation
 * cycle. Everyone else may take unreserved resources only beyond what those roles still need.
 */
export class Headroom {
  /** Σ over unsatisfied guarantees of the gap, per name. */
  readonly required = new Map<string, Milli>();
  /** Σ over offerable agents of unreserved unallocated resources, per name. */
  readonly available = new Map<string, Milli>();
  readonly gaps = new Map<string, Map<string, Milli>>();

  /** How much unreserved of each guaranteed name `role` may take without starving another role. */
  allowance(role: string): Map<string, Milli> {
    const out = new Map<string, Milli>();
    const own = this.gaps.get(role);
    for (const [name, req] of this.required) {
      out.set(name, Math.max(0, (this.available.get(name) ?? 0) - req + (own?.get(name) ?? 0)));
    }
    return out;
  }

  /** Records that `role` took `unreserved`. */
  took(role: string, unreserved: Quantities): void {
    accumulate(this.available, unreserved, -1);
    const gap = this.gaps.get(role);
    if (gap === undefined) return;
    for (const [name, v] of unreserved) {
      const g = gap.get(name);
      if (g === undefined) continue;
      const used = Math.min(g, v);
      if (g - used > 0) gap.set(name, g - used);
      else gap.delete(name);
      const req = (this.required.get(name) ?? 0) - used;
      if (req > 0) this.required.set(name, req);
      else this.required.delete(name);
    }
    if (gap.size === 0) this.gaps.delete(role);
  }
}
