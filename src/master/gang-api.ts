import { status as Status } from '@grpc/grpc-js';
import { refuseMillis } from '../allocator/state';
import { filtersFromWire } from '../common/wire';
import type { Call__Output } from '../generated/berth/v1/Call';
import { MasterError } from './errors';
import type { MasterCore } from './master-core';
import type { AgentEntry, FrameworkEntry, OfferEntry } from './model';
import { planAccept, type AcceptPlan } from './validation/accept';
import { repeatedTaskIds, taskSites, type TaskSite } from './validation/accept-task-ids';

/**
 * ACCEPT_GANG and DECLINE_GANG (scheduler.proto): a gang offer is answered as one. An accept is
 * validated whole — coverage of the gang's offers, operation types, task ids across the call, and
 * every task against its own offer (planAccept) — before anything changes, so it launches every
 * task or none; a refused one leaves the gang held as it was.
 */
export function acceptGang(core: MasterCore, fw: FrameworkEntry, call: Call__Output): void {
  const a = call.accept_gang;
  const gangId = a?.gang_id ?? '';
  const gang = outstanding(core, fw, gangId, 'accept_gang');
  const launches = a?.launches ?? [];
  const problems: string[] = [];
  const listed = new Map<string, number>();
  const members = new Set(gang.offerIds);
  launches.forEach((l, i) => {
    const id = l?.offer_id?.value ?? '';
    if (!members.has(id)) problems.push(`accept_gang.launches[${i}].offer_id: offer "${id}" is not an offer of gang "${gangId}"`);
    else if (listed.has(id)) problems.push(`accept_gang.launches[${i}].offer_id: offer "${id}" is listed twice (also launches[${listed.get(id)}])`);
    else listed.set(id, i);
    (l?.operations ?? []).forEach((op, j) => {
      if (op?.type !== 'LAUNCH' && op?.type !== 'LAUNCH_GROUP') problems.push(`accept_gang.launches[${i}].operations[${j}].type: a gang accept may only LAUNCH or LAUNCH_GROUP, got ${String(op?.type)}`);
    });
  });
  const missing = gang.offerIds.filter((id) => !listed.has(id));
  if (missing.length > 0) {
    problems.push(`accept_gang.launches: ${missing.length} of the gang's ${gang.offerIds.length} offers are not listed (${missing.join(', ')}); a gang is accepted whole — list each of its offers once, or DECLINE_GANG`);
  }
  const sites: TaskSite[] = launches.flatMap((l, i) => taskSites(l?.operations ?? []).map((s) => ({ task: s.task, at: `accept_gang.launches[${i}].${s.at}` })));
  const repeated = repeatedTaskIds(sites);
  if (repeated !== undefined) problems.push(repeated);
  if (problems.length > 0) throw refused(core, problems);

  const plans: { offer: OfferEntry; agent: AgentEntry; plan: AcceptPlan }[] = [];
  launches.forEach((l, i) => {
    const offer = core.offers.offers.get(l.offer_id!.value)!;
    const agent = core.agents.get(offer.agentId);
    if (agent === undefined || !agent.connected || agent.sink === undefined) return void problems.push(`accept_gang.launches[${i}]: agent ${offer.agentId} is not connected`);
    const plan = planAccept({
      frameworkId: fw.id,
      principal: fw.info.principal,
      frameworkRoles: new Set(fw.info.roles),
      capabilities: fw.info.capabilities,
      offers: [{ id: offer.id, agentId: offer.agentId, role: offer.role, resources: offer.resources }],
      operations: l.operations ?? [],
      isKnownTask: (taskId) => fw.tasks.has(taskId),
      frameworkUser: fw.info.user,
      priorityClasses: core.priorityClasses,
      authorize: core.authorizer === undefined ? undefined : (action, role, user) => core.allowed(fw.info.principal === undefined ? undefined : { name: fw.info.principal }, action, role, user),
    });
    for (const o of plan.taskOutcomes) problems.push(`accept_gang.launches[${i}]: task "${o.taskId}": ${o.message}`);
    for (const e of plan.operationErrors) problems.push(`accept_gang.launches[${i}].operations[${e.index}] (${e.type}): ${e.message}`);
    if (plan.refused !== undefined) problems.push(`accept_gang.launches[${i}]: ${plan.refused}`);
    plans.push({ offer, agent, plan });
  });
  if (problems.length > 0) throw refused(core, problems);

  core.offers.takeGang(fw.id, gangId);
  core.allocator.acceptGang(fw.id, gangId);
  const filters = filtersFromWire(a?.filters);
  const now = core.clock.now();
  for (const { agent, plan } of plans) {
    launchPlanned(core, fw, agent, plan);
    for (const u of plan.unused) if (!u.resources.isEmpty()) core.allocator.recoverResources(fw.id, agent.id, u.role, u.resources, filters, now);
    core.allocateSoon(agent.id);
  }
  core.logger.info('gang accepted', { frameworkId: fw.id, gangId, agents: plans.length, tasks: gang.tasks });
}

/** DECLINE_GANG: every offer back at once; the gang is not offered again for refuse_seconds. */
export function declineGang(core: MasterCore, fw: FrameworkEntry, call: Call__Output): void {
  const gangId = call.decline_gang?.gang_id ?? '';
  outstanding(core, fw, gangId, 'decline_gang');
  const { offers } = core.offers.takeGang(fw.id, gangId)!;
  const filters = filtersFromWire(call.decline_gang?.filters);
  core.allocator.releaseGang(fw.id, gangId, core.clock.now(), refuseMillis(filters?.refuseSeconds));
  core.metrics?.offersDeclined.inc(offers.length);
  core.allocateSoon();
}

/** Sends an accepted plan's tasks to the agent: plain launches one by one, each LAUNCH_GROUP as one message. */
export function launchPlanned(core: MasterCore, fw: FrameworkEntry, agent: AgentEntry, plan: AcceptPlan): void {
  const groups = new Map<number, AcceptPlan['launches'][number][]>();
  for (const l of plan.launches) {
    if (!l.group) core.tasks.launch(fw, agent, l.task, l.role, l.resources);
    else groups.set(l.index, [...(groups.get(l.index) ?? []), l]);
  }
  for (const members of groups.values()) core.tasks.launchGroup(fw, agent, members[0]!.role, members);
}

function outstanding(core: MasterCore, fw: FrameworkEntry, gangId: string, field: string) {
  if (gangId === '') throw new MasterError(Status.INVALID_ARGUMENT, `${field}.gang_id: must be set (the gang_id of a GangOffer)`);
  const gang = core.offers.gang(fw.id, gangId);
  if (gang === undefined) {
    core.metrics?.invalidCalls.inc({ call: field.toUpperCase(), reason: 'UNKNOWN_GANG' });
    throw new MasterError(Status.NOT_FOUND, `${field}.gang_id: no gang offer "${gangId}" is outstanding for this framework (never offered, already answered, or rescinded — see RESCIND_GANG)`);
  }
  return gang;
}

function refused(core: MasterCore, problems: readonly string[]): MasterError {
  core.metrics?.invalidCalls.inc({ call: 'ACCEPT_GANG', reason: 'INVALID_GANG_ACCEPT' });
  return new MasterError(Status.INVALID_ARGUMENT, `${problems.join('; ')} — nothing was launched; the gang stays offered until its hold ends`);
}
