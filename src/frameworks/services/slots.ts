/**
 * Instance slots and their launch backoff (Kubernetes' CrashLoopBackOff per container, Swarm's restart
 * delay per task, with Marathon's parameters).
 *
 * An **instance slot** is an app's instance index: every task carries one (`TaskRecord.instance`),
 * and at most one task of the app's current config version that is not being killed holds a slot.
 * A replacement takes the slot of the task it replaces — a task that failed leaves a backoff entry
 * in `AppRecord.slots`, and the slots with entries are filled first — and otherwise the lowest free
 * index. So the delay and its growth belong to the slot, not to the app: five tasks failing together
 * are five slots at their first failure, each relaunched at once, instead of one app whose delay grew
 * five times.
 *
 * A slot's delay, by its failures since its last reset:
 * - the 1st relaunches at once (delay 0: as Kubernetes and Swarm restart a container that died);
 * - the 2nd waits `backoffSeconds`, each later one `backoffFactor` times longer, at most
 *   `maxLaunchDelaySeconds` (Marathon's parameters and defaults: 1 s × 1.15 up to 300 s).
 * A slot's entry goes away when the task in it has been healthy for the framework's
 * `backoffResetSeconds` (60 s by default) in a row, when the app gets a new config version (an
 * upgrade, a restart, a rollback: the new tasks are another program), and when the slot is no longer
 * one the app needs (after a scale down).
 *
 * Everything here is pure: the scheduler applies the results to the records.
 */
import type { AppDefinition } from './app-definition';
import type { AppRecord, SlotBackoff, TaskRecord } from './model';
import { isKilling } from './planner';

/** The delay before relaunching a slot that has now failed `failures` times since its last reset. */
export function slotDelayMs(failures: number, def: Pick<AppDefinition, 'backoffSeconds' | 'backoffFactor' | 'maxLaunchDelaySeconds'>): number {
  if (failures <= 1) return 0;
  const cap = def.maxLaunchDelaySeconds * 1000;
  return Math.min(cap, def.backoffSeconds * 1000 * def.backoffFactor ** (failures - 2));
}

/** The slot's entry after one more failure at `now` (`why`: the final state and message). */
export function failedSlot(previous: SlotBackoff | undefined, def: AppDefinition, now: number, why: string): SlotBackoff {
  const failures = (previous?.failures ?? 0) + 1;
  const delayMs = slotDelayMs(failures, def);
  return { failures, delayMs, nextLaunchAt: now + delayMs, reason: why };
}

/** Which slots to fill now and which wait for their backoff, after the planner said how many may launch. */
export interface SlotPlan {
  /** Slots to launch now, in launch order. */
  readonly due: number[];
  /** Slots to launch once their backoff is over (`nextLaunchAt` in the app's `slots`). */
  readonly delayed: number[];
  /** The slots the app still needs (`missing` of them): entries of other slots without a task can go. */
  readonly wanted: ReadonlySet<number>;
}

/**
 * The slots to fill for an app missing `missing` current tasks, of which `launch` may start now
 * (the planner's numbers). Candidates: slots with a backoff entry and no task first (by index),
 * then the lowest free indexes. The first `launch` of them are due unless their backoff runs.
 */
export function planSlots(app: Pick<AppRecord, 'slots'>, current: readonly TaskRecord[], missing: number, launch: number, now: number): SlotPlan {
  const held = new Set<number>();
  for (const t of current) if (!isKilling(t)) held.add(t.instance);
  const candidates: number[] = [];
  const entries = Object.keys(app.slots).map(Number).filter((i) => !held.has(i)).sort((a, b) => a - b);
  for (const i of entries) {
    if (candidates.length >= missing) break;
    candidates.push(i);
  }
  const taken = new Set(candidates);
  for (let i = 0; candidates.length < missing; i++) if (!held.has(i) && !taken.has(i)) candidates.push(i);
  const due: number[] = [];
  const delayed: number[] = [];
  for (const i of candidates.slice(0, launch)) ((app.slots[i]?.nextLaunchAt ?? 0) <= now ? due : delayed).push(i);
  return { due, delayed, wanted: new Set(candidates) };
}

/**
 * Drops the backoff entries that are over: the slot's current task has been healthy for
 * `resetMs`, or the slot holds no task and is not wanted. Returns whether anything was dropped.
 */
export function settleSlots(app: AppRecord, current: readonly TaskRecord[], wanted: ReadonlySet<number>, resetMs: number, now: number): boolean {
  const bySlot = new Map<number, TaskRecord>();
  for (const t of current) if (!isKilling(t)) bySlot.set(t.instance, t);
  let changed = false;
  for (const key of Object.keys(app.slots)) {
    const i = Number(key);
    const t = bySlot.get(i);
    const stable = t !== undefined && t.healthySince !== undefined && now - t.healthySince >= resetMs;
    if (stable || (t === undefined && !wanted.has(i))) {
      delete app.slots[i];
      changed = true;
    }
  }
  return changed;
}

/** A slot waiting for its backoff, as the API shows it. */
export interface DelayedSlot {
  readonly instance: number;
  /** Failures of the slot since its last reset. */
  readonly failures: number;
  readonly delaySeconds: number;
  /** Epoch ms at which the slot may launch again. */
  readonly launchAt: number;
  /** The failure that started the delay: final state and message. */
  readonly reason: string;
}

/** The app's `delayed` slots with their entries, soonest first. */
export function delayedSlots(app: Pick<AppRecord, 'slots'>, delayed: readonly number[]): DelayedSlot[] {
  return delayed
    .map((i) => ({ i, e: app.slots[i] }))
    .filter((x): x is { i: number; e: SlotBackoff } => x.e !== undefined)
    .map(({ i, e }) => ({ instance: i, failures: e.failures, delaySeconds: e.delayMs / 1000, launchAt: e.nextLaunchAt, reason: e.reason }))
    .sort((a, b) => a.launchAt - b.launchAt || a.instance - b.instance);
}

/**
 * Gives every task without an instance index (records written before there were slots) a free one
 * of its app's config version, oldest task first. Returns the tasks that got one.
 */
export function assignMissingSlots(tasks: readonly TaskRecord[]): TaskRecord[] {
  const held = new Map<string, Set<number>>();
  const key = (t: TaskRecord): string => `${t.appId}\u0000${t.configVersion}`;
  for (const t of tasks) {
    if (typeof t.instance !== 'number') continue;
    let s = held.get(key(t));
    if (s === undefined) held.set(key(t), (s = new Set()));
    s.add(t.instance);
  }
  const assigned: TaskRecord[] = [];
  for (const t of [...tasks].filter((x) => typeof x.instance !== 'number').sort((a, b) => a.launchedAt - b.launchedAt || (a.taskId < b.taskId ? -1 : 1))) {
    let s = held.get(key(t));
    if (s === undefined) held.set(key(t), (s = new Set()));
    let i = 0;
    while (s.has(i)) i++;
    s.add(i);
    (t as { instance: number }).instance = i;
    assigned.push(t);
  }
  return assigned;
}
