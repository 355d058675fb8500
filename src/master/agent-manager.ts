import { randomUUID } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import type { UsedResources } from '../allocator/types';
import { Resources } from '../common/resources';
import type { AgentInfo__Output } from '../generated/berth/v1/AgentInfo';
import type { AgentMessage__Output } from '../generated/berth/v1/AgentMessage';
import { resourcesFromWire } from '../common/wire';
import { MasterError } from './errors';
import { checkHostname } from './validation/hostname';
import { mergeReservations, readReportedTasks, reportedInfo } from './validation/reregister';
import { agentDescription } from './agent-description';
import { AGENT_KEY_PREFIX, AgentRecords, type AgentRecord } from './agent-records';
import type { AgentsPort, CoreServices, FrameworksPort, MaintenancePort, OffersPort, TasksPort } from './core-ports';
import type { AgentEntry, AgentLifecycle, AgentSink, TaskEntry } from './model';
import { isTaskState, isTerminal, type TaskState } from './task-states';

type Reregister = NonNullable<AgentMessage__Output['reregister']>;

/** What the agent manager needs of the core. */
export type AgentManagerCore = CoreServices & {
  readonly offers: Pick<OffersPort, 'rescindForAgent'>;
  readonly tasks: Pick<TasksPort, 'get' | 'track' | 'statusUpdate' | 'masterUpdate' | 'agentSettled' | 'sendKill' | 'setState'>;
  readonly maintenance: Pick<MaintenancePort, 'unavailabilityOf'>;
  readonly frameworkManager: Pick<FrameworksPort, 'isRemoved' | 'adopt'>;
};

/**
 * Agent lifecycle: register and re-register (adopting the tasks an agent still runs), pings and
 * the ping timeout that makes an agent unreachable, reconnection of unreachable agents, MarkAgentGone,
 * draining and deactivation. Agents are persisted with their state (agent-records.ts) so a new
 * leader knows which agents to expect back and which to refuse.
 */
export class AgentManager implements AgentsPort {
  private readonly records: AgentRecords;
  /** The core stopped leading: nothing is retried. */
  private stopped = false;

  constructor(private readonly core: AgentManagerCore) {
    this.records = new AgentRecords(core);
  }

  /** REGISTER: a new agent gets an id, bound to the principal that registered it (`undefined` with auth off). */
  register(sink: AgentSink, info: AgentInfo__Output, version: string, principal: string | undefined): AgentEntry {
    const total = resourcesFromWire(info.resources ?? [], 'agent_info.resources');
    checkHostname(info.hostname, 'agent_info.hostname');
    const id = randomUUID();
    const agent = this.newEntry(id, { ...info, id: { value: id } }, total, version, sink);
    agent.principal = principal;
    this.core.agents.set(id, agent);
    this.addToAllocator(agent, new Map());
    sink.send({ type: 'REGISTERED', registered: { agent_id: { value: id }, heartbeat_interval_seconds: this.core.options.agentPingTimeoutMs / 1000, master_info: this.core.masterInfo() } });
    this.startPings(agent);
    this.persist(agent);
    this.core.publish('AGENT_ADDED', { agentId: id, hostname: agent.hostname });
    this.core.logger.info('agent registered', { agentId: id, hostname: agent.hostname, resources: total.toString() });
    this.core.allocateSoon(id);
    return agent;
  }

