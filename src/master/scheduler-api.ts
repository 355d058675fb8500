import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { Call__Output } from '../generated/berth/v1/Call';
import type { Event } from '../generated/berth/v1/Event';
import { filtersFromWire } from '../common/wire';
import { authenticateStream, onStreamEnd, StreamSink, type Authenticate } from './client-stream';
import { MasterError } from './errors';
import type { MasterCore } from './master-core';
import type { FrameworkEntry, OfferEntry } from './model';
import { forFramework } from './task-states';
import { DEFAULT_MAX_PENDING_RECONCILIATIONS } from './task-tracker';
import { planAccept } from './validation/accept';
import { acceptGang, declineGang, launchPlanned } from './gang-api';
import { reportableTaskIds, taskSites } from './validation/accept-task-ids';
import { ValidationError } from '../common/wire';

type Stream = grpc.ServerDuplexStream<Call__Output, Event>;

/** How the master learns who is calling (bearer token → principal); undefined = anonymous. */
/**
 * The caller's principal from its bearer token, or else from its verified client certificate's
 * name (mutual TLS); undefined: not authenticated.
 */

/**
 * `Scheduler.Connect`: one bidirectional stream per framework. The first call must be SUBSCRIBE;
 * everything after is dispatched in arrival order. An invalid call gets an ERROR event naming the
 * field and value (echoing its request_id) and the stream stays open; protocol violations
 * (calls before SUBSCRIBE, another framework's id) end it. Nothing a client sends may throw out
 * of here.
 */
export class SchedulerApi {
  constructor(
    private readonly core: () => MasterCore | undefined,
    private readonly authenticate: Authenticate | undefined,
    private readonly notLeader: () => MasterError,
  ) {}

  connect(stream: Stream): void {
    const who = authenticateStream(stream as never, this.authenticate);
    if (who === false) return;
    const principal = who?.name;
    let framework: FrameworkEntry | undefined;
    let owner: MasterCore | undefined;
    let isClosed = false;
    const closed = () => {
      if (isClosed) return;
      isClosed = true;
      sink.ended();
      if (framework !== undefined && owner !== undefined && !owner.isStopped) owner.frameworkManager.disconnected(framework, sink);
    };
    const sink = new StreamSink<Event>(stream as never, {
      onClosed: closed,
      maxBufferedBytes: () => this.core()?.options.maxFrameworkBufferBytes ?? 64 << 20,
      errorMessage: (error) => ({ type: 'ERROR', error: { message: error.message, code: error.code, fatal: true } }),
    });
    stream.on('data', (call: Call__Output) => {
      const core = this.core();
      try {
        if (core === undefined || core.isStopped) throw this.notLeader();
        if (framework === undefined) {
          if (call.type !== 'SUBSCRIBE' || call.subscribe == null) {
            core.metrics?.invalidCalls.inc({ call: call.type, reason: 'NOT_SUBSCRIBED' });
            throw new MasterError(Status.FAILED_PRECONDITION, `type: the first call must be SUBSCRIBE, got ${call.type}`);
          }
          framework = core.frameworkManager.subscribe(sink, call.subscribe.framework_info ?? ({} as never), principal, call.subscribe.suppressed_roles ?? []);
          owner = core;
          return;
        }
        if (call.framework_id?.value !== undefined && call.framework_id.value !== '' && call.framework_id.value !== framework.id) {
          core.metrics?.invalidCalls.inc({ call: call.type, reason: 'WRONG_FRAMEWORK' });
          throw Object.assign(new MasterError(Status.PERMISSION_DENIED, `framework_id: "${call.framework_id.value}" is not the framework subscribed on this stream ("${framework.id}")`), { fatal: true });
        }
        if (framework.sink !== sink) throw Object.assign(new MasterError(Status.ABORTED, 'this stream was superseded by a newer SUBSCRIBE'), { fatal: true });
        this.dispatch(core, framework, call, principal);
      } catch (err) {
        this.reject(sink, call, err, framework === undefined);
      }
    });
    onStreamEnd(stream as never, closed);
  }

