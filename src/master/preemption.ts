/**
 * Priority preemption (docs/preemption.md): after every allocation batch, what waits in a role with
 * preemption enabled (`preemption.roles`) may take resources from what has strictly lower priority:
 * a gang that free resources could not hold whole, or a framework's plain demand (its declared
 * task shapes, when the batch left it without any offer in the role). Victims are outstanding
 * offers (rescinded) and running tasks (killed with `killGraceMs` of grace, TASK_KILLED with
 * REASON_CONTAINER_PREEMPTED), chosen by the allocator's pure `planPreemption` (lowest priority
 * first, the fewest tasks, never past a disruption budget). The agents the demander will use are
 * then claimed for it, so what the victims free is offered to it first and to nobody else until it
 * takes it or the claim ends (grace + CLAIM_SLACK_MS).
 *
 * One decision per demander at a time: a demander with a live claim is left alone, and agents under
 * any live claim are not planned with. Each decision is a PREEMPTION event in Watch (and so a line
 * on the dashboard), counted in `berth_preemptions_total` and `berth_preempted_tasks_total`, and logged.
 */
import { compileGang, type CompiledGang } from '../allocator/gangs';
import { planPreemption, type PreemptionAgent, type PreemptionCandidate } from '../allocator/preemption';
import { agentDescription } from './agent-description';
import type { CoreServices, OffersPort, PreemptionOptions, TasksPort } from './core-ports';
import type { OfferEntry, TaskEntry } from './model';

/** How long past the victims' grace a claim holds (their kill, its status update, a cycle). */
export const CLAIM_SLACK_MS = 10_000;

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

/** What preemption may be done for: a waiting gang, or a framework's plain demand (no gangId) as a gang of ANY spread. */
interface Demander {
  readonly frameworkId: string;
  readonly gangId?: string;
  readonly gang: CompiledGang;
}

/** Tasks one plain-demand decision is made for at most. */
const MAX_DEMAND_TASKS = 256;

const demanderKey = (frameworkId: string, gangId: string | undefined, role: string) => (gangId === undefined ? `demand ${frameworkId} ${role}` : `gang ${frameworkId} ${gangId}`);

function scaled(q: ReadonlyMap<string, number>, n: number): Map<string, number> {
  return new Map([...q].map(([name, v]) => [name, v * n]));
}

/** After a decision found nothing to take, the same demander is not planned for again this long. */
export const RETRY_AFTER_MS = 5000;

export class Preemptor {
  private readonly roles: ReadonlySet<string>;
  /** Demanders a plan found no victims for, until when they are left alone. */
  private readonly quiet = new Map<string, number>();

  constructor(
    private readonly core: PreemptionCore,
    private readonly options: PreemptionOptions | undefined,
  ) {
    this.roles = new Set(options?.roles ?? []);
  }

  /** Preempts for every waiting gang and starving demand that needs it (called after each allocation batch). */
  afterBatch(): void {
    const allocator = this.core.allocator;
    if (this.roles.size === 0 || allocator.pendingGangs === undefined || allocator.claims === undefined) return;
    const now = this.core.clock.now();
    const claims = allocator.claims(now);
    // Agents kept for a demander whose victims are still stopping are no one else's to plan with.
    const claimed = new Set(claims.flatMap((c) => c.agentIds));
    const busy = new Set(claims.map((c) => demanderKey(c.frameworkId, c.gangId, c.role)));
    const lowest = this.core.priorityClasses.lowest();
    for (const [key, until] of this.quiet) if (until <= now) this.quiet.delete(key);
    const decide = (d: Demander) => {
      const key = demanderKey(d.frameworkId, d.gangId, d.gang.role);
      if (d.gang.priority <= lowest || busy.has(key) || this.quiet.has(key)) return; // nothing can be lower, or already decided
      const taken = this.preemptFor(d, claimed, now);
      if (taken.length === 0) this.quiet.set(key, now + RETRY_AFTER_MS);
      for (const id of taken) claimed.add(id);
    };
    for (const p of allocator.pendingGangs(now)) {
      if (p.claimedUntil === undefined && this.roles.has(p.gang.role)) decide({ frameworkId: p.frameworkId, gangId: p.gangId, gang: p.gang });
    }
    for (const d of this.starvingDemand()) decide(d);
  }