  /**
   * REREGISTER: an agent that had an id (master failover, network cut, agent restart). Its tasks
   * are adopted; tasks of frameworks that are not partition-aware are killed if the agent had been
   * declared unreachable (their frameworks were told TASK_LOST), as in Mesos.
   *
   * Only the principal the id is bound to may re-register it: anyone else is refused before anything
   * changes (the stream of the real agent, its tasks and the books stay as they were). An id
   * without a binding (authentication was off, or the record predates bindings) is bound now.
   */
  reregister(sink: AgentSink, msg: Reregister, principal: string | undefined): AgentEntry {
    const id = msg.agent_info?.id?.value ?? '';
    if (id === '') throw new MasterError(Status.INVALID_ARGUMENT, 'reregister.agent_info.id: must be set (use REGISTER for a new agent)');
    let agent = this.core.agents.get(id);
    if (agent?.principal !== undefined && principal !== undefined && agent.principal !== principal) {
      this.core.metrics?.agentIdentityRefusals.inc({ kind: 'reregister' });
      this.core.logger.warn('refused a re-registration by another principal', { agentId: id, boundTo: agent.principal, principal });
      throw new MasterError(Status.PERMISSION_DENIED, `reregister.agent_info.id: agent ${id} is bound to another principal; principal "${principal}" may not re-register it`);
    }
    const info = msg.agent_info!;
    checkHostname(info.hostname, 'reregister.agent_info.hostname');
    const total = resourcesFromWire(info.resources ?? [], 'reregister.agent_info.resources');
    const now = this.core.clock.now();
    if (agent?.lifecycle === 'GONE') {
      sink.send({ type: 'SHUTDOWN', shutdown: { message: `agent ${id} was marked gone; it must not rejoin with this id` } });
      throw new MasterError(Status.PERMISSION_DENIED, `agent ${id} was marked gone`);
    }
    if (agent?.markingUnreachable === true) {
      throw new MasterError(Status.UNAVAILABLE, `agent ${id} is being marked unreachable; re-register again shortly`);
    }
    // Read every reported task before changing anything: a bad report must leave no half state.
    const reportedTasks = readReportedTasks(msg.tasks ?? []);
    const wasUnreachable = agent?.lifecycle === 'UNREACHABLE';
    if (agent !== undefined) {
      const old = agent.sink;
      agent.sink = sink;
      agent.knownFrameworks.clear(); // a new connection: FrameworkInfos are sent again
      if (old !== undefined && old !== sink) old.close({ code: Status.ABORTED, message: 'agent re-registered on a newer connection' });
      this.core.clock.clearTimeout(agent.unreachableTimer);
      agent.unreachableTimer = undefined;
      if (agent.lifecycle !== 'UNREACHABLE') this.removeFromAllocator(agent); // re-added below with its current usage
      agent.info = info;
      agent.hostname = info.hostname;
      agent.total = mergeReservations(agent.total, total);
      agent.version = msg.version;
    } else {
      agent = this.newEntry(id, info, total, msg.version, sink);
      this.core.agents.set(id, agent);
    }
    agent.principal ??= principal;
    agent.connected = true;
    agent.lifecycle = 'REGISTERED';
    agent.reregisteredAt = now;
    agent.unreachableAt = undefined;
    agent.missedPings = 0;

    // Adopt the tasks it reports; forget the ones it no longer has.
    const frameworks = new Map((msg.frameworks ?? []).map((f) => [f.id?.value ?? '', f]));
    const reported = new Set<string>();
    const used = new Map<string, UsedResources[]>();
    for (const { t, state, resources } of reportedTasks) {
      const frameworkId = t.framework_id?.value ?? '';
      if (this.core.frameworkManager.isRemoved(frameworkId)) {
        // Its framework was removed while this agent was away: its tasks must go.
        sink.send({ type: 'SHUTDOWN_FRAMEWORK', shutdown_framework: { framework_id: { value: frameworkId } } });
        continue;
      }
      const fwWire = frameworks.get(frameworkId);
      const fw = this.core.frameworks.get(frameworkId) ?? (fwWire === undefined ? undefined : this.core.frameworkManager.adopt(fwWire));
      if (fw === undefined) continue;
      const taskId = t.task_id?.value ?? '';
      const elsewhere = fw.tasks.get(taskId);
      if (elsewhere !== undefined && elsewhere.agentId !== id) {
        // An agent speaks for its own tasks only.
        this.core.logger.warn('agent reported a task the master placed on another agent; ignored', { agentId: id, frameworkId, taskId, placedOn: elsewhere.agentId });
        continue;
      }
      reported.add(`${frameworkId}/${taskId}`);
      // A task that ended while the master was away holds no resources, but it is still the agent's
      // until its terminal update is acknowledged: the master knows it by that state, so a
      // reconciliation answers the real end (TASK_FINISHED), never "gone".
      const terminal = isTerminal(state);
      if (!terminal) {
        let list = used.get(frameworkId);
        if (list === undefined) used.set(frameworkId, (list = []));
        list.push({ role: t.role, resources });
      }
      const existing = fw.tasks.get(taskId) ?? this.core.tasks.track(fw, agent, reportedInfo(t, id), t.role, resources, state, 'agent', (t.statuses ?? [])[0] as never);
      this.core.tasks.setState(existing, state);
      existing.recovered = terminal;
    }
    for (const task of [...agent.tasks.values()]) {
      if (reported.has(task.key)) continue;
      // The agent no longer knows this task: it is gone (the agent restarted without it).
      task.recovered = true; // the agent is out of the allocator until re-added below
      this.core.tasks.masterUpdate(task, 'TASK_GONE', 'REASON_AGENT_REREGISTERED', 'the agent re-registered without this task');
    }
    // Completing those tasks may have finished a drain with mark_gone: the agent is then gone.
    if ((agent.lifecycle as AgentLifecycle) === 'GONE') return agent;
    const usedTotal = [...used.values()].flat().reduce((sum, u) => sum.plus(u.resources), Resources.empty());
    if (!agent.total.contains(usedTotal)) {
      // The agent's own report is inconsistent; trust its tasks over its declaration, and say so.
      this.core.logger.warn('agent reports tasks using more than its resources; counting them in its total', { agentId: id, total: agent.total.toString(), used: usedTotal.toString() });
      agent.total = agent.total.plus(usedTotal);
    }
    this.addToAllocator(agent, used);
    sink.send({ type: 'REREGISTERED', reregistered: { agent_id: { value: id }, heartbeat_interval_seconds: this.core.options.agentPingTimeoutMs / 1000, master_info: this.core.masterInfo() } });
    if (wasUnreachable) {
      // After REREGISTERED: an agent acts on orders only from the master it is registered with.
      for (const task of [...agent.tasks.values()]) {
        const fw = this.core.frameworks.get(task.frameworkId);
        if (fw !== undefined && !fw.info.capabilities.has('PARTITION_AWARE')) this.core.tasks.sendKill(task);
      }
    }
    // The agent's pending updates are part of its report: a task it knows only by them (refused at
    // launch, say) is known by them here too, before any reconciliation can be answered.
    // The first pending update of a task (oldest first) is the head its framework gets next.
    const heads = new Map<TaskEntry, TaskState>();
    for (const u of msg.unacknowledged_updates ?? []) {
      this.adoptUpdatedTask(agent, u);
      this.core.tasks.statusUpdate(agent, u, false);
      const task = this.core.tasks.get(u.framework_id?.value ?? '', u.status?.task_id?.value ?? '');
      if (task !== undefined && task.agentId === id && !heads.has(task) && isTaskState(u.status?.state)) heads.set(task, u.status.state);
    }
    for (const [task, head] of heads) task.streamState = head === task.state ? undefined : head;
    // Its report is in: the reconciliations that waited for it are answered now, heads first.
    this.core.tasks.agentSettled(agent);
    this.startPings(agent);
    this.persist(agent);
    this.core.publish('AGENT_UPDATED', { agentId: id, lifecycle: 'REGISTERED', connected: true, tasks: agent.tasks.size });
    this.core.logger.info('agent re-registered', { agentId: id, tasks: agent.tasks.size, wasUnreachable });
    this.core.allocateSoon(id);
    return agent;
  }