  private dispatch(core: MasterCore, fw: FrameworkEntry, call: Call__Output, principal: string | undefined): void {
    switch (call.type) {
      case 'SUBSCRIBE': {
        // Already subscribed on this stream: a resend gets SUBSCRIBED again; changes go through
        // UPDATE_FRAMEWORK, and another id is a protocol error.
        const id = call.subscribe?.framework_info?.id?.value;
        if (id !== undefined && id !== '' && id !== fw.id) {
          throw Object.assign(new MasterError(Status.INVALID_ARGUMENT, `subscribe.framework_info.id: this stream is already subscribed as "${fw.id}", not "${id}"`), { fatal: true });
        }
        core.frameworkManager.resendSubscribed(fw);
        return;
      }
      case 'TEARDOWN':
        // Durable first: a failed write leaves the framework as it was and says so (non-fatal ERROR).
        core.frameworkManager.teardown(fw, 'framework asked for TEARDOWN').catch((err: unknown) => {
          const message = err instanceof MasterError ? err.message : `teardown of framework ${fw.id}: ${(err as Error).message}`;
          fw.sink?.send({ type: 'ERROR', error: { message, code: err instanceof MasterError ? err.grpcCode : Status.INTERNAL, fatal: false, request_id: call.request_id } });
        });
        return;
      case 'ACCEPT':
        this.accept(core, fw, call);
        return;
      case 'DECLINE': {
        // Offers of several agents may be declined together; the valid ones are declined (with the
        // filter) even when others are not, and the invalid ones are named in an ERROR.
        const filters = filtersFromWire(call.decline?.filters);
        const { taken, problems } = this.takeOffers(core, fw, (call.decline?.offer_ids ?? []).map((o) => o.value), 'decline.offer_ids', false);
        for (const offer of taken) {
          core.allocator.recoverResources(fw.id, offer.agentId, offer.role, offer.resources, filters, core.clock.now());
          core.allocateSoon(offer.agentId);
        }
        core.metrics?.offersDeclined.inc(taken.length);
        if (problems.length > 0) this.invalidOffers(core, problems, 'DECLINE');
        return;
      }
      case 'ACCEPT_GANG':
        acceptGang(core, fw, call);
        return;
      case 'DECLINE_GANG':
        declineGang(core, fw, call);
        return;
      case 'REVIVE': {
        const roles = this.roles(fw, call.revive?.roles ?? [], 'revive.roles');
        core.frameworkManager.revive(fw, roles);
        return;
      }
      case 'SUPPRESS': {
        const roles = this.roles(fw, call.suppress?.roles ?? [], 'suppress.roles');
        core.frameworkManager.suppress(fw, roles);
        return;
      }
      case 'KILL': {
        const taskId = call.kill?.task_id?.value ?? '';
        if (taskId === '') throw new MasterError(Status.INVALID_ARGUMENT, 'kill.task_id: must be set');
        core.tasks.kill(fw, taskId, call.kill?.kill_policy, call.kill?.agent_id?.value || undefined);
        return;
      }
      case 'ACKNOWLEDGE': {
        const a = call.acknowledge;
        const taskId = a?.task_id?.value ?? '';
        const agentId = a?.agent_id?.value ?? '';
        const uuid = a?.uuid === undefined || a.uuid === null ? Buffer.alloc(0) : Buffer.from(a.uuid as Uint8Array);
        if (taskId === '' || agentId === '' || uuid.length === 0) {
          throw new MasterError(Status.INVALID_ARGUMENT, `acknowledge: task_id, agent_id and uuid must all be set (got task_id "${taskId}", agent_id "${agentId}", ${uuid.length} uuid bytes)`);
        }
        core.tasks.acknowledge(fw, agentId, taskId, uuid);
        return;
      }
      case 'RECONCILE': {
        const asked = (call.reconcile?.tasks ?? []).map((t, i) => {
          const taskId = t.task_id?.value ?? '';
          if (taskId === '') throw new MasterError(Status.INVALID_ARGUMENT, `reconcile.tasks[${i}].task_id: must be set`);
          return { taskId, agentId: t.agent_id?.value || undefined };
        });
        const refused = core.tasks.reconcile(fw, asked);
        if (refused > 0) {
          const limit = core.options.maxPendingReconciliationsPerFramework ?? DEFAULT_MAX_PENDING_RECONCILIATIONS;
          throw new MasterError(Status.RESOURCE_EXHAUSTED, `reconcile.tasks: ${refused} of ${asked.length} task ids were not remembered: framework ${fw.id} already waits for `
            + `${limit} answers (maxPendingReconciliationsPerFramework); the others are answered as their agents return — ask about these again after answers arrive`);
        }
        return;
      }
      case 'MESSAGE': {
        const agentId = call.message?.agent_id?.value ?? '';
        const agent = core.agents.get(agentId);
        if (agent === undefined) throw new MasterError(Status.NOT_FOUND, `message.agent_id: unknown agent "${agentId}"`);
        agent.sink?.send({ type: 'FRAMEWORK_MESSAGE', framework_message: { framework_id: { value: fw.id }, executor_id: call.message?.executor_id ?? undefined, data: call.message?.data ?? Buffer.alloc(0) } });
        return;
      }
      case 'UPDATE_FRAMEWORK':
        core.frameworkManager.update(fw, call.update_framework?.framework_info ?? ({} as never), principal, call.update_framework?.suppressed_roles ?? []);
        return;
      case 'ACCEPT_INVERSE_OFFERS':
        core.maintenance.respond(fw, (call.accept_inverse_offers?.inverse_offer_ids ?? []).map((o) => o.value), true, 'accept_inverse_offers.inverse_offer_ids');
        return;
      case 'DECLINE_INVERSE_OFFERS':
        core.maintenance.respond(fw, (call.decline_inverse_offers?.inverse_offer_ids ?? []).map((o) => o.value), false, 'decline_inverse_offers.inverse_offer_ids');
        return;
      case 'SHUTDOWN':
        throw new MasterError(Status.UNIMPLEMENTED, 'shutdown: Berth runs no custom executors; kill the task instead');
      default:
        core.metrics?.invalidCalls.inc({ call: String(call.type), reason: 'UNKNOWN_TYPE' });
        throw new MasterError(Status.INVALID_ARGUMENT, `type: unknown call type ${JSON.stringify(call.type)}`);
    }
  }

