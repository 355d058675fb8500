/**
 * Checkers over a fault scenario's observations (Jepsen-style: a history, ground truth, and the
 * registry's write log), each returning the violations it found — an empty list is a pass. They
 * are pure, and unit-tested against histories that break each rule (test/unit/fault/checkers.test.ts).
 *
 * - noTaskLost: every task a framework launched either reached a state the framework saw as
 *   final, or is running (STARTING or RUNNING) in the framework's latest view, TASK_RUNNING in the
 *   leader's view and in the last ground-truth sample, and was answered by the final reconciliation.
 * - noUnexpectedContainers: nothing runs at the end that its framework believes ended (orphans).
 * - atMostOneCopy: no ground-truth sample has two running containers of one task id, nor (with
 *   `runOf`) two running tasks of one job run.
 * - orderedUpdates: per task, the agent's updates (those with a uuid) never go back (STAGING <
 *   STARTING < RUNNING < terminal) and nothing new follows a terminal one; no update at all says a
 *   task is alive after one said it ended for good (LOST and UNREACHABLE may be followed by RUNNING).
 * - onlyRealEnds: a task the agent saw end (an update with a uuid in a terminal state) was never
 *   told another end by the master — no reconciliation answer or other master-made update in a
 *   final state (GONE, UNKNOWN, FINISHED …) or a reconciliation's TASK_LOST that differs from the
 *   real one. (TASK_LOST of an agent declared unreachable stays allowed: it is not always terminal.)
 * - noOverAllocation: in every allocation sample, each agent's allocated cpus/mem ≤ its total; and
 *   in every ground-truth sample the tasks running on an agent fit in its total.
 * - fencedRegistry: the registry stream's epochs never go back in term, one term has one writer,
 *   and every write came from the holder of the latest epoch before it.
 * - converged: the cluster converged within the stated bound after the last fault.
 * - backAfterFailover: after each leader failover, agents and frameworks were back on the new leader
 *   within the stated bound of its first answer as leader.
 */
import { FINAL_STATES, TERMINAL_STATES, type AllocationSample, type HistoryEntry, type RegistryRecord, type Scalars, type TruthSample } from './history';

export interface Observations {
  readonly history: readonly HistoryEntry[];
  readonly truth: readonly TruthSample[];
  readonly allocations: readonly AllocationSample[];
  readonly registry: readonly RegistryRecord[];
  /** The leader's view of every task at the end: task id → state. */
  readonly leaderTasks: ReadonlyMap<string, string>;
  /** When the final reconciliation was asked for (answers count only after it). */
  readonly finalReconcileAt: number;
  /** Agent hostname → total resources (for the ground-truth allocation check). */
  readonly agentTotals: ReadonlyMap<string, Scalars>;
  /** Task id → resources it was launched with. */
  readonly taskResources: (taskId: string) => Scalars;
  readonly convergence?: { readonly ms: number; readonly boundMs: number };
  /** Per leader failover: from the new leader's first answer as leader until every running agent and framework was back on it. */
  readonly rejoin?: { readonly ms: readonly number[]; readonly boundMs: number };
  /** Task id → its job run (e.g. `job.run`), for the one-task-per-run rule. */
  readonly runOf?: (taskId: string) => string | undefined;
}

export interface CheckResult {
  readonly checker: string;
  readonly violations: readonly string[];
}

const RANK: Record<string, number> = { TASK_STAGING: 0, TASK_STARTING: 1, TASK_RUNNING: 2 };
const rank = (state: string): number => RANK[state] ?? (TERMINAL_STATES.has(state) ? 3 : 2);

function updatesByTask(history: readonly HistoryEntry[]): Map<string, HistoryEntry[]> {
  const out = new Map<string, HistoryEntry[]>();
  for (const e of history) {
    if (e.kind !== 'update') continue;
    const key = `${e.fw}/${e.taskId}`;
    let list = out.get(key);
    if (list === undefined) out.set(key, (list = []));
    list.push(e);
  }
  return out;
}