  /** Tracks (holding nothing) a task an agent knows only by an unacknowledged update. */
  private adoptUpdatedTask(agent: AgentEntry, update: NonNullable<Reregister['unacknowledged_updates']>[number]): void {
    const fw = this.core.frameworks.get(update.framework_id?.value ?? '');
    const taskId = update.status?.task_id?.value ?? '';
    if (fw === undefined || taskId === '' || fw.tasks.has(taskId) || !isTaskState(update.status?.state)) return;
    const entry = this.core.tasks.track(fw, agent, { task_id: { value: taskId }, name: '' } as never, '', Resources.empty(), update.status.state, 'agent', update.status as never);
    entry.recovered = true;
  }

  pong(agent: AgentEntry): void {
    agent.missedPings = 0;
  }

  /** The agent's stream ended: no offers from it; unreachable if it does not come back in time. */
  disconnected(agent: AgentEntry, sink: AgentSink): void {
    if (agent.sink !== sink) return;
    agent.sink = undefined;
    agent.connected = false;
    this.core.clock.clearInterval(agent.pingTimer);
    agent.pingTimer = undefined;
    this.core.offers.rescindForAgent(agent.id, 'agent_disconnected');
    if (agent.lifecycle === 'REGISTERED' || agent.lifecycle === 'RECOVERED') {
      this.core.allocator.deactivateAgent(agent.id);
      const ms = this.core.options.agentPingTimeoutMs * this.core.options.maxAgentPingTimeouts;
      agent.unreachableTimer = this.core.clock.setTimeout(() => this.markUnreachable(agent, 'the agent did not reconnect within the ping timeout'), ms);
    }
    this.core.publish('AGENT_UPDATED', { agentId: agent.id, connected: false });
  }

