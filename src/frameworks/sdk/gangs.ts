/**
 * Gangs for plugin authors: declare a gang in the demand (`gangDemand`), get its offers as one
 * {@link GangOffer} (`Framework.gangOffers`), and launch every task at once (`planGang` +
 * `SchedulerApi.acceptGang`, or `SchedulerApi.launchGang`). See docs/writing-a-framework.md.
 */
import { Resources } from '../../common/resources';
import type { GangDemand } from '../../generated/berth/v1/GangDemand';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import { fitTask, type TaskShape } from './offer-match';

/** The spread rule of a gang (proto GangSpread). */
export type GangSpreadRule = 'ANY' | 'ONE_PER_AGENT' | 'SAME_ZONE' | { readonly maxPerAgent: number };

/** A gang as a plugin declares it: `count` tasks of `shape` (or several shapes with their counts). */
export interface GangDeclaration {
  /** Unique among the framework's gangs; names the gang in offers and calls. */
  readonly id: string;
  readonly shapes: readonly (TaskShape & { readonly count: number })[];
  /** @default 'ANY' */
  readonly spread?: GangSpreadRule;
  /** One of the master's priority classes (docs/preemption.md). @default the framework's class */
  readonly priorityClass?: string;
}

/** The wire GangDemand for `FrameworkInfo.demand[role].gangs`. */
export function gangDemand(gang: GangDeclaration): GangDemand {
  const spread = gang.spread ?? 'ANY';
  return {
    gang_id: gang.id,
    shapes: gang.shapes.map((s) => ({
      name: gang.id,
      count: s.count,
      resources: [
        { name: 'cpus', value: s.cpus },
        { name: 'mem', value: s.mem },
        ...(s.disk ? [{ name: 'disk', value: s.disk }] : []),
        ...(s.gpus ? [{ name: 'gpus', value: s.gpus }] : []),
        ...(typeof s.ports === 'number' && s.ports > 0 ? [{ name: 'ports', value: s.ports }] : []),
      ],
    })),
    spread: typeof spread === 'string' ? { kind: spread } : { kind: 'MAX_PER_AGENT', max_per_agent: spread.maxPerAgent },
    ...(gang.priorityClass === undefined ? {} : { priority_class: gang.priorityClass }),
  };
}

/** A gang offer: every offer of one held gang (Event.Offers.gangs), to accept or decline whole. */
export interface GangOffer {
  readonly gangId: string;
  readonly role: string;
  /** One offer per agent the gang was placed on. */
  readonly offers: readonly Offer__Output[];
  /** Tasks the gang has. */
  readonly tasks: number;
  /** Epoch ms at which the master rescinds the gang unless it was answered. */
  readonly holdUntilMs: number;
}

/** What to run on one offer of a gang. */
export interface GangLaunch {
  readonly offer: Offer__Output;
  readonly tasks: readonly TaskInfo[];
}

/** Builds the TaskInfo of a gang's task `index` on `offer`, given the resources and ports it fits in. */
export type GangTaskBuilder = (index: number, offer: Offer__Output, fit: { resources: TaskInfo['resources']; ports: number[] }) => TaskInfo;

/**
 * Places `count` tasks of `shape` on the gang's offers (first fit, offer by offer) and builds each
 * with `build(index, offer, fit)`; throws if they do not all fit (the gang was placed for the
 * declared shapes, so this means the shape passed here is not the declared one).
 */
export function planGang(
  gang: GangOffer,
  shape: TaskShape,
  count: number,
  build: GangTaskBuilder,
): GangLaunch[] {
  const out: GangLaunch[] = [];
  let index = 0;
  for (const offer of gang.offers) {
    let used = Resources.empty();
    const tasks: TaskInfo[] = [];
    while (index < count) {
      const fit = fitTask(offer, shape, used);
      if (!fit.ok) break;
      used = used.plus(fit.taken);
      tasks.push({ ...build(index++, offer, { resources: fit.resources, ports: fit.ports }), agent_id: { value: offer.agent_id?.value ?? '' } });
    }
    out.push({ offer, tasks });
  }
  if (index < count) throw new RangeError(`gang "${gang.gangId}": only ${index} of ${count} tasks of the given shape fit its ${gang.offers.length} offers`);
  return out;
}
