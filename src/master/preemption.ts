/**
 * Priority preemption (docs/preemption.md): after every allocation batch, each gang of a role with
 * preemption enabled (`preemption.roles`) that is still waiting — free resources could not hold it
 * whole — may take resources from what has strictly lower priority: outstanding offers (rescinded)
 * and running tasks (killed with `killGraceMs` of grace, TASK_KILLED with
 * REASON_CONTAINER_PREEMPTED). The victims are chosen by the allocator's pure `planPreemption`
 * (lowest priority first, the fewest tasks, never past a disruption budget); the agents the gang
 * will use are then claimed for it, so what the victims free is offered to the gang first and to
 * nobody else until it is placed or the claim ends (grace + CLAIM_SLACK_MS).
 *
 * One decision per waiting gang at a time: a gang with a live claim is left alone. Each decision
 * is a PREEMPTION event in Watch (and so a line on the dashboard), counted in
 * `berth_preemptions_total` and `berth_preempted_tasks_total`, and logged.
 */
import type { PendingGang } from '../allocator/allocator';
import { planPreemption, type PreemptionAgent, type PreemptionCandidate } from '../allocator/preemption';
import { agentDescription } from './agent-description';
import type { CoreServices, OffersPort, PreemptionOptions, TasksPort } from './core-ports';
import type { OfferEntry, TaskEntry } from './model';

/** How long past the victims' grace a claim holds (their kill, its status update, a cycle). */
export const CLAIM_SLACK_MS = 10_000;

/** Preemption decisions kept for the dashboard's first view (the rest it sees in Watch). */
const RECENT = 20;

export type PreemptionCore = Pick<CoreServices, 'clock' | 'logger' | 'metrics' | 'allocator' | 'agents' | 'frameworks' | 'priorityClasses' | 'publish'> & {
  readonly offers: Pick<OffersPort, 'offers' | 'rescind'>;
  readonly tasks: Pick<TasksPort, 'sendKill'> & { readonly budgets: ReadonlyMap<string, { readonly instances: number; readonly maxUnavailable: number }> };
};

/** One decision, as Watch and the dashboard report it. */
export interface PreemptionRecord {
  readonly at: number;
  readonly frameworkId: string;
  readonly gangId: string;
  readonly role: string;
  readonly priorityClass: string;
  readonly priority: number;
  readonly victims: readonly { readonly frameworkId: string; readonly taskId: string; readonly agentId: string; readonly role: string; readonly priority: number }[];
  readonly offersRescinded: number;
  readonly killGraceMs: number;
  readonly agents: readonly string[];
}

type Victim = { readonly task: TaskEntry } | { readonly offer: OfferEntry };

export class Preemptor {
  private readonly roles: ReadonlySet<string>;
  /** The latest decisions, newest last. */
  readonly recent: PreemptionRecord[] = [];

  constructor(
    private readonly core: PreemptionCore,
    private readonly options: PreemptionOptions | undefined,
  ) {
    this.roles = new Set(options?.roles ?? []);
  }

  /** Preempts for every waiting gang that needs it (called after each allocation batch). */
  afterBatch(): void {
    if (this.roles.size === 0 || this.core.allocator.pendingGangs === undefined) return;
    const now = this.core.clock.now();
    const pending = this.core.allocator.pendingGangs(now);
    // Agents kept for a gang whose victims are still stopping are no one else's to plan with.
    const claimed = new Set(pending.flatMap((p) => p.claimedAgents ?? []));
    for (const p of pending) {
      if (p.claimedUntil !== undefined || !this.roles.has(p.gang.role)) continue;
      const agentIds = this.preemptFor(p, claimed, now);
      for (const id of agentIds) claimed.add(id);
    }
  }