export function noTaskLost(o: Observations): string[] {
  const out: string[] = [];
  const updates = updatesByTask(o.history);
  const last = o.truth[o.truth.length - 1];
  for (const launch of o.history.filter((e) => e.kind === 'launch')) {
    const seen = updates.get(`${launch.fw}/${launch.taskId}`) ?? [];
    const latest = seen[seen.length - 1];
    if (latest === undefined) {
      out.push(`${launch.taskId} (${launch.fw}): launched, never heard of again`);
      continue;
    }
    if (FINAL_STATES.has(latest.state!)) continue;
    if (latest.state === 'TASK_LOST') {
      // Only lost when it really is not running anywhere.
      if ((last?.running.get(launch.taskId!) ?? 0) > 0) out.push(`${launch.taskId}: framework's last word is TASK_LOST but it runs`);
      continue;
    }
    const problems: string[] = [];
    // STARTING stays the framework's word while it has not acknowledged that update: the agent resends
    // it before anything newer, and reconciliation answers with the update being delivered.
    if (latest.state !== 'TASK_RUNNING' && latest.state !== 'TASK_STARTING') problems.push(`framework's last word is ${latest.state}`);
    if (o.leaderTasks.get(launch.taskId!) !== 'TASK_RUNNING') problems.push(`leader says ${o.leaderTasks.get(launch.taskId!) ?? 'nothing'}`);
    if ((last?.running.get(launch.taskId!) ?? 0) === 0) problems.push('no container runs it');
    if (!seen.some((e) => e.t >= o.finalReconcileAt && e.reason === 'REASON_RECONCILIATION')) problems.push('not answered by the final reconciliation');
    if (problems.length > 0) out.push(`${launch.taskId} (${launch.fw}): ${problems.join('; ')}`);
  }
  return out;
}

export function noUnexpectedContainers(o: Observations): string[] {
  const last = o.truth[o.truth.length - 1];
  if (last === undefined) return ['no ground-truth sample'];
  const updates = updatesByTask(o.history);
  const launched = new Map(o.history.filter((e) => e.kind === 'launch').map((e) => [e.taskId!, e.fw]));
  const out: string[] = [];
  for (const [taskId, n] of last.running) {
    if (n === 0) continue;
    const fw = launched.get(taskId);
    if (fw === undefined) {
      out.push(`${taskId}: runs, but no framework launched it`);
      continue;
    }
    const seen = updates.get(`${fw}/${taskId}`) ?? [];
    const latest = seen[seen.length - 1];
    if (latest !== undefined && TERMINAL_STATES.has(latest.state!)) out.push(`${taskId}: runs, but its framework saw ${latest.state}`);
  }
  return out;
}

export function atMostOneCopy(o: Observations): string[] {
  const out = new Set<string>();
  for (const s of o.truth) {
    const runs = new Map<string, string[]>();
    for (const [taskId, n] of s.running) {
      if (n > 1) out.add(`${taskId}: ${n} copies running at ${new Date(s.t).toISOString()}`);
      const run = n > 0 ? o.runOf?.(taskId) : undefined;
      if (run !== undefined) runs.set(run, [...(runs.get(run) ?? []), taskId]);
    }
    for (const [run, tasks] of runs) if (tasks.length > 1) out.add(`job run ${run}: tasks ${tasks.join(', ')} running together`);
  }
  return [...out];
}

export function orderedUpdates(o: Observations): string[] {
  const out: string[] = [];
  for (const [key, list] of updatesByTask(o.history)) {
    const uuids = new Set<string>();
    let agentRank = -1;
    let agentTerminal: string | undefined;
    let ended: string | undefined;
    for (const e of list) {
      const state = e.state!;
      if (ended !== undefined && !TERMINAL_STATES.has(state)) {
        out.push(`${key}: ${state} after ${ended}`);
      }
      if (FINAL_STATES.has(state)) ended = state;
      if (e.uuid === undefined || e.uuid === '' || uuids.has(e.uuid)) continue; // duplicates and uuid-less updates
      uuids.add(e.uuid);
      if (agentTerminal !== undefined) out.push(`${key}: new update ${state} after the agent's ${agentTerminal}`);
      if (rank(state) < agentRank) out.push(`${key}: ${state} after a later state`);
      agentRank = Math.max(agentRank, rank(state));
      if (TERMINAL_STATES.has(state)) agentTerminal = state;
    }
  }
  return out;
}

