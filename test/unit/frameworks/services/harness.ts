/**
 * Test support for the services framework: a recording SchedulerApi, hand-built offers and status
 * updates, and a harness that runs a ServicesScheduler on a FakeClock and a MemoryKeyValueStore.
 */
import { FakeClock } from '../../../../src/common/clock';
import { noGangs } from '../no-gangs';
import { nullLogger } from '../../../../src/common/logging';
import { Resources } from '../../../../src/common/resources';
import { attributesToWire, resourcesToWire, timeToWire } from '../../../../src/common/wire';
import type { Attribute } from '../../../../src/common/attributes';
import type { FrameworkInfo } from '../../../../src/generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../../../src/generated/berth/v1/Offer';
import type { Operation } from '../../../../src/generated/berth/v1/Operation';
import type { TaskInfo } from '../../../../src/generated/berth/v1/TaskInfo';
import type { TaskStatus__Output } from '../../../../src/generated/berth/v1/TaskStatus';
import type { SchedulerApi } from '../../../../src/frameworks/sdk/framework';
import { MemoryKeyValueStore } from '../../../../src/frameworks/sdk/store';
import { parseAppDefinition } from '../../../../src/frameworks/services/app-definition';
import { resolveOptions } from '../../../../src/frameworks/services/options';
import type { ReadinessProbe } from '../../../../src/frameworks/services/readiness';
import { ServicesScheduler } from '../../../../src/frameworks/services/scheduler';

export interface Launch {
  readonly offerId: string;
  readonly agentId: string;
  readonly hostname: string;
  readonly tasks: TaskInfo[];
  readonly refuseSeconds?: number;
}

/** Records every call; `connected` can be flipped. */
export class FakeSchedulerApi implements SchedulerApi {
  frameworkId: string | undefined = 'fw-services';
  connected = true;
  readonly launches: Launch[] = [];
  readonly declines: { offerIds: string[]; refuseSeconds?: number }[] = [];
  readonly kills: { taskId: string; agentId?: string }[] = [];
  readonly reconciles: { taskId: string; agentId?: string }[][] = [];
  readonly calls: string[] = [];
  revives = 0;
  suppresses = 0;

  accept(offerIds: readonly string[], operations: readonly Operation[]): void {
    this.calls.push(`accept ${offerIds.join(',')} ${operations.length}`);
  }

  launch(offer: Offer__Output, tasks: readonly TaskInfo[], refuseSeconds?: number): void {
    this.calls.push(`launch ${offer.id?.value} ${tasks.length}`);
    this.launches.push({ offerId: offer.id?.value ?? '', agentId: offer.agent_id?.value ?? '', hostname: offer.hostname, tasks: [...tasks], refuseSeconds });
  }

  // This framework declares no gangs: a gang call fails the test.
  readonly acceptGang = noGangs.acceptGang;
  readonly launchGang = noGangs.launchGang;
  readonly declineGang = noGangs.declineGang;
  decline(offerIds: readonly string[], refuseSeconds?: number): void {
    this.calls.push(`decline ${offerIds.join(',')}`);
    this.declines.push({ offerIds: [...offerIds], refuseSeconds });
  }

  kill(taskId: string, agentId?: string): void {
    this.calls.push(`kill ${taskId}`);
    this.kills.push({ taskId, agentId });
  }

  revive(): void {
    this.calls.push('revive');
    this.revives++;
  }

  suppress(): void {
    this.calls.push('suppress');
    this.suppresses++;
  }

  reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[]): void {
    this.calls.push(`reconcile ${tasks.length}`);
    this.reconciles.push(tasks.map((t) => ({ ...t })));
  }

  updateFramework(_info: Partial<FrameworkInfo>): void {
    this.calls.push('updateFramework');
  }

  async teardown(): Promise<void> {
    this.calls.push('teardown');
  }

  /** Every task launched so far, with its agent. */
  launchedTasks(): { taskId: string; agentId: string; hostname: string; info: TaskInfo }[] {
    return this.launches.flatMap((l) => l.tasks.map((info) => ({ taskId: info.task_id?.value ?? '', agentId: l.agentId, hostname: l.hostname, info })));
  }
}

let offerSeq = 0;
let idSeq = 0;

export interface OfferSpec {
  readonly agent: string;
  readonly hostname?: string;
  readonly role?: string;
  /** Resource text. @default 'cpus:4;mem:4096;disk:1000;ports:[31000-31010]' */
  readonly resources?: string;
  readonly attributes?: Record<string, string | number>;
}

/** A wire offer as the driver hands it over. */
export function offer(spec: OfferSpec): Offer__Output {
  const attributes: Attribute[] = Object.entries(spec.attributes ?? {}).map(([name, v]) => (typeof v === 'number' ? { name, scalar: v } : { name, text: v }));
  return {
    id: { value: `offer-${++offerSeq}` },
    framework_id: { value: 'fw-services' },
    agent_id: { value: spec.agent },
    hostname: spec.hostname ?? spec.agent,
    allocation_info: { role: spec.role ?? '*' },
    resources: resourcesToWire(Resources.parse(spec.resources ?? 'cpus:4;mem:4096;disk:1000;ports:[31000-31010]')),
    attributes: attributesToWire(attributes),
    domain: null,
    unavailability: null,
    executor_ids: [],
    gang_id: '',
  };
}

