/**
 * Operator `Watch` (operator.proto): a snapshot — or, with the right epoch and a buffered
 * `from_sequence`, a replay — then every cluster event the caller may see, and heartbeats; ended
 * with UNAVAILABLE when this master stops leading, RESOURCE_EXHAUSTED when the watcher cannot keep up.
 */
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { callCertificatePrincipal } from '../common/tls';
import { endStreamWithStatus } from '../common/rpc/server';
import type { ClusterEvent, _berth_v1_ClusterEvent_Preemption as ClusterEvent_Preemption } from '../generated/berth/v1/ClusterEvent';
import type { WatchRequest__Output } from '../generated/berth/v1/WatchRequest';
import type { BusEvent } from './event-bus';
import type { MasterCore } from './master-core';
import type { PreemptionRecord } from './preemption';
import type { Authenticate } from './client-stream';
import type { MasterError } from './errors';
import { agentView, clusterState, frameworkView, roleViews } from './views';
import { frameworkPrincipal, SEE_ALL, visibilityFor, type Visibility } from './visibility';

/** What Watch needs: the leading core, authentication, the standby's refusal, the heartbeat period. */
export interface WatchDeps {
  readonly core: () => MasterCore | undefined;
  readonly authenticate: Authenticate | undefined;
  readonly notLeader: () => MasterError;
  /** @default 30000 */
  readonly watchHeartbeatMs?: number;
}

/** Snapshot first (or a replay from `from_sequence` when still buffered), then deltas and heartbeats. */
export function watch(deps: WatchDeps, stream: grpc.ServerWritableStream<WatchRequest__Output, ClusterEvent>): void {
  const core = deps.core();
  const principal = deps.authenticate?.(stream.metadata, callCertificatePrincipal(stream as never));
  if (deps.authenticate !== undefined && principal === undefined) {
    endStreamWithStatus(stream, Status.UNAUTHENTICATED, 'missing or invalid bearer token');
    return;
  }
  if (core !== undefined && !core.allowed(principal, 'view')) {
    endStreamWithStatus(stream, Status.PERMISSION_DENIED, `principal "${principal?.name ?? '(none)'}" may not view the cluster`);
    return;
  }
  if (core === undefined || core.isStopped) {
    const err = deps.notLeader();
    endStreamWithStatus(stream, err.grpcCode, err.message);
    return;
  }
  const epoch = core.epoch;
  const heartbeatMs = deps.watchHeartbeatMs ?? 30_000;
  const toTime = (ms: number) => ({ nanoseconds: String(BigInt(ms) * 1_000_000n) });
  const see = visibilityFor(core, principal);
  const send = (event: BusEvent) => {
    if (visible(core, see, event)) stream.write(toClusterEvent(core, event, epoch, toTime(event.time)));
  };
  const from = stream.request.from_sequence;
  const replay = from !== undefined && from !== null && stream.request.epoch === epoch ? core.bus.since(Number(from)) : undefined;
  if (replay === undefined) {
    stream.write({ sequence: String(core.bus.lastSequence), type: 'SNAPSHOT', epoch, time: toTime(core.clock.now()), snapshot: { state: clusterState(core, see), heartbeat_interval_seconds: heartbeatMs / 1000 } });
  } else {
    for (const e of replay) send(e);
  }
  const unsubscribe = core.bus.subscribe((e) => {
    send(e);
    if (stream.writableLength > 64 << 20) stream.destroy(Object.assign(new Error('watcher too slow'), { code: Status.RESOURCE_EXHAUSTED }));
  });
  const heartbeat = core.clock.setInterval(() => stream.write({ sequence: String(core.bus.lastSequence), type: 'HEARTBEAT', epoch, time: toTime(core.clock.now()), heartbeat: {} }), heartbeatMs);
  const forgetStop = core.whenStopped((reason) => endStreamWithStatus(stream, Status.UNAVAILABLE, reason));
  const stop = () => {
    unsubscribe();
    forgetStop();
    core.clock.clearInterval(heartbeat);
  };
  stream.on('cancelled', stop);
  stream.on('close', stop);
  stream.on('error', stop);
}

/** Whether a Watch subscriber who sees `see` gets `e`: task and framework events by their framework's principal. */
function visible(core: MasterCore, see: Visibility, e: BusEvent): boolean {
  if (see === SEE_ALL) return true;
  const p = e.payload as { frameworkId?: string; entry?: { frameworkId: string } };
  switch (e.kind) {
    case 'TASK_ADDED':
    case 'TASK_UPDATED':
      return see.tasks(frameworkPrincipal(core, p.frameworkId ?? p.entry?.frameworkId ?? ''));
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED':
    case 'FRAMEWORK_REMOVED':
      return see.framework(frameworkPrincipal(core, p.frameworkId ?? ''));
    case 'PREEMPTION': // names tasks of several frameworks: shown to who may see them all
      return (e.payload as { record: PreemptionRecord }).record.victims.every((v) => see.tasks(frameworkPrincipal(core, v.frameworkId)));
    default:
      return true;
  }
}

function toClusterEvent(core: MasterCore, e: BusEvent, epoch: string, time: { nanoseconds: string }): ClusterEvent {
  const base = { sequence: String(e.sequence), type: e.kind, epoch, time };
  const p = e.payload as Record<string, never>;
  switch (e.kind) {
    case 'TASK_ADDED':
      return { ...base, task_added: { task: core.tasks.toWire(p.entry) } };
    case 'TASK_UPDATED':
      return { ...base, task_updated: { framework_id: { value: p.frameworkId }, status: p.status, state: p.state } };
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED': {
      const fw = core.frameworks.get(p.frameworkId);
      const framework = fw === undefined ? undefined : frameworkView(core, fw);
      return e.kind === 'FRAMEWORK_ADDED' ? { ...base, framework_added: { framework } } : { ...base, framework_updated: { framework } };
    }
    case 'FRAMEWORK_REMOVED':
      return { ...base, framework_removed: { framework_info: { id: { value: p.frameworkId } } } };
    case 'AGENT_ADDED':
    case 'AGENT_UPDATED': {
      const agent = core.agents.get(p.agentId);
      const view = agent === undefined ? undefined : agentView(core, agent);
      return e.kind === 'AGENT_ADDED' ? { ...base, agent_added: { agent: view } } : { ...base, agent_updated: { agent: view } };
    }
    case 'AGENT_REMOVED':
      return { ...base, agent_removed: { agent_id: { value: p.agentId } } };
    case 'ROLE_UPDATED':
      return { ...base, role_updated: { role: roleViews(core).find((r) => r.name === p.role) ?? { name: p.role } } };
    case 'PREEMPTION':
      return { ...base, preemption: preemptionToWire(p.record) };
  }
}

/** A preemption decision as ClusterEvent.Preemption. */
export function preemptionToWire(r: PreemptionRecord): ClusterEvent_Preemption {
  return {
    framework_id: { value: r.frameworkId },
    gang_id: r.gangId,
    role: r.role,
    priority_class: r.priorityClass,
    priority: r.priority,
    victims: r.victims.map((v) => ({ framework_id: { value: v.frameworkId }, task_id: { value: v.taskId }, agent_id: { value: v.agentId }, role: v.role, priority: v.priority })),
    kill_grace_seconds: r.killGraceMs / 1000,
    agents: r.agents.map((value) => ({ value })),
  };
}