  /** Plans and carries out one decision; returns the agents it claimed (none when nothing was done). */
  private preemptFor(pending: PendingGang, claimed: ReadonlySet<string>, now: number): readonly string[] {
    const { gang } = pending;
    const agents: PreemptionAgent[] = [];
    const candidates: PreemptionCandidate<Victim>[] = [];
    for (const agent of this.core.agents.values()) {
      if (!agent.connected || agent.lifecycle !== 'REGISTERED' || agent.deactivated || agent.drain !== undefined || claimed.has(agent.id)) continue;
      const free = this.core.allocator.available(agent.id);
      if (free === undefined) continue;
      agents.push({ id: agent.id, info: agentDescription(agent), free: free.allocatableTo(gang.role).nonRevocable() });
      for (const task of agent.tasks.values()) {
        if (task.preempted === true || task.recovered || task.priority >= gang.priority) continue;
        candidates.push({ ref: { task }, agentId: agent.id, priority: task.priority, resources: task.resources.allocatableTo(gang.role).nonRevocable(), cost: 1, budget: task.budget?.key, startedAt: task.launchedAt });
      }
    }
    for (const offer of this.core.offers.offers.values()) {
      if (offer.gangId !== undefined || claimed.has(offer.agentId)) continue;
      const fw = this.core.frameworks.get(offer.frameworkId);
      if (fw === undefined) continue;
      const priority = this.core.priorityClasses.valueOr0(fw.info.priorityClass);
      if (priority >= gang.priority) continue;
      candidates.push({ ref: { offer }, agentId: offer.agentId, priority, resources: offer.resources.allocatableTo(gang.role).nonRevocable(), cost: 0, startedAt: offer.createdAt });
    }
    const plan = planPreemption({ gang, agents, candidates, allowance: this.allowance(candidates) });
    if (plan === undefined || plan.victims.length === 0) return [];
    this.carryOut(pending, plan.victims, plan.agents, now);
    return plan.agents;
  }

  /** How many more tasks of each budget group among the candidates may go down now. */
  private allowance(candidates: readonly PreemptionCandidate<Victim>[]): Map<string, number> {
    const up = new Map<string, number>();
    for (const c of candidates) if (c.budget !== undefined && !up.has(c.budget)) up.set(c.budget, 0);
    if (up.size === 0) return up;
    for (const fw of this.core.frameworks.values()) {
      for (const task of fw.tasks.values()) {
        const key = task.budget?.key;
        if (key !== undefined && up.has(key) && task.state === 'TASK_RUNNING' && task.preempted !== true) up.set(key, up.get(key)! + 1);
      }
    }
    const out = new Map<string, number>();
    for (const [key, running] of up) {
      const b = this.core.tasks.budgets.get(key);
      if (b === undefined) continue;
      const down = Math.max(0, b.instances - running);
      out.set(key, Math.max(0, b.maxUnavailable - down));
    }
    return out;
  }

  private carryOut(pending: PendingGang, victims: readonly Victim[], agentIds: readonly string[], now: number): void {
    const { gang } = pending;
    const killGraceMs = this.options!.killGraceMs;
    const priorityClass = gang.priorityClass ?? 'default';
    const message = `preempted for gang "${pending.gangId}" of framework ${pending.frameworkId} (role "${gang.role}", priority class "${priorityClass}" ${gang.priority})`;
    const policy = { grace_period: { nanoseconds: String(BigInt(killGraceMs) * 1_000_000n) } };
    const killed: PreemptionRecord['victims'][number][] = [];
    let offersRescinded = 0;
    this.core.allocator.claimForGang!(pending.frameworkId, pending.gangId, agentIds, now + killGraceMs + CLAIM_SLACK_MS);
    for (const v of victims) {
      if ('offer' in v) {
        this.core.offers.rescind(v.offer.id, 'preempted');
        offersRescinded++;
        continue;
      }
      const task = v.task;
      task.preempted = true;
      this.core.tasks.sendKill(task, policy as never, { reason: 'REASON_CONTAINER_PREEMPTED', message });
      this.core.metrics?.preemptedTasks.inc({ role: task.role });
      killed.push({ frameworkId: task.frameworkId, taskId: task.taskId, agentId: task.agentId, role: task.role, priority: task.priority });
    }
    const record: PreemptionRecord = { at: now, frameworkId: pending.frameworkId, gangId: pending.gangId, role: gang.role, priorityClass, priority: gang.priority, victims: killed, offersRescinded, killGraceMs, agents: agentIds };
    this.recent.push(record);
    if (this.recent.length > RECENT) this.recent.shift();
    this.core.metrics?.preemptions.inc({ role: gang.role });
    this.core.publish('PREEMPTION', { record });
    this.core.logger.info('preemption', { frameworkId: pending.frameworkId, gangId: pending.gangId, role: gang.role, priority: gang.priority, tasks: killed.length, offers: offersRescinded, agents: agentIds.length });
  }
}