  private accept(core: MasterCore, fw: FrameworkEntry, call: Call__Output): void {
    const accept = call.accept;
    const asked = filtersFromWire(accept?.filters);
    const ids = (accept?.offer_ids ?? []).map((o) => o.value);
    const operations = accept?.operations ?? [];
    let offers: OfferEntry[];
    try {
      offers = this.takeAll(core, fw, ids, 'accept.offer_ids');
    } catch (err) {
      // Invalid offers: every task in the call is dropped, as Mesos does; valid offers return. One
      // update per id, and none for the id of a task the framework has (it would be about that task).
      for (const taskId of reportableTaskIds(taskSites(operations), (id) => fw.tasks.has(id))) {
        core.tasks.rejectLaunch(fw, taskId, undefined, forFramework('TASK_DROPPED', fw.info.capabilities.has('PARTITION_AWARE')), 'REASON_INVALID_OFFERS', (err as Error).message);
      }
      throw err;
    }
    if (offers.length === 0) throw new MasterError(Status.INVALID_ARGUMENT, 'accept.offer_ids: at least one offer is needed');
    const plan = planAccept({
      frameworkId: fw.id,
      principal: fw.info.principal,
      frameworkRoles: new Set(fw.info.roles),
      capabilities: fw.info.capabilities,
      offers: offers.map((o) => ({ id: o.id, agentId: o.agentId, role: o.role, resources: o.resources })),
      operations,
      isKnownTask: (taskId) => fw.tasks.has(taskId),
      frameworkUser: fw.info.user,
      priorityClasses: core.priorityClasses,
      authorize: core.authorizer === undefined ? undefined : (action, role, user) => core.allowed(fw.info.principal === undefined ? undefined : { name: fw.info.principal }, action, role, user),
    });
    // A refused ACCEPT returns its offers without its filters: the framework is expected to send
    // a corrected one, and the resources were never its choice to refuse.
    const filters = plan.refused === undefined ? asked : undefined;
    if (plan.refused !== undefined) core.metrics?.invalidCalls.inc({ call: 'ACCEPT', reason: 'DUPLICATE_TASK_ID' });
    const agentId = offers[0]!.agentId;
    const agent = core.agents.get(agentId);
    const now = core.clock.now();
    const aware = fw.info.capabilities.has('PARTITION_AWARE');
    for (const outcome of plan.taskOutcomes) {
      core.tasks.rejectLaunch(fw, outcome.taskId, agentId, forFramework(outcome.state, aware), outcome.reason, outcome.message);
      core.metrics?.rejectedOperations.inc({ reason: outcome.reason });
    }
    if (agent === undefined || !agent.connected || agent.sink === undefined) {
      for (const l of plan.launches) core.tasks.rejectLaunch(fw, l.task.task_id?.value ?? '', agentId, forFramework('TASK_DROPPED', aware), 'REASON_AGENT_DISCONNECTED', `agent ${agentId} is not connected`);
      for (const o of offers) core.allocator.recoverResources(fw.id, o.agentId, o.role, o.resources, undefined, now);
      return;
    }
    for (const c of plan.conversions) {
      core.allocator.updateAllocation(fw.id, agentId, c.role, [{ consumed: c.consumed, converted: c.converted }]);
      core.agentManager.setTotal(agent, agent.total.minus(c.consumed).plus(c.converted));
    }
    if (plan.conversions.length > 0) core.agentManager.persist(agent);
    launchPlanned(core, fw, agent, plan);
    let unused = 0;
    for (const u of plan.unused) {
      if (u.resources.isEmpty()) continue;
      core.allocator.recoverResources(fw.id, agentId, u.role, u.resources, filters, now);
      unused++;
    }
    if (unused > 0) {
      core.metrics?.offersDeclined.inc(unused);
      core.allocateSoon(agentId);
    }
    if (plan.refused !== undefined) {
      fw.sink?.send({ type: 'ERROR', error: { message: `accept: ${plan.refused}`, code: Status.INVALID_ARGUMENT, fatal: false, request_id: call.request_id } });
    }
    for (const e of plan.operationErrors) {
      core.metrics?.rejectedOperations.inc({ reason: 'INVALID_OPERATION' });
      fw.sink?.send({ type: 'ERROR', error: { message: `accept.operations[${e.index}] (${e.type}): ${e.message}`, code: Status.INVALID_ARGUMENT, fatal: false, request_id: call.request_id } });
    }
  }

