/**
 * Explicit reconciliations the master cannot answer yet, kept until it can (issue 17).
 *
 * After a master failover a task the new leader does not know may still be brought back by an agent
 * that has not re-registered yet; answering it "gone" or "lost" could make its framework run it
 * twice, so the master says nothing for now (Mesos's rule). Instead of leaving the framework to ask
 * again and again, the ask is remembered here and answered the moment the answer is sure:
 *
 * - the task arrives with an agent's re-registration: its state (the head of that agent's queue for
 *   it, as a fresh ask would get);
 * - the agent the ask named re-registers without it, becomes unreachable or is marked gone: the
 *   partition-aware answer (TASK_GONE, TASK_UNREACHABLE, TASK_GONE_BY_OPERATOR; TASK_LOST for
 *   frameworks that are not partition-aware);
 * - an ask that named no agent (or one the master does not know) waits until no agent is expected
 *   back at all: then TASK_UNKNOWN (or the task's state, if an agent brought it).
 *
 * One remembered ask per framework and task id: asking again replaces it (the newer agent id counts)
 * and an ask the master answers at once drops it, so a task id gets one answer however often it
 * was asked while unanswerable. Bounded: at most `limit` per framework; the asks past it are not
 * kept (the caller says so to the framework). Held in memory only and dropped when the framework's
 * stream ends or it subscribes again (it reconciles after every subscription) — and, with
 * everything else, on a master failover.
 */

/** The bucket of asks that named no agent, or an agent the master does not know. */
const ANY_AGENT = '';

/** One remembered ask. */
export interface PendingAsk {
  readonly frameworkId: string;
  readonly taskId: string;
  /** The agent the ask named, as named (undefined: none). */
  readonly agentId: string | undefined;
}

export class PendingReconciliations {
  /** Per framework: task id → the agent the ask named and the bucket it waits in. */
  private readonly byFramework = new Map<string, Map<string, { agentId: string | undefined; bucket: string }>>();
  /** Per bucket (an agent id, or ANY_AGENT): framework id → task ids. */
  private readonly byBucket = new Map<string, Map<string, Set<string>>>();
  private count = 0;

  constructor(private readonly limit: number) {}

  /** Asks remembered in all. */
  get size(): number {
    return this.count;
  }

  /** Asks remembered for one framework. */
  sizeOf(frameworkId: string): number {
    return this.byFramework.get(frameworkId)?.size ?? 0;
  }

  /** Whether any ask waits for an agent to come back without having named it. */
  get waitsForAnyAgent(): boolean {
    return this.byBucket.has(ANY_AGENT);
  }

  /**
   * Remembers an ask about `taskId` that waits for agent `waitsFor` (undefined: for every agent
   * still expected back). False when the framework is at its limit (nothing changes then).
   */
  remember(frameworkId: string, taskId: string, agentId: string | undefined, waitsFor: string | undefined): boolean {
    let asks = this.byFramework.get(frameworkId);
    const previous = asks?.get(taskId);
    const bucket = waitsFor ?? ANY_AGENT;
    if (previous === undefined && (asks?.size ?? 0) >= this.limit) return false;
    if (previous !== undefined) this.unindex(frameworkId, taskId, previous.bucket);
    else this.count++;
    if (asks === undefined) this.byFramework.set(frameworkId, (asks = new Map()));
    asks.set(taskId, { agentId, bucket });
    let frameworks = this.byBucket.get(bucket);
    if (frameworks === undefined) this.byBucket.set(bucket, (frameworks = new Map()));
    let ids = frameworks.get(frameworkId);
    if (ids === undefined) frameworks.set(frameworkId, (ids = new Set()));
    ids.add(taskId);
    return true;
  }

  /** Removes the ask about one task and returns it (undefined: none was remembered). */
  take(frameworkId: string, taskId: string): PendingAsk | undefined {
    const asks = this.byFramework.get(frameworkId);
    const ask = asks?.get(taskId);
    if (ask === undefined) return undefined;
    asks!.delete(taskId);
    if (asks!.size === 0) this.byFramework.delete(frameworkId);
    this.unindex(frameworkId, taskId, ask.bucket);
    this.count--;
    return { frameworkId, taskId, agentId: ask.agentId };
  }

  /** Removes and returns every ask that waits for agent `agentId` (undefined: the ones that wait for any agent). */
  takeWaitingFor(agentId: string | undefined): PendingAsk[] {
    const frameworks = this.byBucket.get(agentId ?? ANY_AGENT);
    if (frameworks === undefined) return [];
    const taken: PendingAsk[] = [];
    for (const [frameworkId, ids] of frameworks) for (const taskId of [...ids]) taken.push(this.take(frameworkId, taskId)!);
    return taken;
  }

  /** Forgets every ask of a framework (its stream ended, it subscribed again, or it was removed). */
  dropFramework(frameworkId: string): void {
    const asks = this.byFramework.get(frameworkId);
    if (asks === undefined) return;
    for (const [taskId, ask] of asks) this.unindex(frameworkId, taskId, ask.bucket);
    this.count -= asks.size;
    this.byFramework.delete(frameworkId);
  }

  private unindex(frameworkId: string, taskId: string, bucket: string): void {
    const frameworks = this.byBucket.get(bucket);
    const ids = frameworks?.get(frameworkId);
    if (ids === undefined) return;
    ids.delete(taskId);
    if (ids.size > 0) return;
    frameworks!.delete(frameworkId);
    if (frameworks!.size === 0) this.byBucket.delete(bucket);
  }
}
