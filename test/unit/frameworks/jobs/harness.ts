/**
 * Test harness for the jobs framework: a FakeClock, a MemoryKeyValueStore, a recording fake
 * SchedulerApi, hand-built wire offers and status updates, and a restart helper that builds a new
 * framework instance over the same store (what a crashed and restarted framework process sees).
 */
import { FakeClock } from '../../../../src/common/clock';
import { noGangs } from '../no-gangs';
import { memoryLogger, type MemoryLogger } from '../../../../src/common/logging';
import { Resources } from '../../../../src/common/resources';
import { resourcesToWire } from '../../../../src/common/wire';
import type { FrameworkInfo } from '../../../../src/generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../../../src/generated/berth/v1/Offer';
import type { Operation } from '../../../../src/generated/berth/v1/Operation';
import type { TaskInfo } from '../../../../src/generated/berth/v1/TaskInfo';
import type { TaskStatus__Output } from '../../../../src/generated/berth/v1/TaskStatus';
import type { SchedulerApi } from '../../../../src/frameworks/sdk/framework';
import { MemoryKeyValueStore, type KeyValueStore } from '../../../../src/frameworks/sdk/store';
import { createFramework, type JobsFramework } from '../../../../src/frameworks/jobs';
import type { TaskState } from '../../../../src/frameworks/jobs/model';

/** Everything a SchedulerApi call did, in order. */
export type SchedulerCall =
  | { kind: 'launch'; offerId: string; tasks: TaskInfo[]; refuseSeconds?: number }
  | { kind: 'accept'; offerIds: string[]; operations: Operation[] }
  | { kind: 'decline'; offerIds: string[]; refuseSeconds?: number }
  | { kind: 'kill'; taskId: string; agentId?: string; gracePeriodMs?: number }
  | { kind: 'revive' }
  | { kind: 'suppress' }
  | { kind: 'reconcile'; tasks: { taskId: string; agentId?: string }[] }
  | { kind: 'updateFramework'; info: Partial<FrameworkInfo> }
  | { kind: 'teardown' };

/** A SchedulerApi that records calls. `launchedTaskIds` accumulates over the fake's whole life. */
export class FakeScheduler implements SchedulerApi {
  frameworkId: string | undefined = 'fw-1';
  connected = true;
  readonly calls: SchedulerCall[] = [];

  accept(offerIds: readonly string[], operations: readonly Operation[]): void {
    this.calls.push({ kind: 'accept', offerIds: [...offerIds], operations: [...operations] });
  }
  launch(offer: Offer__Output, tasks: readonly TaskInfo[], refuseSeconds?: number): void {
    this.calls.push({ kind: 'launch', offerId: offer.id?.value ?? '', tasks: [...tasks], ...(refuseSeconds !== undefined ? { refuseSeconds } : {}) });
  }
  // This framework declares no gangs: a gang call fails the test.
  readonly acceptGang = noGangs.acceptGang;
  readonly launchGang = noGangs.launchGang;
  readonly declineGang = noGangs.declineGang;
  decline(offerIds: readonly string[], refuseSeconds?: number): void {
    this.calls.push({ kind: 'decline', offerIds: [...offerIds], ...(refuseSeconds !== undefined ? { refuseSeconds } : {}) });
  }
  kill(taskId: string, agentId?: string, gracePeriodMs?: number): void {
    this.calls.push({ kind: 'kill', taskId, ...(agentId !== undefined ? { agentId } : {}), ...(gracePeriodMs !== undefined ? { gracePeriodMs } : {}) });
  }
  revive(): void {
    this.calls.push({ kind: 'revive' });
  }
  suppress(): void {
    this.calls.push({ kind: 'suppress' });
  }
  reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[]): void {
    this.calls.push({ kind: 'reconcile', tasks: tasks.map((t) => ({ ...t })) });
  }
  updateFramework(info: Partial<FrameworkInfo>): void {
    this.calls.push({ kind: 'updateFramework', info });
  }
  async teardown(): Promise<void> {
    this.calls.push({ kind: 'teardown' });
  }

  /** Task ids of every LAUNCH, in order. */
  get launchedTaskIds(): string[] {
    return this.calls.flatMap((c) => (c.kind === 'launch' ? c.tasks.map((t) => t.task_id?.value ?? '') : []));
  }
  get launchedTasks(): TaskInfo[] {
    return this.calls.flatMap((c) => (c.kind === 'launch' ? c.tasks : []));
  }
  get killedTaskIds(): string[] {
    return this.calls.flatMap((c) => (c.kind === 'kill' ? [c.taskId] : []));
  }
  get declinedOfferIds(): string[] {
    return this.calls.flatMap((c) => (c.kind === 'decline' ? c.offerIds : []));
  }
  get reconciled(): { taskId: string; agentId?: string }[] {
    return this.calls.flatMap((c) => (c.kind === 'reconcile' ? c.tasks : []));
  }
  /** The last revive/suppress call, if any. */
  get offerInterest(): 'revive' | 'suppress' | undefined {
    const last = [...this.calls].reverse().find((c) => c.kind === 'revive' || c.kind === 'suppress');
    return last?.kind as 'revive' | 'suppress' | undefined;
  }
  clear(): void {
    this.calls.length = 0;
  }
}