  /**
   * Declares an agent unreachable, as Mesos's registrar does (MarkSlaveUnreachable): the registry
   * holds it first, and only then are its tasks TASK_UNREACHABLE (or TASK_LOST) and its resources
   * out of the pool. A master deposed meanwhile — thawed after a stall past its lease, its timers
   * overdue — has its write fenced and tells nobody: its successor never saw the mark and takes the
   * agent back as it was, so a TASK_LOST told by the deposed master would be contradicted by the
   * task still running, never killed. Until the write lands the agent is cut off (no stream, pings
   * or offers) and its re-registration is refused, to be tried again.
   */
  markUnreachable(agent: AgentEntry, why: string): void {
    if (agent.lifecycle === 'UNREACHABLE' || agent.lifecycle === 'GONE' || agent.markingUnreachable) return;
    this.core.clock.clearInterval(agent.pingTimer);
    this.core.clock.clearTimeout(agent.unreachableTimer);
    agent.pingTimer = undefined;
    agent.unreachableTimer = undefined;
    agent.sink?.close({ code: Status.UNAVAILABLE, message: `agent declared unreachable: ${why}` });
    agent.sink = undefined;
    agent.connected = false;
    this.core.offers.rescindForAgent(agent.id, 'agent_unreachable');
    if (agent.lifecycle === 'REGISTERED') this.core.allocator.deactivateAgent(agent.id);
    agent.markingUnreachable = true;
    const at = this.core.clock.now();
    this.persistFirst(agent, { lifecycle: 'UNREACHABLE', unreachableAt: at }, `mark agent ${agent.id} unreachable`).then(
      () => {
        agent.markingUnreachable = false;
        if (this.stillChangeable(agent)) this.applyUnreachable(agent, at, why);
      },
      (err: unknown) => {
        agent.markingUnreachable = false;
        if (this.stopped || !this.stillChangeable(agent)) return; // deposed (fenced) or stopped: a successor decides
        // The registry is unavailable: nothing was told; try again after another ping timeout.
        const ms = this.core.options.agentPingTimeoutMs * this.core.options.maxAgentPingTimeouts;
        this.core.logger.error('could not record the agent as unreachable; trying again', { agentId: agent.id, inMs: ms, err });
        agent.unreachableTimer = this.core.clock.setTimeout(() => this.markUnreachable(agent, why), ms);
      },
    );
  }

