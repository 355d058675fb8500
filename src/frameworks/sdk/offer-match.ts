/**
 * Fitting a task shape into an offer: which of the offer's resources a task takes (reserved ones for
 * the offer's role first, then unreserved — the way Marathon prefers reservations), which host ports it
 * gets, and when it does not fit, why (the first resource that is short), for "why is it not running"
 * summaries. Several tasks can be placed on one offer by passing what earlier tasks took as `used`.
 */
import { Resources } from '../../common/resources';
import type { Resource } from '../../common/resource-entry';
import { toMilli } from '../../common/scalar';
import { resourcesFromWire, resourcesToWire } from '../../common/wire';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { Resource__Output } from '../../generated/berth/v1/Resource';

/** What one task needs. */
export interface TaskShape {
  readonly cpus: number;
  readonly mem: number;
  readonly disk?: number;
  readonly gpus?: number;
  /** Host ports: a number of any ports, or the exact port numbers (0 in the list: any port). */
  readonly ports?: number | readonly number[];
}

/** Why a shape does not fit an offer. */
export type ShortResource = 'cpus' | 'mem' | 'disk' | 'gpus' | 'ports';

export type Fit =
  | { readonly ok: true; readonly resources: Resource__Output[]; readonly ports: number[]; readonly taken: Resources }
  | { readonly ok: false; readonly short: ShortResource; readonly message: string };

/** The role an offer was made to (its allocation role), '*' when it does not say. */
export function offerRole(offer: Offer__Output): string {
  return offer.allocation_info?.role || '*';
}

/** The offer's resources, less `used` (what earlier tasks placed on it took). */
export function offerResources(offer: Offer__Output, used: Resources = Resources.empty()): Resources {
  return resourcesFromWire(offer.resources, 'offer.resources').minus(used);
}

/** Entries of `name` usable by tasks, reserved ones first. */
function candidates(available: Resources, name: string): Resource[] {
  const list = available.entries.filter((r) => r.name === name && r.disk?.persistence === undefined && r.revocable !== true);
  return list.sort((a, b) => b.reservations.length - a.reservations.length);
}

function takeScalar(available: Resources, name: string, amount: number): Resource[] | undefined {
  let need = toMilli(amount);
  if (need <= 0) return [];
  const out: Resource[] = [];
  for (const r of candidates(available, name)) {
    if (r.kind !== 'scalar' || r.scalar === undefined || r.scalar <= 0) continue;
    const take = Math.min(need, r.scalar);
    out.push({ ...r, scalar: take });
    need -= take;
    if (need === 0) return out;
  }
  return undefined;
}

function takePorts(available: Resources, wanted: number | readonly number[]): { entries: Resource[]; ports: number[] } | undefined {
  const fixed = typeof wanted === 'number' ? [] : wanted.filter((p) => p !== 0);
  const anyCount = typeof wanted === 'number' ? wanted : wanted.filter((p) => p === 0).length;
  if (fixed.length === 0 && anyCount === 0) return { entries: [], ports: [] };
  const entries: Resource[] = [];
  const ports: number[] = [];
  const taken = new Set<number>();
  const ranges = candidates(available, 'ports').filter((r) => r.kind === 'ranges');
  const owner = (port: number): Resource | undefined => ranges.find((r) => (r.ranges ?? []).some((g) => port >= Number(g.begin) && port <= Number(g.end)));
  const add = (r: Resource, port: number): void => {
    taken.add(port);
    ports.push(port);
    entries.push({ ...r, ranges: [{ begin: port, end: port }] });
  };
  for (const p of fixed) {
    const r = owner(p);
    if (r === undefined || taken.has(p)) return undefined;
    add(r, p);
  }
  let left = anyCount;
  for (const r of ranges) {
    for (const g of r.ranges ?? []) {
      for (let p = Number(g.begin); p <= Number(g.end) && left > 0; p++) {
        if (taken.has(p)) continue;
        add(r, p);
        left--;
      }
      if (left === 0) break;
    }
    if (left === 0) break;
  }
  if (left > 0) return undefined;
  // The agent exports a task's ports as PORT0… in ascending order (the order of its resources).
  return { entries, ports: ports.sort((a, b) => a - b) };
}

/**
 * Fits `shape` into the offer's resources left after `used`. On success: the wire resources for the
 * TaskInfo, the host ports in ascending order (= the task's PORT0, PORT1 …), and `taken` (add it to `used` for the next task).
 */
export function fitTask(offer: Offer__Output, shape: TaskShape, used: Resources = Resources.empty()): Fit {
  const available = offerResources(offer, used);
  const parts: Resource[] = [];
  for (const name of ['cpus', 'mem', 'disk', 'gpus'] as const) {
    const amount = name === 'cpus' ? shape.cpus : name === 'mem' ? shape.mem : name === 'disk' ? shape.disk ?? 0 : shape.gpus ?? 0;
    const got = takeScalar(available, name, amount);
    if (got === undefined) {
      return { ok: false, short: name, message: `needs ${name} ${amount}, the offer has ${available.scalar(name) / 1000}` };
    }
    parts.push(...got);
  }
  const ports = takePorts(available, shape.ports ?? 0);
  if (ports === undefined) {
    const wanted = shape.ports ?? 0;
    return { ok: false, short: 'ports', message: typeof wanted === 'number' ? `needs ${wanted} ports, the offer has ${available.rangeCount('ports')}` : `needs ports ${wanted.join(', ')}, the offer has not all of them free` };
  }
  parts.push(...ports.entries);
  const taken = Resources.of(parts);
  return { ok: true, resources: resourcesToWire(taken), ports: ports.ports, taken };
}
