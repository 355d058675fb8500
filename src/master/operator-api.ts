import { randomUUID } from 'node:crypto';
import { visibilityFor } from './visibility';
import { callCertificatePrincipal } from '../common/tls';
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { ClusterEvent } from '../generated/berth/v1/ClusterEvent';
import type { OperatorHandlers } from '../generated/berth/v1/Operator';
import type { WatchRequest__Output } from '../generated/berth/v1/WatchRequest';
import { Resources } from '../common/resources';
import { durationFromWire, resourcesFromWire } from '../common/wire';
import { formatMilli, toMilli } from '../common/scalar';
import { roleProblem } from '../common/roles';
import type { AgentApi } from './agent-api';
import type { AuthAction } from '../common/auth';
import { MasterError } from './errors';
import { checkHostname } from './validation/hostname';
import type { MasterCore } from './master-core';
import type { AgentEntry, FrameworkEntry } from './model';
import type { MasterInfo } from '../generated/berth/v1/MasterInfo';
import { RegistryFencedError, RegistryUnavailableError } from './registry/registry';
import type { Authenticate } from './client-stream';
import { ValidationError } from '../common/wire';
import { agentView, clusterState, frameworkView, roleViews } from './views';
import { watch } from './watch-api';

/** What a master says of itself and the leader (GetHealth, GetMaster, `/leader`). */
export interface MasterStatus {
  /** This master; `leader` true only while it leads and serves. */
  readonly self: MasterInfo;
  /** The leader as this master knows it (itself while it serves); undefined while none is known. */
  readonly leader: MasterInfo | undefined;
  /** This master holds the leadership (it may still be taking over). */
  readonly elected: boolean;
  /** This master can do leader work now: elected and taken over. */
  readonly serving: boolean;
}