  /** The registry holds the agent as unreachable: its tasks are told so and it leaves the pool. */
  private applyUnreachable(agent: AgentEntry, at: number, why: string): void {
    agent.lifecycle = 'UNREACHABLE';
    agent.unreachableAt = at;
    this.removeFromAllocator(agent);
    for (const task of [...agent.tasks.values()]) {
      const fw = this.core.frameworks.get(task.frameworkId);
      const aware = fw?.info.capabilities.has('PARTITION_AWARE') ?? false;
      task.recovered = true; // the allocator no longer tracks this agent
      this.core.tasks.masterUpdate(task, aware ? 'TASK_UNREACHABLE' : 'TASK_LOST', 'REASON_AGENT_UNREACHABLE', `agent ${agent.id} is unreachable: ${why}`);
    }
    this.core.tasks.agentSettled(agent); // the reconciliations that waited for it get the partition-aware answer
    this.persist(agent); // written already, unless something else changed meanwhile
    this.core.publish('AGENT_UPDATED', { agentId: agent.id, lifecycle: 'UNREACHABLE' });
    this.core.logger.warn('agent unreachable', { agentId: agent.id, why });
  }

  /**
   * MarkAgentGone (idempotent): the operator asserts the agent is dead for good. Durable before it
   * takes effect (a "gone" lost in a failover would let the agent rejoin); a failed write rejects
   * with UNAVAILABLE and changes nothing.
   */
  async markGone(agent: AgentEntry): Promise<void> {
    if (agent.lifecycle === 'GONE') return;
    await this.persistFirst(agent, { lifecycle: 'GONE' }, `mark agent ${agent.id} gone`);
    if (!this.stillChangeable(agent)) return;
    agent.sink?.send({ type: 'SHUTDOWN', shutdown: { message: 'agent marked gone by the operator' } });
    agent.sink?.close({ code: Status.CANCELLED, message: 'agent marked gone' });
    agent.sink = undefined;
    agent.connected = false;
    this.core.clock.clearInterval(agent.pingTimer);
    this.core.clock.clearTimeout(agent.unreachableTimer);
    this.core.offers.rescindForAgent(agent.id, 'agent_removed');
    if (agent.lifecycle !== 'UNREACHABLE') this.removeFromAllocator(agent);
    agent.lifecycle = 'GONE';
    for (const task of [...agent.tasks.values()]) {
      task.recovered = true;
      this.core.tasks.masterUpdate(task, 'TASK_GONE_BY_OPERATOR', 'REASON_AGENT_REMOVED_BY_OPERATOR', `agent ${agent.id} was marked gone`);
    }
    this.core.tasks.agentSettled(agent);
    this.persist(agent);
    this.core.publish('AGENT_REMOVED', { agentId: agent.id, reason: 'marked gone' });
  }

  /**
   * DrainAgent: no more offers; every task killed (within the grace period); DRAINED once all are
   * done. Durable before it takes effect; a failed write rejects and changes nothing.
   */
  async drain(agent: AgentEntry, maxGracePeriodMs: number | undefined, markGone: boolean): Promise<void> {
    if (agent.lifecycle === 'GONE') throw new MasterError(Status.FAILED_PRECONDITION, `agent ${agent.id} is gone`);
    const drain: AgentEntry['drain'] = { state: 'DRAINING', maxGracePeriodMs, markGone };
    await this.persistFirst(agent, { drain }, `drain agent ${agent.id}`);
    if (!this.stillChangeable(agent)) return;
    agent.drain = drain;
    if (inAllocator(agent)) this.core.allocator.setAgentDraining(agent.id, true);
    this.core.offers.rescindForAgent(agent.id, 'agent_draining');
    agent.sink?.send({ type: 'DRAIN', drain: { config: { max_grace_period: maxGracePeriodMs === undefined ? undefined : { nanoseconds: String(BigInt(maxGracePeriodMs) * 1_000_000n) }, mark_gone: markGone } } });
    const policy = maxGracePeriodMs === undefined ? undefined : { grace_period: { nanoseconds: String(BigInt(maxGracePeriodMs) * 1_000_000n) } };
    const why = { reason: 'REASON_AGENT_DRAINING' as const, message: `agent ${agent.id} (${agent.hostname}) is draining` };
    for (const task of agent.tasks.values()) if (!isTerminal(task.state)) this.core.tasks.sendKill(task, policy as never, why);
    this.persist(agent);
    this.core.publish('AGENT_UPDATED', { agentId: agent.id, drain: 'DRAINING' });
    this.checkDrained(agent.id);
  }