export function onlyRealEnds(o: Observations): string[] {
  const out: string[] = [];
  for (const [key, list] of updatesByTask(o.history)) {
    const real = list.find((e) => e.uuid !== undefined && e.uuid !== '' && TERMINAL_STATES.has(e.state!))?.state;
    if (real === undefined) continue;
    for (const e of list) {
      if (e.uuid !== undefined && e.uuid !== '') continue; // the agent's own
      const state = e.state!;
      // A TASK_LOST saying the agent is unreachable is Mesos's "lost contact" for frameworks that
      // are not partition-aware (the task may come back, and is then killed), not a claimed end.
      const claimsEnd = FINAL_STATES.has(state) || (state === 'TASK_LOST' && e.reason === 'REASON_RECONCILIATION' && e.unreachable !== true);
      if (claimsEnd && state !== real) out.push(`${key}: told ${state} (${e.reason}: ${e.message ?? ''}) but it ended ${real}`);
    }
  }
  return out;
}

export function noOverAllocation(o: Observations): string[] {
  const out = new Set<string>();
  const EPS = 1e-6;
  for (const s of o.allocations) {
    for (const a of s.agents) {
      if (a.allocated.cpus > a.total.cpus + EPS || a.allocated.mem > a.total.mem + EPS) {
        out.add(`${a.hostname}: leader allocated cpus ${a.allocated.cpus}/${a.total.cpus}, mem ${a.allocated.mem}/${a.total.mem}`);
      }
    }
  }
  for (const s of o.truth) {
    for (const [hostname, tasks] of s.byAgent) {
      const total = o.agentTotals.get(hostname);
      if (total === undefined) continue;
      const used = tasks.reduce((acc, t) => ({ cpus: acc.cpus + o.taskResources(t).cpus, mem: acc.mem + o.taskResources(t).mem }), { cpus: 0, mem: 0 });
      if (used.cpus > total.cpus + EPS || used.mem > total.mem + EPS) out.add(`${hostname}: running tasks use cpus ${used.cpus}/${total.cpus}, mem ${used.mem}/${total.mem}`);
    }
  }
  return [...out];
}

export function fencedRegistry(o: Observations): string[] {
  const out: string[] = [];
  let current: RegistryRecord['epoch'];
  const termOwner = new Map<number, string>();
  for (const r of o.registry) {
    if (r.epoch !== undefined) {
      if (current !== undefined && r.epoch.term < current.term) out.push(`seq ${r.seq}: epoch of term ${r.epoch.term} after term ${current.term}`);
      const owner = termOwner.get(r.epoch.term);
      if (owner !== undefined && owner !== r.epoch.leaderId) out.push(`seq ${r.seq}: term ${r.epoch.term} claimed by ${owner} and ${r.epoch.leaderId}`);
      termOwner.set(r.epoch.term, r.epoch.leaderId);
      current = r.epoch;
      continue;
    }
    if (current === undefined) out.push(`seq ${r.seq}: write to ${r.key} before any epoch`);
    else if (r.instance !== current.instance) out.push(`seq ${r.seq}: write to ${r.key} by ${r.instance}, but the epoch is ${current.leaderId}'s (${current.instance}, term ${current.term})`);
  }
  return out;
}

export function converged(o: Observations): string[] {
  if (o.convergence === undefined) return [];
  return o.convergence.ms <= o.convergence.boundMs ? [] : [`converged after ${o.convergence.ms} ms, bound ${o.convergence.boundMs} ms`];
}

export function backAfterFailover(o: Observations): string[] {
  if (o.rejoin === undefined) return [];
  const { ms, boundMs } = o.rejoin;
  return ms.flatMap((m, i) => (m <= boundMs ? [] : [`failover ${i + 1}: agents and frameworks back ${m} ms after the new leader served, bound ${boundMs} ms`]));
}

/** Every checker over `o`. */
export function checkAll(o: Observations): CheckResult[] {
  return [
    { checker: 'no task lost', violations: noTaskLost(o) },
    { checker: 'no unexpected containers', violations: noUnexpectedContainers(o) },
    { checker: 'at most one copy', violations: atMostOneCopy(o) },
    { checker: 'ordered updates', violations: orderedUpdates(o) },
    { checker: 'only real ends', violations: onlyRealEnds(o) },
    { checker: 'no over-allocation', violations: noOverAllocation(o) },
    { checker: 'fenced registry', violations: fencedRegistry(o) },
    { checker: 'converged', violations: converged(o) },
    { checker: 'back after failover', violations: backAfterFailover(o) },
  ];
}

/** The failures of `results` as one readable text ('' when all passed). */
export function describeFailures(results: readonly CheckResult[]): string {
  return results.filter((r) => r.violations.length > 0)
    .map((r) => `${r.checker}: ${r.violations.length} violation(s)\n  ${r.violations.slice(0, 20).join('\n  ')}`).join('\n');
}