  /**
   * Plain demand that got nothing: per connected framework and preemption role it is subscribed to
   * (not suppressed), its declared task shapes with pending tasks, when it holds no offer in the
   * role. Each shape becomes a gang of its pending count (spread ANY) at the framework's priority;
   * `preemptFor` asks for fewer when that many cannot be freed.
   */
  private *starvingDemand(): Iterable<Demander> {
    for (const fw of this.core.frameworks.values()) {
      if (!fw.connected) continue;
      for (const role of fw.info.roles) {
        const shapes = fw.info.description.demand?.[role];
        if (!this.roles.has(role) || fw.suppressed.has(role) || shapes === undefined || shapes.length === 0) continue;
        if ([...fw.offers].some((id) => this.core.offers.offers.get(id)?.role === role)) continue;
        const priority = this.core.priorityClasses.valueOr0(fw.info.priorityClass);
        for (const [i, shape] of shapes.entries()) {
          const count = Math.min(shape.count ?? 1, MAX_DEMAND_TASKS);
          if (count < 1) continue;
          yield { frameworkId: fw.id, gang: compileGang({ id: `demand/${role}/${i}`, shapes: [{ ...shape, count }], priority, priorityClass: fw.info.priorityClass }, role, `demand.${role}[${i}]`) };
          break; // one shape per framework and role per batch: what it frees is claimed for the whole demand
        }
      }
    }
  }

  /** Plans and carries out one decision; returns the agents it claimed (none when nothing was done). */
  private preemptFor(demander: Demander, claimed: ReadonlySet<string>, now: number): readonly string[] {
    const { gang } = demander;
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
    const allowance = this.allowance(candidates);
    let plan = planPreemption({ gang, agents, candidates, allowance });
    // Plain demand is not all or nothing: ask for half as many tasks until some can be freed.
    for (let n = gang.tasks >> 1; plan === undefined && demander.gangId === undefined && n >= 1; n >>= 1) {
      plan = planPreemption({ gang: { ...gang, shapes: [{ ...gang.shapes[0]!, count: n }], tasks: n, need: scaled(gang.shapes[0]!.quantities, n) }, agents, candidates, allowance });
    }
    if (plan === undefined || plan.victims.length === 0) return [];
    this.carryOut(demander, plan.victims, plan.agents, now);
    return plan.agents;
  }

  /** How many more tasks of each budget group among the candidates may go down now. */
  private allowance(candidates: readonly PreemptionCandidate<Victim>[]): Map<string, number> {
    const up = new Map<string, number>();
    const owners = new Set<string>(); // a group's tasks are all of one framework
    for (const c of candidates) {
      if (c.budget === undefined || up.has(c.budget)) continue;
      up.set(c.budget, 0);
      if ('task' in c.ref) owners.add(c.ref.task.frameworkId);
    }
    if (up.size === 0) return up;
    for (const id of owners) {
      for (const task of this.core.frameworks.get(id)?.tasks.values() ?? []) {
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

  private carryOut(demander: Demander, victims: readonly Victim[], agentIds: readonly string[], now: number): void {
    const { gang, gangId } = demander;
    const killGraceMs = this.options!.killGraceMs;
    const priorityClass = gang.priorityClass ?? 'default';
    const what = gangId === undefined ? `pending tasks` : `gang "${gangId}"`;
    const message = `preempted for ${what} of framework ${demander.frameworkId} (role "${gang.role}", priority class "${priorityClass}" ${gang.priority})`;
    const policy = { grace_period: { nanoseconds: String(BigInt(killGraceMs) * 1_000_000n) } };
    const killed: PreemptionRecord['victims'][number][] = [];
    let offersRescinded = 0;
    const until = now + killGraceMs + CLAIM_SLACK_MS;
    if (gangId === undefined) this.core.allocator.claimForDemand!(demander.frameworkId, gang.role, agentIds, until);
    else this.core.allocator.claimForGang!(demander.frameworkId, gangId, agentIds, until);
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
    const record: PreemptionRecord = { at: now, frameworkId: demander.frameworkId, gangId: gangId ?? '', role: gang.role, priorityClass, priority: gang.priority, victims: killed, offersRescinded, killGraceMs, agents: agentIds };
    this.core.metrics?.preemptions.inc({ role: gang.role });
    this.core.publish('PREEMPTION', { record });
    this.core.logger.info('preemption', { frameworkId: demander.frameworkId, gangId, role: gang.role, priority: gang.priority, tasks: killed.length, offers: offersRescinded, agents: agentIds.length });
  }
}