let offerSeq = 0;

/** A wire offer, as the driver hands it to `offers`. */
export function offer(opts: { agent?: string; hostname?: string; resources?: string; role?: string; attributes?: Record<string, string> } = {}): Offer__Output {
  const agent = opts.agent ?? 'agent-1';
  return {
    id: { value: `offer-${++offerSeq}` },
    framework_id: { value: 'fw-1' },
    agent_id: { value: agent },
    hostname: opts.hostname ?? `${agent}.example`,
    allocation_info: { role: opts.role ?? '*' },
    resources: resourcesToWire(Resources.parse(opts.resources ?? 'cpus:4;mem:4096;ports:[31000-31010]')),
    attributes: Object.entries(opts.attributes ?? {}).map(([name, value]) => ({ name, type: 'TEXT', text: { value }, value: 'text' as const })),
    domain: null,
    unavailability: null,
    executor_ids: [],
    gang_id: '',
  } as Offer__Output;
}

/** A wire status update. */
export function status(taskId: string, state: TaskState, extra: Partial<TaskStatus__Output> = {}): TaskStatus__Output {
  return {
    task_id: { value: taskId },
    state,
    message: '',
    source: 'SOURCE_EXECUTOR',
    reason: 'REASON_UNSPECIFIED',
    data: Buffer.alloc(0),
    agent_id: { value: 'agent-1' },
    executor_id: null,
    timestamp: 0,
    uuid: Buffer.alloc(0),
    labels: null,
    container_status: null,
    unreachable_time: null,
    ...extra,
  } as TaskStatus__Output;
}

export interface Harness {
  readonly clock: FakeClock;
  readonly store: KeyValueStore;
  readonly scheduler: FakeScheduler;
  readonly logger: MemoryLogger;
  framework: JobsFramework;
  /** Moves the fake clock by `ms` in steps of `stepMs`, letting queued work run after each step. */
  advance(ms: number, stepMs?: number): Promise<void>;
  /** Moves the clock to the absolute time `at` (epoch ms). */
  advanceTo(at: number, stepMs?: number): Promise<void>;
  /** A new framework instance over the same store and clock (the old one is stopped first). */
  restart(opts?: { scheduler?: FakeScheduler }): Promise<JobsFramework>;
  /** Stops the framework; checks no timers are left behind. */
  close(): Promise<void>;
}

export async function startHarness(opts: { start?: number | string; options?: Record<string, unknown>; store?: KeyValueStore } = {}): Promise<Harness> {
  const start = typeof opts.start === 'string' ? Date.parse(opts.start) : opts.start ?? Date.parse('2026-01-05T00:00:00Z');
  const clock = new FakeClock(start);
  const store = opts.store ?? new MemoryKeyValueStore();
  const logger = memoryLogger('debug');
  let scheduler = new FakeScheduler();
  const make = async (): Promise<JobsFramework> =>
    (await createFramework({ clock, logger, store, scheduler, options: opts.options ?? {} })) as JobsFramework;
  const h: Harness = {
    clock,
    store,
    get scheduler() {
      return scheduler;
    },
    logger,
    framework: await make(),
    async advance(ms, stepMs = 60_000) {
      await h.advanceTo(clock.now() + ms, stepMs);
    },
    async advanceTo(at, stepMs = 60_000) {
      await h.framework.idle();
      while (clock.now() < at) {
        clock.advance(Math.min(stepMs, at - clock.now()));
        await h.framework.idle();
      }
    },
    async restart(o = {}) {
      await h.framework.stop();
      if (o.scheduler !== undefined) scheduler = o.scheduler;
      h.framework = await make();
      return h.framework;
    },
    async close() {
      await h.framework.stop();
      expect(clock.pending).toBe(0);
    },
  };
  return h;
}

/** The PUT body of a simple job; `extra` is merged at the top level and `run` into the run spec. */
export function jobDef(id: string, extra: Record<string, unknown> = {}, run: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, ...extra, run: { cmd: 'echo hi', cpus: 1, mem: 128, ...run } };
}
