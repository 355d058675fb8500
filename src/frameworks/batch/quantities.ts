/**
 * The resource amounts the batch framework accounts in: the scalar resources Berth offers that a
 * batch task asks for (`cpus`, `mem` in MiB, `disk` in MiB, `gpus`). Quotas, usage and demand are
 * all {@link Amounts}; a name left out is 0.
 */

/** The resource names a queue quota or a job shape may name, in display order. */
export const RESOURCE_NAMES = ['cpus', 'mem', 'disk', 'gpus'] as const;
/** One of {@link RESOURCE_NAMES}. */
export type ResourceName = (typeof RESOURCE_NAMES)[number];
/** An amount of each resource (a missing name is 0). */
export type Amounts = Readonly<Partial<Record<ResourceName, number>>>;

/** The amount of `name` in `a` (0 when absent). */
export const amountOf = (a: Amounts, name: ResourceName): number => a[name] ?? 0;

/** `a + b`, every resource. */
export function add(a: Amounts, b: Amounts): Amounts {
  const out: Partial<Record<ResourceName, number>> = {};
  for (const r of RESOURCE_NAMES) {
    const v = amountOf(a, r) + amountOf(b, r);
    if (v !== 0) out[r] = v;
  }
  return out;
}

/** `a - b`, every resource (may go negative: callers compare). */
export function subtract(a: Amounts, b: Amounts): Amounts {
  return add(a, scale(b, -1));
}

/** `a * k`, every resource. */
export function scale(a: Amounts, k: number): Amounts {
  const out: Partial<Record<ResourceName, number>> = {};
  for (const r of RESOURCE_NAMES) if (amountOf(a, r) !== 0) out[r] = amountOf(a, r) * k;
  return out;
}

/** Tolerance for float sums (cpus 0.1 + 0.2). */
const EPSILON = 1e-9;

/** Whether `a <= b` for every resource. */
export function fitsWithin(a: Amounts, b: Amounts): boolean {
  return RESOURCE_NAMES.every((r) => amountOf(a, r) <= amountOf(b, r) + EPSILON);
}

/** The resources where `a > b`, e.g. `["cpus"]`. */
export function exceeding(a: Amounts, b: Amounts): ResourceName[] {
  return RESOURCE_NAMES.filter((r) => amountOf(a, r) > amountOf(b, r) + EPSILON);
}

/** `cpus 8, mem 4096` — the non-zero amounts, or `nothing`. */
export function formatAmounts(a: Amounts): string {
  const parts = RESOURCE_NAMES.filter((r) => amountOf(a, r) !== 0).map((r) => `${r} ${round(amountOf(a, r))}`);
  return parts.length === 0 ? 'nothing' : parts.join(', ');
}

/** `cpus 6/8` for each named resource: used over limit. */
export function formatUse(used: Amounts, limit: Amounts, names: readonly ResourceName[]): string {
  return names.map((r) => `${r} ${round(amountOf(used, r))}/${round(amountOf(limit, r))}`).join(', ');
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