  /** A draining agent with no task left is DRAINED (and gone, when asked). */
  checkDrained(agentId: string): void {
    const agent = this.core.agents.get(agentId);
    if (agent?.drain?.state !== 'DRAINING' || agent.tasks.size > 0) return;
    agent.drain = { ...agent.drain, state: 'DRAINED' };
    this.persist(agent);
    this.core.publish('AGENT_UPDATED', { agentId, drain: 'DRAINED' });
    if (agent.drain.markGone) {
      this.markGone(agent).catch((err: unknown) => this.core.logger.error('a drained agent asked to be marked gone was not (registry write failed); it stays DRAINED', { agentId, err }));
    }
  }

  /**
   * Deactivate/ReactivateAgent (reactivation also ends a drain). Durable before it takes effect; a
   * failed write rejects and changes nothing.
   */
  async setDeactivated(agent: AgentEntry, deactivated: boolean): Promise<void> {
    await this.persistFirst(agent, deactivated ? { deactivated } : { deactivated, drain: undefined }, `${deactivated ? 'deactivate' : 'reactivate'} agent ${agent.id}`);
    if (this.core.agents.get(agent.id) !== agent) return;
    agent.deactivated = deactivated;
    // Agents not in the allocator (recovered, unreachable) get these flags when they are re-added.
    const tracked = inAllocator(agent);
    if (deactivated) {
      if (tracked) this.core.allocator.deactivateAgent(agent.id);
      this.core.offers.rescindForAgent(agent.id, 'agent_deactivated');
    } else {
      if (agent.drain !== undefined) {
        agent.drain = undefined;
        if (tracked) this.core.allocator.setAgentDraining(agent.id, false);
      }
      if (tracked && agent.connected) this.core.allocator.activateAgent(agent.id);
      this.core.allocateSoon(agent.id);
    }
    this.persist(agent);
    this.core.publish('AGENT_UPDATED', { agentId: agent.id, deactivated });
  }

  /** Rebuilds agents from the registry: they are RECOVERED until they re-register. */
  recover(records: ReadonlyMap<string, unknown>): void {
    // Agents of one shape share one (immutable) Resources: parsing and validating every record's
    // total took most of a takeover's synchronous recovery (~0.15 ms an agent), long enough at
    // 10,000 agents to starve the new leader's lease renewal.
    const parsed = new Map<string, Resources>();
    for (const [key, value] of records) {
      if (!key.startsWith(AGENT_KEY_PREFIX)) continue;
      const r = value as AgentRecord;
      const id = key.slice(AGENT_KEY_PREFIX.length);
      let total: Resources;
      try {
        const json = JSON.stringify(r.total);
        total = parsed.get(json) ?? Resources.fromJSON(r.total);
        parsed.set(json, total);
      } catch (err) {
        this.core.logger.error('registry holds an invalid agent record; skipping it', { key, err });
        continue;
      }
      const agent = this.newEntry(id, r.info, total, '', undefined);
      agent.registeredAt = r.registeredAt;
      agent.deactivated = r.deactivated;
      agent.drain = r.drain;
      agent.lifecycle = r.lifecycle === 'REGISTERED' ? 'RECOVERED' : r.lifecycle;
      agent.unreachableAt = r.unreachableAt;
      agent.principal = r.principal;
      this.records.loaded(agent, r);
      this.core.agents.set(id, agent);
      if (agent.lifecycle === 'RECOVERED') {
        // Expected back; declared unreachable if it does not re-register in time.
        const ms = this.core.options.agentReregisterTimeoutMs ?? 600_000;
        agent.unreachableTimer = this.core.clock.setTimeout(() => this.markUnreachable(agent, 'the agent did not re-register after a master failover'), ms);
      }
    }
  }

