/**
 * The resources of the offers being accepted, per offer role, as the operations of one ACCEPT use
 * them up in order. Only `take` and `convert` change it, and both leave it unchanged when they
 * fail, so what a plan launches, converts and returns always adds up to what was offered.
 */
import { isAddable, Resources, type Range, type Resource } from '../../common/resources';

/** An offer being accepted, as resolved by the master. */
export interface PoolOffer {
  readonly role: string;
  readonly resources: Resources;
}

/** Where some resources come from: a role, or why none can be chosen. */
export type RoleChoice = { readonly role: string; readonly problem?: undefined } | { readonly role?: undefined; readonly problem: string };

export class OfferPool {
  readonly #pools = new Map<string, Resources>();

  constructor(offers: readonly PoolOffer[]) {
    for (const o of offers) this.#pools.set(o.role, (this.#pools.get(o.role) ?? Resources.empty()).plus(o.resources));
  }

  /** The offer roles, in the order of the first offer of each. */
  roles(): string[] {
    return [...this.#pools.keys()];
  }

  /** What is left in `role` (empty for a role without offers). */
  get(role: string): Resources {
    return this.#pools.get(role) ?? Resources.empty();
  }

  /**
   * The role whose remaining resources `want` comes from. The wire carries no allocation role on a
   * resource, so: the only offered role; else the only role whose remainder contains `want`; else
   * the one of those among `preferred` (e.g. the reservation role of reserved resources). With
   * several offer roles and none containing `want`, the single offered role in `preferred` is
   * chosen (so the caller can say what is missing); otherwise the choice is a problem.
   */
  chooseRole(want: Resources, preferred: readonly string[] = []): RoleChoice {
    const roles = this.roles();
    if (roles.length === 1) return { role: roles[0] };
    const fits = roles.filter((r) => this.get(r).contains(want));
    if (fits.length === 1) return { role: fits[0] };
    const preferredFits = fits.filter((r) => preferred.includes(r));
    if (preferredFits.length === 1) return { role: preferredFits[0] };
    if (fits.length > 1) {
      return {
        problem:
          `${want.toString()} fits the offers of several roles (${fits.map((r) => JSON.stringify(r)).join(', ')}) and the wire ` +
          'carries no allocation role: accept offers of one role per ACCEPT to launch unreserved resources',
      };
    }
    const offered = roles.filter((r) => preferred.includes(r));
    if (offered.length === 1) return { role: offered[0] };
    return { problem: `${want.toString()} is not contained in the offers of any one role (${roles.map((r) => JSON.stringify(r)).join(', ')})` };
  }

  /** Why `role`'s remainder does not contain `want` (naming what is missing), or `undefined`. */
  shortfall(role: string, want: Resources): string | undefined {
    const have = this.get(role);
    if (have.contains(want)) return undefined;
    return `${want.toString()} is not in the remaining offered resources of role ${JSON.stringify(role)}: missing ${missingPart(want, have)} (remaining: ${have.isEmpty() ? 'nothing' : have.toString()})`;
  }

  /**
   * Takes `r` out of `role` for a launch. Shared resources (shared persistent volumes) stay: tasks
   * use them without consuming them, as in Mesos. The caller checked {@link OfferPool.shortfall}.
   */
  take(role: string, r: Resources): void {
    this.#pools.set(role, this.get(role).minus(r.filter((e) => !e.shared)));
  }

  /**
   * Applies a conversion (RESERVE, UNRESERVE, CREATE, DESTROY) in `role`: `consumed` out, `converted`
   * in. Atomic: throws (a `ResourceError`) without changing anything if it cannot apply.
   */
  convert(role: string, consumed: Resources, converted: Resources): void {
    this.#pools.set(role, this.get(role).minus(consumed).plus(converted));
  }

  /** What is left, per role, leaving out roles with nothing left. */
  remaining(): { role: string; resources: Resources }[] {
    return [...this.#pools].filter(([, r]) => !r.isEmpty()).map(([role, resources]) => ({ role, resources }));
  }
}

/**
 * The part of `want` that `have` lacks, as resources text: the scalar difference, the missing range
 * values or set items, or whole volumes. Never throws.
 */
export function missingPart(want: Resources, have: Resources): string {
  const missing: Resource[] = [];
  for (const e of want.entries) {
    const one = Resources.of([e]);
    if (have.contains(one)) continue;
    const same = have.filter((h) => isAddable(h, e));
    if (e.disk?.persistence !== undefined) missing.push(e);
    else if (e.kind === 'scalar') missing.push({ ...e, scalar: e.scalar! - same.scalar(e.name) });
    else if (e.kind === 'ranges') missing.push({ ...e, ranges: subtractRanges(e.ranges!, same.ranges(e.name)) });
    else {
      const held = new Set(same.entries.flatMap((x) => x.set ?? []));
      missing.push({ ...e, set: e.set!.filter((item) => !held.has(item)) });
    }
  }
  try {
    return Resources.of(missing).toString();
  } catch {
    return want.toString();
  }
}

/** `a − b` for sorted, coalesced ranges. */
function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  for (const r of a) {
    let begin = r.begin;
    for (const s of b) {
      if (s.end < begin || s.begin > r.end) continue;
      if (s.begin > begin) out.push({ begin, end: s.begin - 1 });
      begin = s.end + 1;
      if (begin > r.end) break;
    }
    if (begin <= r.end) out.push({ begin, end: r.end });
  }
  return out;
}