/** A status update for a task. */
export function status(taskId: string, state: string, extra: Partial<TaskStatus__Output> & { unreachableAt?: number } = {}): TaskStatus__Output {
  const { unreachableAt, ...rest } = extra;
  return {
    task_id: { value: taskId },
    state: state as TaskStatus__Output['state'],
    message: '',
    source: 'SOURCE_EXECUTOR',
    reason: 'REASON_UNSPECIFIED',
    data: Buffer.alloc(0),
    agent_id: null,
    executor_id: null,
    timestamp: 0,
    uuid: Buffer.alloc(0),
    labels: null,
    container_status: null,
    unreachable_time: unreachableAt === undefined ? null : timeToWire(unreachableAt),
    ...rest,
  };
}

/**
 * A memory store whose writes (puts and deletes) can be made to fail (`failing`, by key) or to wait
 * (`hold()` … `release()`); counts write attempts per key.
 */
export class FailingStore extends MemoryKeyValueStore {
  failing: ((key: string) => boolean) | undefined;
  readonly attempts = new Map<string, number>();
  private gate: { promise: Promise<void>; open: () => void } | undefined;

  /** Fails every write from now on (until `failing` is cleared). */
  failAll(): void {
    this.failing = () => true;
  }

  /** Writes wait until {@link release}. */
  hold(): void {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.gate = { promise, open };
  }

  release(): void {
    const g = this.gate;
    this.gate = undefined;
    g?.open();
  }

  override async put(key: string, value: unknown): Promise<void> {
    await this.before(key);
    return super.put(key, value);
  }

  override async delete(key: string): Promise<void> {
    await this.before(key);
    return super.delete(key);
  }

  private async before(key: string): Promise<void> {
    this.attempts.set(key, (this.attempts.get(key) ?? 0) + 1);
    if (this.gate !== undefined) await this.gate.promise;
    if (this.failing?.(key)) throw new Error(`store unavailable (writing ${key})`);
  }
}

export interface HarnessOptions {
  readonly clock?: FakeClock;
  readonly store?: MemoryKeyValueStore;
  readonly options?: Record<string, unknown>;
  readonly readinessProbe?: ReadinessProbe;
}

/** A framework on a fake clock and store, subscribed to a recording SchedulerApi. */
export class Harness {
  readonly clock: FakeClock;
  readonly store: MemoryKeyValueStore;
  readonly api = new FakeSchedulerApi();
  readonly fw: ServicesScheduler;
  constructor(opts: HarnessOptions = {}) {
    this.clock = opts.clock ?? new FakeClock();
    this.store = opts.store ?? new MemoryKeyValueStore();
    this.fw = new ServicesScheduler(
      { clock: this.clock, logger: nullLogger, store: this.store, scheduler: this.api, options: opts.options ?? {} },
      resolveOptions(opts.options ?? {}),
      { newId: () => `id-${String(++idSeq).padStart(5, '0')}`, ...(opts.readinessProbe === undefined ? {} : { readinessProbe: opts.readinessProbe }) },
    );
  }

  static async started(opts: HarnessOptions = {}): Promise<Harness> {
    const h = new Harness(opts);
    await h.fw.registered({ frameworkId: 'fw-services', reregistered: false, master: '127.0.0.1:5050' });
    return h;
  }

  /**
   * Puts an app from a plain definition; returns the deployment id. Without `minReadySeconds` in
   * `def` it is 0 (a task counts as soon as it is healthy): these tests are about what comes before;
   * the ready window has tests of its own.
   */
  async put(def: Record<string, unknown>, force = false): Promise<string> {
    return (await this.fw.putApp(parseAppDefinition({ minReadySeconds: 0, ...def }), { force })).deploymentId;
  }

  /** Offers and returns the tasks launched from these offers. */
  async offer(...specs: OfferSpec[]): Promise<{ taskId: string; agentId: string; hostname: string; info: TaskInfo }[]> {
    const before = this.api.launchedTasks().length;
    await this.fw.offers(specs.map(offer));
    return this.api.launchedTasks().slice(before);
  }

  async update(taskId: string, state: string, extra: Partial<TaskStatus__Output> & { unreachableAt?: number } = {}): Promise<void> {
    await this.fw.statusUpdate(status(taskId, state, extra));
  }

  /** Reports each task RUNNING (and healthy when `healthy` is given). */
  async running(taskIds: readonly string[], healthy?: boolean): Promise<void> {
    for (const id of taskIds) await this.update(id, 'TASK_RUNNING', healthy === undefined ? {} : { healthy });
  }

  /** Advances the fake clock and waits for what the timers started. */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.fw.idle();
  }

  /** Tasks the framework currently tracks for an app (from GetApp). */
  async tasks(appId: string): Promise<{ taskId: string; state: string; killing: boolean; version: string }[]> {
    const v = await this.fw.getApp(appId);
    return v.tasks.map((t) => ({ taskId: t.taskId, state: t.state, killing: t.killRequestedAt !== undefined, version: t.version }));
  }

  killed(): string[] {
    return this.api.kills.map((k) => k.taskId);
  }
}

/** `n` agents a1…an on hosts h1…hn. */
export function agents(n: number, extra: Partial<OfferSpec> = {}): OfferSpec[] {
  return Array.from({ length: n }, (_, i) => ({ agent: `a${i + 1}`, hostname: `h${i + 1}`, ...extra }));
}