  /**
   * Takes the named offers out of the outstanding set: the valid ones (existing, this framework's,
   * listed once; with `sameAgent`, all of one agent) and the problems with the rest.
   */
  private takeOffers(core: MasterCore, fw: FrameworkEntry, ids: readonly string[], field: string, sameAgent: boolean): { taken: OfferEntry[]; problems: string[] } {
    const problems: string[] = [];
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      const offer = core.offers.offers.get(id);
      if (seen.has(id)) problems.push(`${field}[${i}]: offer "${id}" is listed twice`);
      else if (offer === undefined) problems.push(`${field}[${i}]: unknown or already used offer "${id}"`);
      else if (offer.frameworkId !== fw.id) problems.push(`${field}[${i}]: offer "${id}" belongs to another framework`);
      else if (offer.gangId !== undefined) problems.push(`${field}[${i}]: offer "${id}" is part of gang "${offer.gangId}": answer the whole gang with ACCEPT_GANG or DECLINE_GANG`);
      seen.add(id);
    });
    if (sameAgent) {
      const agents = new Set(ids.map((id) => core.offers.offers.get(id)?.agentId).filter((a) => a !== undefined));
      if (agents.size > 1) problems.push(`${field}: offers from different agents (${[...agents].join(', ')}) cannot be accepted together`);
    }
    const taken = [...seen].map((id) => core.offers.offers.get(id)).filter((o): o is OfferEntry => o !== undefined && o.frameworkId === fw.id && o.gangId === undefined).map((o) => core.offers.take(o.id)!);
    return { taken, problems };
  }

  /** For ACCEPT: all named offers or none — on any problem the valid ones go back (no filter). */
  private takeAll(core: MasterCore, fw: FrameworkEntry, ids: readonly string[], field: string): OfferEntry[] {
    const { taken, problems } = this.takeOffers(core, fw, ids, field, true);
    if (problems.length === 0) return taken;
    for (const o of taken) core.allocator.recoverResources(fw.id, o.agentId, o.role, o.resources, undefined, core.clock.now());
    return this.invalidOffers(core, problems, 'ACCEPT');
  }

  private invalidOffers(core: MasterCore, problems: readonly string[], call: string): never {
    core.metrics?.invalidCalls.inc({ call, reason: 'INVALID_OFFERS' });
    throw new MasterError(Status.INVALID_ARGUMENT, problems.join('; '));
  }

  private roles(fw: FrameworkEntry, roles: readonly string[], field: string): string[] | undefined {
    if (roles.length === 0) return undefined;
    roles.forEach((r, i) => {
      if (!fw.info.roles.includes(r)) throw new MasterError(Status.INVALID_ARGUMENT, `${field}[${i}]: "${r}" is not one of the framework's roles (${fw.info.roles.join(', ')})`);
    });
    return [...roles];
  }

  /** Turns anything thrown while handling a call into an ERROR event; ends the stream when fatal. */
  private reject(sink: StreamSink<Event>, call: Call__Output, err: unknown, beforeSubscribe: boolean): void {
    const core = this.core();
    let code: number = Status.INTERNAL;
    let message: string;
    let fatal = beforeSubscribe;
    if (err instanceof MasterError) {
      code = err.grpcCode;
      message = err.message;
      fatal = fatal || (err as { fatal?: boolean }).fatal === true;
    } else if (err instanceof ValidationError) {
      code = Status.INVALID_ARGUMENT;
      message = err.message;
    } else {
      message = `internal error handling ${String(call?.type)}: ${(err as Error)?.message ?? String(err)}`;
      core?.logger.error('unexpected error handling a scheduler call', { err, call: call?.type });
    }
    const leader = err instanceof MasterError && err.grpcCode === Status.UNAVAILABLE ? (err as { leader?: unknown }).leader : undefined;
    sink.send({ type: 'ERROR', error: { message, code, fatal, request_id: call?.request_id ?? '', leader: leader as never } });
    if (fatal) sink.close();
  }
}
