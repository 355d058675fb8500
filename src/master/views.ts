import { Resources } from '../common/resources';
import { SEE_ALL, type Visibility } from './visibility';
import type { AgentState } from '../generated/berth/v1/AgentState';
import type { ClusterState } from '../generated/berth/v1/ClusterState';
import type { FrameworkState } from '../generated/berth/v1/FrameworkState';
import type { ResourceQuantity } from '../generated/berth/v1/ResourceQuantity';
import type { RoleState } from '../generated/berth/v1/RoleState';
import { resourcesToWire } from '../common/wire';
import { formatMilli } from '../common/scalar';
import type { MasterCore } from './master-core';
import type { AgentEntry, FrameworkEntry } from './model';

/** Wire views of the master's state, for the operator API and the Watch stream. */

const time = (ms: number | undefined) => (ms === undefined ? undefined : { nanoseconds: String(BigInt(Math.round(ms)) * 1_000_000n) });

export function quantitiesToWire(q: ReadonlyMap<string, number>): ResourceQuantity[] {
  return [...q].map(([name, milli]) => ({ name, value: Number(formatMilli(milli)) }));
}

export function agentView(core: MasterCore, agent: AgentEntry): AgentState {
  const available = core.allocator.available(agent.id);
  let offered = Resources.empty();
  for (const o of core.offers.ofAgent(agent.id)) offered = offered.plus(o.resources);
  // Allocated to someone = total − available; of that, what sits in outstanding offers is "offered".
  const held = available !== undefined && agent.total.contains(available) ? agent.total.minus(available) : Resources.empty();
  const allocated = held.contains(offered) ? held.minus(offered) : held;
  return {
    agent_info: { ...agent.info, id: { value: agent.id }, resources: resourcesToWire(agent.total) },
    lifecycle: agent.lifecycle,
    connected: agent.connected,
    deactivated: agent.deactivated,
    drain_info: agent.drain === undefined ? undefined : { state: agent.drain.state, config: { max_grace_period: agent.drain.maxGracePeriodMs === undefined ? undefined : { nanoseconds: String(BigInt(agent.drain.maxGracePeriodMs) * 1_000_000n) }, mark_gone: agent.drain.markGone } },
    total_resources: resourcesToWire(agent.total),
    allocated_resources: resourcesToWire(allocated),
    offered_resources: resourcesToWire(offered),
    version: agent.version,
    registered_time: time(agent.registeredAt),
    reregistered_time: time(agent.reregisteredAt),
    unreachable_time: time(agent.unreachableAt),
  };
}

export function frameworkView(core: MasterCore, fw: FrameworkEntry): FrameworkState {
  const counts: Record<string, number> = {};
  for (const t of fw.tasks.values()) counts[t.state] = (counts[t.state] ?? 0) + 1;
  const allocated = new Map<string, number>();
  for (const t of fw.tasks.values()) if (!t.recovered) for (const [n, v] of t.resources.quantities()) allocated.set(n, (allocated.get(n) ?? 0) + v);
  const offered = new Map<string, number>();
  for (const id of fw.offers) for (const [n, v] of core.offers.offers.get(id)?.resources.quantities() ?? []) offered.set(n, (offered.get(n) ?? 0) + v);
  return {
    framework_info: fw.wire,
    connected: fw.connected,
    recovered: !fw.connected && fw.reregisteredAt === undefined,
    registered_time: time(fw.registeredAt),
    reregistered_time: time(fw.reregisteredAt),
    unregistered_time: time(fw.disconnectedAt),
    suppressed_roles: [...fw.suppressed],
    allocated_resources: quantitiesToWire(allocated),
    offered_resources: quantitiesToWire(offered),
    task_counts: counts,
  };
}

export function roleViews(core: MasterCore): RoleState[] {
  // Offered: outstanding offers by role. Reserved: reservations on agents by their (current) role.
  const offered = new Map<string, Map<string, number>>();
  for (const o of core.offers.offers.values()) add(offered, o.role, o.resources.quantities());
  const reserved = new Map<string, Map<string, number>>();
  for (const a of core.agents.values()) {
    if (a.lifecycle === 'GONE') continue;
    for (const e of a.total.entries) {
      const owner = e.reservations[e.reservations.length - 1]?.role;
      if (owner !== undefined && e.kind === 'scalar') add(reserved, owner, new Map([[e.name, e.scalar!]]));
    }
  }
  return core.allocator.roles().map((r) => ({
    name: r.role,
    weight: r.weight,
    quota: r.quota === undefined ? undefined : { role: r.role, guarantees: quantitiesToWire(r.quota.guarantees ?? new Map()), limits: quantitiesToWire(r.quota.limits ?? new Map()) },
    allocated: quantitiesToWire(r.allocated),
    offered: quantitiesToWire(offered.get(r.role) ?? new Map()),
    reserved: quantitiesToWire(reserved.get(r.role) ?? new Map()),
    dominant_share: r.share,
    frameworks: r.frameworks.map((value) => ({ value })),
  }));
}

function add(into: Map<string, Map<string, number>>, role: string, q: ReadonlyMap<string, number>): void {
  let m = into.get(role);
  if (m === undefined) into.set(role, (m = new Map()));
  for (const [name, v] of q) m.set(name, (m.get(name) ?? 0) + v);
}

/** The cluster as `see` lets its reader see it (frameworks and tasks of other principals filtered out). */
export function clusterState(core: MasterCore, see: Visibility = SEE_ALL): ClusterState {
  const visible = [...core.frameworks.values()].filter((fw) => see.tasks(fw.info.principal));
  const tasks = visible.flatMap((fw) => [...fw.tasks.values()].map((t) => core.tasks.toWire(t)));
  const removed = core.frameworkManager.completed.list();
  const completed = [...visible, ...removed.filter((fw) => see.tasks(fw.info.principal))].flatMap((fw) => fw.completed.map((t) => core.tasks.toWire(t)));
  return {
    master_info: core.masterInfo(),
    agents: [...core.agents.values()].map((a) => agentView(core, a)),
    frameworks: [...core.frameworks.values()].filter((f) => see.framework(f.info.principal)).map((f) => frameworkView(core, f)),
    completed_frameworks: removed.filter((f) => see.framework(f.info.principal)).map((f) => frameworkView(core, f)),
    tasks,
    completed_tasks: completed,
    roles: roleViews(core),
  };
}