  stop(reason: string): void {
    this.stopped = true;
    for (const agent of this.core.agents.values()) {
      this.core.clock.clearInterval(agent.pingTimer);
      this.core.clock.clearTimeout(agent.unreachableTimer);
      agent.sink?.close({ code: Status.UNAVAILABLE, message: reason });
      agent.sink = undefined;
    }
  }

  private startPings(agent: AgentEntry): void {
    this.core.clock.clearInterval(agent.pingTimer);
    agent.pingTimer = this.core.clock.setInterval(() => {
      agent.missedPings++;
      if (agent.missedPings > this.core.options.maxAgentPingTimeouts) {
        this.markUnreachable(agent, `no PONG for ${this.core.options.maxAgentPingTimeouts} pings`);
        return;
      }
      agent.sink?.send({ type: 'PING', ping: {} });
    }, this.core.options.agentPingTimeoutMs);
  }

  private addToAllocator(agent: AgentEntry, used: ReadonlyMap<string, readonly UsedResources[]>): void {
    // An agent joining inside a maintenance window is offered with the window from the start.
    this.core.allocator.addAgent(agent.id, { ...agentDescription(agent), unavailability: this.core.maintenance.unavailabilityOf(agent.hostname) }, agent.total, used);
    if (agent.deactivated) this.core.allocator.deactivateAgent(agent.id);
    if (agent.drain?.state !== undefined) this.core.allocator.setAgentDraining(agent.id, true);
  }

  private removeFromAllocator(agent: AgentEntry): void {
    // Rescinded, not just dropped: a framework holding one must learn that it is gone.
    this.core.offers.rescindForAgent(agent.id, 'agent_removed');
    this.core.allocator.removeAgent(agent.id);
  }

  private newEntry(id: string, info: AgentInfo__Output, total: Resources, version: string, sink: AgentSink | undefined): AgentEntry {
    const now = this.core.clock.now();
    return {
      id,
      wireId: Object.freeze({ value: id }),
      info,
      hostname: info.hostname,
      total,
      sink,
      connected: sink !== undefined,
      lifecycle: 'REGISTERED',
      deactivated: false,
      drain: undefined,
      version,
      registeredAt: now,
      reregisteredAt: undefined,
      unreachableAt: undefined,
      missedPings: 0,
      pingTimer: undefined,
      unreachableTimer: undefined,
      markingUnreachable: false,
      tasks: new Map(),
      principal: undefined,
      knownFrameworks: new Set(),
    };
  }

  /** After the write of a change: whether it still applies (the agent was not replaced or marked gone meanwhile). */
  private stillChangeable(agent: AgentEntry): boolean {
    return agent.lifecycle !== 'GONE' && this.core.agents.get(agent.id) === agent;
  }

  /** UPDATE_RESOURCES: the agent's new total, in the allocator's books and the registry, offered soon. */
  updateResources(agent: AgentEntry, total: Resources): void {
    this.core.allocator.updateAgent(agent.id, { total });
    agent.total = total;
    this.persist(agent);
    this.core.allocateSoon(agent.id);
  }

  /**
   * A reservation change (RESERVE/UNRESERVE, volumes): the agent's total now `total`. The caller
   * changed the allocator's books and persisted the record (or persists it next).
   */
  setTotal(agent: AgentEntry, total: Resources): void {
    agent.total = total;
  }

  /** Writes the agent's record (see {@link AgentRecords.persist}). */
  persist(agent: AgentEntry): void {
    this.records.persist(agent);
  }

  /** Writes the agent's record with `change` applied before the change is made (see {@link AgentRecords.persistFirst}). */
  persistFirst(agent: AgentEntry, change: Partial<AgentRecord>, what: string): Promise<void> {
    return this.records.persistFirst(agent, change, what);
  }
}

/** Whether the allocator knows the agent (registered, connected or briefly disconnected). */
function inAllocator(agent: AgentEntry): boolean {
  return agent.lifecycle === 'REGISTERED';
}
