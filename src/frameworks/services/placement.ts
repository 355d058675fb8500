/**
 * Placement of instances on offers: for one offer round, which apps get tasks on which offer
 * (apps with a running deployment first, then by id; at most {@link MAX_LAUNCHES_PER_ROUND} tasks
 * per round), the checks in Marathon's order (role, constraints, resources, ports), the rejected-offer
 * log of each app, and the task records of the tasks placed.
 *
 * {@link placeOffers} adds the new task records to the records (marked to be written) and says what
 * to launch, decline and defer; making the records durable and talking to the master is the
 * scheduler's.
 */
import type { Logger } from '../../common/logging';
import { Resources } from '../../common/resources';
import { attributesFromWire } from '../../common/wire/attributes';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import { checkConstraints, type Constraint, type PlacementCandidate } from '../sdk/constraints';
import { fitTask, offerRole, type Fit } from '../sdk/offer-match';
import { constraintsOf, portRequest, readinessPortIndex } from './app-definition';
import type { AppRecord, ReadinessSpec, TaskRecord } from './model';
import { isKilling } from './planner';
import type { Records } from './records';
import { buildTaskInfo, newTaskId, portsInDefinitionOrder } from './task-builder';

/** Most tasks placed in one offer round (one `offers` call); the rest wait for the next offers. */
export const MAX_LAUNCHES_PER_ROUND = 1000;

/** What placing one instance on an offer came to. */
type Placement = { ok: true; fit: Extract<Fit, { ok: true }> } | { ok: false; reason: string; detail: string };

/** What to do with the offers of a round. */
export interface OfferRound {
  /** Offers with tasks placed on them, and the refuse seconds to launch with. */
  readonly launches: { offer: Offer__Output; infos: TaskInfo[]; refuseSeconds: number }[];
  /** Offers to decline with the configured refuse seconds. */
  readonly declines: string[];
  /** Offers not (fully) looked at because the round's launch budget ran out: wanted again soon. */
  readonly deferred: string[];
}

export interface PlacementContext {
  readonly records: Records;
  readonly options: { readonly refuseSeconds: number };
  /** The role of apps without one. */
  readonly defaultRole: string;
  readonly newId: () => string;
  readonly logger: Logger;
  readonly hasActiveDeployment: (appId: string) => boolean;
}

/**
 * Places the instances the apps need (`records.need`, lowered by what is placed) on `offers`; the
 * tasks placed are added to the records.
 */
export function placeOffers(ctx: PlacementContext, offers: readonly Offer__Output[], now: number): OfferRound {
  const { records } = ctx;
  const candidates = [...records.apps.values()]
    .filter((a) => !a.deleting && (records.need.get(a.id) ?? 0) > 0)
    .sort((a, b) => Number(ctx.hasActiveDeployment(b.id)) - Number(ctx.hasActiveDeployment(a.id)) || (a.id < b.id ? -1 : 1));
  const round: OfferRound = { launches: [], declines: [], deferred: [] };
  let budget = MAX_LAUNCHES_PER_ROUND;
  for (const offer of offers) {
    const offerId = offer.id?.value ?? '';
    // An agent that offers again no longer drains (reactivated, or back from maintenance).
    records.drainingAgents.delete(offer.agent_id?.value ?? '');
    const infos: TaskInfo[] = [];
    let cut = false;
    try {
      const agent = placementOf(offer);
      let used = Resources.empty();
      for (const app of candidates) {
        let left = records.need.get(app.id) ?? 0;
        if (left <= 0) continue;
        if (budget <= 0) {
          cut = true;
          break;
        }
        const constraints = constraintsOf(app.current.def);
        // Where the app's tasks are (those just placed included): built once, and only when needed.
        const placed = constraints.length === 0 ? [] : placedOf(records, app.id);
        let rejection: Extract<Placement, { ok: false }> | undefined;
        let launched = 0;
        while (left > 0 && budget > 0) {
          const placement = place(app, ctx.defaultRole, offer, agent, used, constraints, placed);
          if (!placement.ok) {
            rejection = placement;
            break;
          }
          infos.push(newTask(ctx, app, offer, agent, placement.fit, now));
          if (constraints.length > 0) placed.push(agent);
          used = used.plus(placement.fit.taken);
          left--;
          launched++;
          budget--;
        }
        records.need.set(app.id, left);
        if (left > 0 && rejection === undefined) cut = true;
        if (launched > 0 || rejection !== undefined) {
          records.rejectionLog(app.id).record({
            at: now, offerId, hostname: offer.hostname,
            outcome: launched > 0 ? 'launched' : rejection!.reason,
            ...(launched > 0 ? {} : { detail: rejection!.detail }),
          });
        }
        if (cut) break;
      }
    } catch (err) {
      ctx.logger.warn('cannot use an offer', { offerId, err });
    }
    if (infos.length > 0) round.launches.push({ offer, infos, refuseSeconds: cut ? 0 : ctx.options.refuseSeconds });
    else if (cut) round.deferred.push(offerId);
    else round.declines.push(offerId);
  }
  return round;
}