/** What the operator API needs besides the leading core. */
export interface OperatorApiDeps {
  readonly core: () => MasterCore | undefined;
  readonly authenticate: Authenticate | undefined;
  readonly notLeader: () => MasterError;
  readonly agentApi: AgentApi;
  readonly version: string;
  /** Metrics as name/value pairs (GetMetrics). */
  readonly metricsSnapshot: () => Promise<{ name: string; value: number }[]>;
  /** This master and the leader (GetHealth, GetMaster), answered by a standby too. */
  readonly status: () => MasterStatus;
  /** @default 30000 */
  readonly watchHeartbeatMs?: number;
  /** @default 10000 */
  readonly taskLogTimeoutMs?: number;
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

/**
 * The operator API: read the cluster, change weights, quota, reservations, drain and maintenance,
 * tear frameworks down, read task logs, and `Watch` (a snapshot, then deltas, resumable from a
 * sequence number). Domain errors become gRPC statuses here and only here.
 */
export function operatorHandlers(deps: OperatorApiDeps): OperatorHandlers {
  const leading = (principal: { name: string } | undefined, action?: AuthAction, object?: string): MasterCore => {
    const core = deps.core();
    if (core === undefined || core.isStopped) throw deps.notLeader();
    if (action !== undefined && !core.allowed(principal, action, object)) {
      throw new MasterError(Status.PERMISSION_DENIED, `principal "${principal?.name ?? '(none)'}" may not ${action}${object === undefined ? '' : ` on "${object}"`}`);
    }
    return core;
  };
  /** Wraps a handler: authentication, error mapping, never an unhandled throw. */
  function unary<Req, Res>(fn: (req: Req, principal: { name: string } | undefined) => Res | Promise<Res>): Unary<Req, Res> {
    return (call, callback) => {
      let principal: { name: string } | undefined;
      if (deps.authenticate !== undefined) {
        principal = deps.authenticate(call.metadata, callCertificatePrincipal(call as never));
        if (principal === undefined) return callback({ code: Status.UNAUTHENTICATED, details: 'missing or invalid bearer token' });
      }
      Promise.resolve()
        .then(() => fn(call.request, principal))
        .then(
          (res) => callback(null, res),
          (err: unknown) => callback(toStatus(err, deps.core())),
        );
    };
  }
  const agentOf = (core: MasterCore, id: string | undefined, field = 'agent_id'): AgentEntry => {
    const agent = core.agents.get(id ?? '');
    if (agent === undefined) throw new MasterError(Status.NOT_FOUND, `${field}: unknown agent "${id ?? ''}"`);
    return agent;
  };

  return {
    GetHealth: unary(() => health(deps.status())),
    GetVersion: unary(() => ({ version: deps.version, git_sha: '', api_package: 'berth.v1' })),
    GetMaster: unary(() => {
      const { self, leader } = deps.status();
      return { master_info: self, leader_info: leader };
    }),
    GetState: unary((_req, p) => {
      const core = leading(p, 'view');
      return { state: clusterState(core, visibilityFor(core, p)) };
    }),
    GetAgents: unary((req, p) => {
      const core = leading(p, 'view');
      return { agents: [...core.agents.values()].filter((a) => req.include_gone || a.lifecycle !== 'GONE').map((a) => agentView(core, a)) };
    }),
    GetFrameworks: unary((_req, p) => {
      const core = leading(p, 'view');
      const see = visibilityFor(core, p);
      return {
        frameworks: [...core.frameworks.values()].filter((f) => see.framework(f.info.principal)).map((f) => frameworkView(core, f)),
        completed_frameworks: core.frameworkManager.completed.list().filter((f) => see.framework(f.info.principal)).map((f) => frameworkView(core, f)),
      };
    }),
    GetTasks: unary((req, p) => {
      const core = leading(p, 'view');
      const see = visibilityFor(core, p);
      const fwId = req.framework_id?.value || undefined;
      const agentId = req.agent_id?.value || undefined;
      const mine = (f: FrameworkEntry) => (fwId === undefined || f.id === fwId) && see.tasks(f.info.principal);
      const frameworks = [...core.frameworks.values()].filter(mine);
      const match = (t: { agentId: string }) => agentId === undefined || t.agentId === agentId;
      // Completed tasks include those of completed (removed) frameworks, as long as the history keeps them.
      const withCompleted = req.include_completed ? [...frameworks, ...core.frameworkManager.completed.list().filter(mine)] : [];
      return {
        tasks: frameworks.flatMap((f) => [...f.tasks.values()].filter(match).map((t) => core.tasks.toWire(t))),
        completed_tasks: withCompleted.flatMap((f) => f.completed.filter(match).map((t) => core.tasks.toWire(t))),
      };
    }),
    GetRoles: unary((_req, p) => ({ roles: roleViews(leading(p, 'view')) })),
    GetQuota: unary((_req, p) => ({ configs: roleViews(leading(p, 'view')).filter((r) => r.quota !== undefined).map((r) => r.quota!) })),
    UpdateQuota: unary(async (req, p) => {
      const core = leading(p);
      // All or nothing: every config is checked before any is applied.
      const configs = (req.configs ?? []).map((c, i) => {
        const problem = c.role === '*' ? 'quota is for a named role, not "*"' : roleProblem(c.role);
        if (problem !== undefined) throw new MasterError(Status.INVALID_ARGUMENT, `configs[${i}].role: ${JSON.stringify(c.role)}: ${problem}`);
        if (!core.allowed(p, 'set_quota', c.role)) throw new MasterError(Status.PERMISSION_DENIED, `configs[${i}].role: principal "${p?.name ?? '(none)'}" may not set quota for "${c.role}"`);
        const config = { role: c.role, guarantees: quantities(c.guarantees ?? [], `configs[${i}].guarantees`), limits: quantities(c.limits ?? [], `configs[${i}].limits`) };
        [...config.guarantees].forEach(([name, g], j) => {
          const limit = config.limits.get(name);
          if (limit !== undefined && g > limit) throw new MasterError(Status.INVALID_ARGUMENT, `configs[${i}].guarantees[${j}]: ${name} ${formatMilli(g)} exceeds its limit ${formatMilli(limit)}`);
        });
        return config;
      });
      if (!req.force) checkGuaranteesFit(core, configs);
      // Persist, then apply, then answer (as Mesos's registrar): a failed write changes nothing.
      await core.persistFirst(configs.map((c) => ({ key: `quotas/${c.role}`, value: { guarantees: [...c.guarantees], limits: [...c.limits] } })), `UpdateQuota of ${configs.map((c) => `"${c.role}"`).join(', ')}`);
      for (const c of configs) {
        core.allocator.updateQuota(c.role, c.guarantees.size === 0 && c.limits.size === 0 ? undefined : { guarantees: c.guarantees, limits: c.limits });
        core.offers.rescindAll('quota', c.role);
      }
      for (const c of configs) core.publish('ROLE_UPDATED', { role: c.role });
      core.allocateSoon();
      return {};
    }),
    GetWeights: unary((_req, p) => ({ weights: roleViews(leading(p, 'view')).filter((r) => r.weight !== 1).map((r) => ({ role: r.name, weight: r.weight })) })),
    UpdateWeights: unary(async (req, p) => {
      const core = leading(p);
      const weights = new Map<string, number>();
      (req.weights ?? []).forEach((w, i) => {
        const problem = roleProblem(w.role);
        if (problem !== undefined) throw new MasterError(Status.INVALID_ARGUMENT, `weights[${i}].role: ${JSON.stringify(w.role)}: ${problem}`);
        if (!core.allowed(p, 'set_weights', w.role)) throw new MasterError(Status.PERMISSION_DENIED, `weights[${i}].role: principal "${p?.name ?? '(none)'}" may not set the weight of "${w.role}"`);
        if (!(w.weight > 0) || !Number.isFinite(w.weight)) throw new MasterError(Status.INVALID_ARGUMENT, `weights[${i}].weight: must be a positive number, got ${w.weight}`);
        weights.set(w.role, w.weight);
      });
      // Persist, then apply, then answer: a failed write changes nothing.
      await core.persistFirst([...weights].map(([role, weight]) => ({ key: `weights/${role}`, value: weight })), `UpdateWeights of ${[...weights.keys()].map((r) => `"${r}"`).join(', ')}`);
      core.allocator.updateWeights(weights);
      for (const role of weights.keys()) core.publish('ROLE_UPDATED', { role });
      return {};
    }),
    ReserveResources: unary(async (req, p) => {
      const core = leading(p);
      const agent = agentOf(core, req.agent_id?.value);
      const resources = resourcesFromWire(req.resources ?? [], 'resources');
      resources.entries.forEach((e, i) => {
        if (e.reservations.at(-1)?.type !== 'DYNAMIC') throw new MasterError(Status.INVALID_ARGUMENT, `resources[${i}]: ${e.name} needs the new DYNAMIC reservation on top of its reservations`);
      });
      const source = req.source !== undefined && req.source.length > 0 ? resourcesFromWire(req.source, 'source') : resources.popReservation();
      for (const role of new Set(resources.entries.map((e) => e.reservations[e.reservations.length - 1]?.role ?? ''))) {
        if (!core.allowed(p, 'reserve', role)) throw new MasterError(Status.PERMISSION_DENIED, `resources: principal "${p?.name ?? '(none)'}" may not reserve for role "${role}"`);
      }
      await convertAvailable(core, agent, source, resources);
      return {};
    }),
    UnreserveResources: unary(async (req, p) => {
      const core = leading(p);
      const agent = agentOf(core, req.agent_id?.value);
      const resources = resourcesFromWire(req.resources ?? [], 'resources');
      for (const role of new Set(resources.entries.map((e) => e.reservations[e.reservations.length - 1]?.role ?? ''))) {
        if (!core.allowed(p, 'unreserve', role)) throw new MasterError(Status.PERMISSION_DENIED, `resources: principal "${p?.name ?? '(none)'}" may not unreserve role "${role}"`);
      }
      await convertAvailable(core, agent, resources, resources.popReservation());
      return {};
    }),
    // The agent calls below answer once their change is durable; a failed write is UNAVAILABLE
    // and changes nothing.
    DrainAgent: unary(async (req, p) => {
      const core = leading(p, 'drain_agent', req.agent_id?.value); // ACL objects are agent ids
      await core.agentManager.drain(agentOf(core, req.agent_id?.value), durationFromWire(req.max_grace_period), req.mark_gone);
      return {};
    }),
    DeactivateAgent: unary(async (req, p) => {
      const core = leading(p, 'drain_agent', req.agent_id?.value); // ACL objects are agent ids
      await core.agentManager.setDeactivated(agentOf(core, req.agent_id?.value), true);
      return {};
    }),
    ReactivateAgent: unary(async (req, p) => {
      const core = leading(p, 'drain_agent', req.agent_id?.value); // ACL objects are agent ids
      await core.agentManager.setDeactivated(agentOf(core, req.agent_id?.value), false);
      return {};
    }),
    MarkAgentGone: unary(async (req, p) => {
      const core = leading(p, 'drain_agent', req.agent_id?.value); // ACL objects are agent ids
      await core.agentManager.markGone(agentOf(core, req.agent_id?.value));
      return {};
    }),
    GetMaintenanceSchedule: unary((_req, p) => ({ schedule: leading(p, 'view').maintenance.schedule })),
    UpdateMaintenanceSchedule: unary(async (req, p) => {
      const core = leading(p);
      // Every machine whose windows the change adds, moves or removes is an object of the ACL.
      const machinesOf = (s: typeof req.schedule) => (s?.windows ?? []).flatMap((w) => (w.machine_ids ?? []).map((m) => m.hostname ?? ''));
      mayMaintain(core, p, [...machinesOf(core.maintenance.schedule), ...machinesOf(req.schedule)]);
      await core.maintenance.updateSchedule(req.schedule);
      return {};
    }),
    GetMaintenanceStatus: unary((_req, p) => leading(p, 'view').maintenance.status()),
    StartMaintenance: unary(async (req, p) => {
      const core = leading(p);
      const machines = hostnames(req.machines ?? []);
      mayMaintain(core, p, machines);
      await core.maintenance.start(machines);
      return {};
    }),
    StopMaintenance: unary(async (req, p) => {
      const core = leading(p);
      const machines = hostnames(req.machines ?? []);
      mayMaintain(core, p, machines);
      await core.maintenance.stop(machines);
      return {};
    }),
    Teardown: unary(async (req, p) => {
      const core = leading(p);
      const id = req.framework_id?.value ?? '';
      const fw = core.frameworks.get(id);
      if (fw === undefined) throw new MasterError(Status.NOT_FOUND, `framework_id: unknown framework "${id}"`);
      if (!core.allowed(p, 'teardown', fw.info.principal ?? '')) throw new MasterError(Status.PERMISSION_DENIED, `principal "${p?.name ?? '(none)'}" may not tear down framework "${id}"`);
      await core.frameworkManager.teardown(fw, 'operator TEARDOWN');
      return {};
    }),
    KillTask: unary((req, p) => {
      const core = leading(p);
      const taskId = req.task_id?.value ?? '';
      if (taskId === '') throw new MasterError(Status.INVALID_ARGUMENT, 'task_id: must be set');
      const frameworkId = req.framework_id?.value ?? '';
      const owners = [...core.frameworks.values()].filter((f) => (frameworkId === '' || f.id === frameworkId) && f.tasks.has(taskId));
      if (owners.length === 0) throw new MasterError(Status.NOT_FOUND, `task_id: no running task "${taskId}"${frameworkId === '' ? '' : ` of framework "${frameworkId}"`}`);
      if (owners.length > 1) throw new MasterError(Status.FAILED_PRECONDITION, `task_id: several frameworks have a task "${taskId}" (${owners.map((f) => f.id).join(', ')}); set framework_id`);
      const fw = owners[0]!;
      if (!core.allowed(p, 'teardown', fw.info.principal ?? '')) throw new MasterError(Status.PERMISSION_DENIED, `principal "${p?.name ?? '(none)'}" may not kill tasks of framework "${fw.id}" (the teardown ACL)`);
      core.tasks.kill(fw, taskId, req.grace_period ? { grace_period: req.grace_period } : undefined);
      return {};
    }),
    GetMetrics: unary(async (req, p) => {
      leading(p, 'view');
      return { metrics: (await deps.metricsSnapshot()).filter((m) => m.name.startsWith(req.prefix ?? '')) };
    }),
    ReadTaskLog: unary((req, p) => {
      const core = leading(p, 'view');
      const see = visibilityFor(core, p);
      const taskId = req.task_id?.value ?? '';
      if ((req.tail_lines ?? 0) > MAX_TAIL_LINES) throw new MasterError(Status.INVALID_ARGUMENT, `tail_lines: at most ${MAX_TAIL_LINES}, got ${req.tail_lines}; read more of the log with offset instead`);
      // Tasks the caller may not see are unknown to it, as in GetTasks.
      const fwId = req.framework_id?.value || undefined;
      // Frameworks, then completed ones (a torn-down framework's task logs stay readable while the
      // master's history and the agent's sandbox garbage collection keep them).
      const candidates = [...core.frameworks.values(), ...core.frameworkManager.completed.list()].filter((f) => (fwId === undefined || f.id === fwId) && see.tasks(f.info.principal));
      const found = candidates.map((f) => ({ f, t: f.tasks.get(taskId) ?? f.completed.find((t) => t.taskId === taskId) })).find((x) => x.t !== undefined);
      if (found === undefined) throw new MasterError(Status.NOT_FOUND, `task_id: unknown task "${taskId}"`);
      const task = found.t!;
      const owner = found.f.info.principal;
      if (!see.sandboxes(owner)) throw new MasterError(Status.PERMISSION_DENIED, `principal "${p?.name ?? '(none)'}" may not read the logs of tasks of framework principal "${owner ?? ''}" (the access_sandboxes ACL)`);
      const agent = core.agents.get(task.agentId);
      if (agent?.sink === undefined) throw new MasterError(Status.UNAVAILABLE, `task_id: the agent of task "${taskId}" (${task.agentId}) is not connected`);
      const requestId = randomUUID();
      return new Promise((resolve, reject) => {
        const timer = core.clock.setTimeout(() => {
          deps.agentApi.forgetTaskLog(requestId);
          reject(new MasterError(Status.DEADLINE_EXCEEDED, `agent ${task.agentId} did not answer the log read in time`));
        }, deps.taskLogTimeoutMs ?? 10_000);
        deps.agentApi.awaitTaskLog(requestId, (reply) => {
          core.clock.clearTimeout(timer);
          if (reply.error !== '') reject(new MasterError(Status.FAILED_PRECONDITION, `reading the log of task "${taskId}": ${reply.error}`));
          else resolve({ data: reply.data, size: reply.size, offset: reply.offset });
        });
        agent.sink!.send({ type: 'READ_TASK_LOG', read_task_log: { request_id: requestId, framework_id: { value: task.frameworkId }, task_id: { value: taskId }, stream: req.stream, offset: req.offset, length: req.length, tail_lines: req.tail_lines } });
      });
    }),
    Watch: (stream: grpc.ServerWritableStream<WatchRequest__Output, ClusterEvent>) => watch(deps, stream),
  };
}

/** GetHealth's answer (operator.proto: alive = answers; serving = can do leader work now). */
function health(status: MasterStatus): { healthy: boolean; alive: boolean; leader: boolean; serving: boolean; message: string } {
  const leader = status.leader;
  const standby = leader === undefined ? 'standby; no leader is known' : `standby; the leader is ${leader.id} at ${leader.address?.hostname}:${leader.address?.port}`;
  const message = status.serving ? 'leading' : status.elected ? 'elected; taking over' : standby;
  return { healthy: true, alive: true, leader: status.serving, serving: status.serving, message };
}

/**
 * Operator RESERVE/UNRESERVE on an agent's unallocated resources. Offers of the agent are rescinded
 * first when they hold what is needed (operator.proto: "offers holding them are rescinded first");
 * resources used by tasks cannot be converted.
 */
async function convertAvailable(core: MasterCore, agent: AgentEntry, consumed: Resources, converted: Resources): Promise<void> {
  if (!(core.allocator.available(agent.id)?.contains(consumed) ?? true)) core.offers.rescindForAgent(agent.id, 'reservation');
  const available = core.allocator.available(agent.id);
  if (available === undefined || !available.contains(consumed)) {
    throw new MasterError(Status.FAILED_PRECONDITION, `resources: agent ${agent.id} does not have ${consumed} unallocated (available: ${available ?? 'none'}); rescind offers or wait for tasks to finish`);
  }
  const total = agent.total.minus(consumed).plus(converted);
  await core.agentManager.persistFirst(agent, { total: total.toJSON() }, `reservation change on agent ${agent.id}`);
  // What the write was checked against may have changed meanwhile (a task launched): check again.
  const now = core.allocator.available(agent.id);
  if (now === undefined || !now.contains(consumed)) {
    core.agentManager.persist(agent);
    throw new MasterError(Status.ABORTED, `resources: agent ${agent.id} no longer has ${consumed} unallocated (taken while the change was written); nothing was changed, try again`);
  }
  core.allocator.updateAvailable(agent.id, [{ consumed, converted }]);
  core.agentManager.setTotal(agent, total);
  core.publish('AGENT_UPDATED', { agentId: agent.id });
  core.allocateSoon(agent.id);
}

/**
 * Guarantees must fit the cluster (Mesos's capacity heuristic; `force` skips it): for each
 * resource, the guarantees of all roles after the update must not exceed the total of the agents
 * that are not unreachable or gone.
 */
function checkGuaranteesFit(core: MasterCore, configs: readonly { role: string; guarantees: ReadonlyMap<string, number> }[]): void {
  const guarantees = new Map(core.allocator.roles().map((r) => [r.role, r.quota?.guarantees ?? new Map<string, number>()]));
  for (const c of configs) guarantees.set(c.role, c.guarantees);
  const capacity = new Map<string, number>();
  for (const agent of core.agents.values()) {
    if (agent.lifecycle === 'UNREACHABLE' || agent.lifecycle === 'GONE') continue;
    for (const [name, milli] of agent.total.quantities()) capacity.set(name, (capacity.get(name) ?? 0) + milli);
  }
  const total = new Map<string, number>();
  for (const g of guarantees.values()) for (const [name, milli] of g) total.set(name, (total.get(name) ?? 0) + milli);
  configs.forEach((c, i) => {
    [...c.guarantees.keys()].forEach((name, j) => {
      const sum = total.get(name) ?? 0;
      const have = capacity.get(name) ?? 0;
      if (sum > have) {
        throw new MasterError(Status.FAILED_PRECONDITION, `configs[${i}].guarantees[${j}]: the guarantees of all roles would total ${name} ${formatMilli(sum)}, more than the cluster's ${formatMilli(have)}; set force to skip this check`);
      }
    });
  });
}

function quantities(list: readonly { name: string; value: number }[], field: string): Map<string, number> {
  const out = new Map<string, number>();
  list.forEach((q, i) => {
    if (q.name === '' || !(q.value >= 0) || !Number.isFinite(q.value)) throw new MasterError(Status.INVALID_ARGUMENT, `${field}[${i}]: needs a name and a non-negative value, got ${JSON.stringify(q)}`);
    out.set(q.name, toMilli(q.value));
  });
  return out;
}

/** Machines one maintenance call may name. */
const MAX_MACHINES = 10_000;
/** The most lines ReadTaskLog counts back from the end of a log. */
const MAX_TAIL_LINES = 100_000;

/** The `maintenance` ACL's objects are machines' hostnames (lowercase, as they are matched). */
function mayMaintain(core: MasterCore, principal: { name: string } | undefined, machines: readonly string[]): void {
  for (const hostname of new Set(machines.map((m) => m.toLowerCase()))) {
    if (!core.allowed(principal, 'maintenance', hostname)) {
      throw new MasterError(Status.PERMISSION_DENIED, `principal "${principal?.name ?? '(none)'}" may not change maintenance of machine "${hostname}"`);
    }
  }
}

function hostnames(machines: readonly { hostname?: string }[]): string[] {
  if (machines.length > MAX_MACHINES) throw new MasterError(Status.INVALID_ARGUMENT, `machines: at most ${MAX_MACHINES} per call, got ${machines.length}`);
  return machines.map((m, i) => checkHostname(m.hostname, `machines[${i}].hostname`));
}

function toStatus(err: unknown, core: MasterCore | undefined): Partial<grpc.StatusObject> {
  // The registry refused this master's write: another master leads (fenced), or it cannot be
  // reached. Either way the caller should retry, at the leader: not an internal error.
  if (err instanceof RegistryFencedError) return { code: Status.UNAVAILABLE, details: `this master is no longer the leader (a newer leader fenced its registry write); retry at the leader: ${err.message}` };
  if (err instanceof RegistryUnavailableError) return { code: Status.UNAVAILABLE, details: `the registry is unavailable; retry shortly: ${err.message}` };
  if (err instanceof MasterError) {
    const status: Partial<grpc.StatusObject> = { code: err.grpcCode, details: err.message };
    const leader = (err as { leader?: { address?: { hostname?: string; port?: number } } }).leader;
    if (err.grpcCode === Status.UNAVAILABLE && leader?.address !== undefined) {
      // A standby tells the caller where the leader is (documented in operator.proto).
      const metadata = new grpc.Metadata();
      metadata.set('berth-leader', `${leader.address.hostname}:${leader.address.port}`);
      status.metadata = metadata;
    }
    return status;
  }
  if (err instanceof ValidationError) return { code: Status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof RangeError) return { code: Status.INVALID_ARGUMENT, details: err.message };
  if ((err as { code?: string })?.code === 'INVALID_RESOURCES') return { code: Status.INVALID_ARGUMENT, details: (err as Error).message };
  core?.logger.error('unexpected error in an operator call', { err });
  return { code: Status.INTERNAL, details: `internal error: ${(err as Error)?.message ?? String(err)}` };
}