/** Where the app's live tasks are, for constraints. */
function placedOf(records: Records, appId: string): PlacementCandidate[] {
  const placed: PlacementCandidate[] = [];
  for (const t of records.tasksByApp.get(appId) ?? []) {
    if (!isKilling(t)) placed.push({ hostname: t.hostname, attributes: t.attributes, ...(t.domain === undefined ? {} : { domain: t.domain }) });
  }
  return placed;
}

function placementOf(offer: Offer__Output): PlacementCandidate {
  const region = offer.domain?.fault_domain?.region?.name;
  const zone = offer.domain?.fault_domain?.zone?.name;
  return {
    hostname: offer.hostname,
    attributes: attributesFromWire(offer.attributes, 'offer.attributes'),
    ...(region && zone ? { domain: { region, zone } } : {}),
  };
}

/**
 * Whether one more instance of `app` fits on the offer; the checks in Marathon's order: role,
 * constraints (against `placed`, where the app's tasks are), resources, ports.
 */
function place(app: AppRecord, defaultRole: string, offer: Offer__Output, agent: PlacementCandidate, used: Resources, constraints: readonly Constraint[], placed: readonly PlacementCandidate[]): Placement {
  const def = app.current.def;
  const role = def.role ?? defaultRole;
  const got = offerRole(offer);
  if (got !== role) return { ok: false, reason: 'role', detail: `the offer is for role ${got}, the app runs in ${role}` };
  if (constraints.length > 0) {
    const check = checkConstraints(constraints, agent, placed);
    if (!check.ok) return { ok: false, reason: `constraint:${check.constraint.text}`, detail: check.reason };
  }
  const fit = fitTask(offer, { cpus: def.cpus, mem: def.mem, disk: def.disk, gpus: def.gpus, ports: portRequest(def) }, used);
  if (!fit.ok) return { ok: false, reason: fit.short === 'ports' ? 'ports' : `resources:${fit.short}`, detail: fit.message };
  return { ok: true, fit };
}

/** The instance slot the next task of `app` fills: the next due one of its slot plan (see slots.ts). */
function nextSlot(records: Records, app: AppRecord): number {
  const due = records.slotPlans.get(app.id)?.due.shift();
  if (due !== undefined) return due;
  // Not planned (cannot happen while `need` and the slot plan are set together): the lowest free one.
  const held = new Set(records.tasksOf(app.id).filter((t) => t.configVersion === app.current.configVersion && !isKilling(t)).map((t) => t.instance));
  let i = 0;
  while (held.has(i)) i++;
  return i;
}

/** Adds the record of a task placed on `offer` (marked to be written) and returns what to launch. */
function newTask(ctx: PlacementContext, app: AppRecord, offer: Offer__Output, agent: PlacementCandidate, fit: Extract<Fit, { ok: true }>, now: number): TaskInfo {
  const { def, version, configVersion } = app.current;
  const taskId = newTaskId(app.id, ctx.newId());
  const ports = portsInDefinitionOrder(def, fit.ports);
  const check = def.readinessChecks[0];
  const readiness: ReadinessSpec | undefined = check === undefined ? undefined : {
    protocol: check.protocol,
    port: ports[readinessPortIndex(def, check)] ?? 0,
    path: check.path,
    intervalMs: check.intervalSeconds * 1000,
    timeoutMs: check.timeoutSeconds * 1000,
    statuses: [...check.httpStatusCodesForReady],
  };
  const record: TaskRecord = {
    taskId, appId: app.id, version, configVersion, instance: nextSlot(ctx.records, app),
    agentId: offer.agent_id?.value ?? '', hostname: offer.hostname, attributes: [...agent.attributes],
    ...(agent.domain === undefined ? {} : { domain: agent.domain }),
    ports, state: 'TASK_STAGING', hasHealthCheck: def.healthChecks.length > 0,
    ...(readiness === undefined ? {} : { readiness }),
    ready: false, launchedAt: now, lastStatusAt: now,
  };
  ctx.records.addTask(record);
  ctx.records.markTask(record);
  return buildTaskInfo({ def, version, taskId, offer, resources: fit.resources, ports });
}
