import { randomUUID } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import { durationFromWire, timeFromWire } from '../common/wire';
import type { InverseOffer } from '../generated/berth/v1/InverseOffer';
import type { MaintenanceSchedule__Output } from '../generated/berth/v1/MaintenanceSchedule';
import type { GetMaintenanceStatusResponse } from '../generated/berth/v1/GetMaintenanceStatusResponse';
import { MasterError } from './errors';
import { agentDescription } from './agent-description';
import type { AgentsPort, CoreServices, MaintenancePort, OffersPort } from './core-ports';
import type { FrameworkEntry } from './model';

type Window = NonNullable<MaintenanceSchedule__Output['windows']>[number];

interface InverseOfferEntry {
  readonly id: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly hostname: string;
  status: 'UNKNOWN' | 'ACCEPT' | 'DECLINE';
  answeredAt: number | undefined;
}

/**
 * Maintenance as in Mesos: the operator publishes a schedule of windows (machines by hostname, with
 * an unavailability); offers from those machines carry the window, and frameworks running tasks
 * there receive **inverse offers** asking them to vacate in time — advisory, answered with
 * ACCEPT/DECLINE_INVERSE_OFFERS and reported in GetMaintenanceStatus. StartMaintenance takes machines
 * down (their agents are drained), StopMaintenance brings them back.
 */
/** What maintenance needs of the core. */
export type MaintenanceCore = Pick<CoreServices, 'clock' | 'agents' | 'frameworks' | 'allocator' | 'persistFirst'> & {
  readonly agentManager: Pick<AgentsPort, 'drain' | 'setDeactivated'>;
  readonly offers: Pick<OffersPort, 'rescindAll'>;
};

export class MaintenanceManager implements MaintenancePort {
  schedule: { windows: Window[] } = { windows: [] };
  down = new Set<string>();
  private readonly inverse = new Map<string, InverseOfferEntry>();

  constructor(private readonly core: MaintenanceCore) {}

  recover(records: ReadonlyMap<string, unknown>): void {
    const schedule = records.get('maintenance/schedule') as { windows?: Window[] } | undefined;
    if (schedule !== undefined) this.schedule = { windows: schedule.windows ?? [] };
    const down = records.get('maintenance/down') as string[] | undefined;
    if (down !== undefined) this.down = new Set(down);
  }

  /** Replaces the schedule: offers carry the new windows, frameworks on affected machines get inverse offers. */
  async updateSchedule(schedule: MaintenanceSchedule__Output | null | undefined): Promise<void> {
    const windows = (schedule?.windows ?? []).map((w, i) => {
      (w.machine_ids ?? []).forEach((m, j) => {
        if ((m.hostname ?? '') === '') throw new MasterError(Status.INVALID_ARGUMENT, `schedule.windows[${i}].machine_ids[${j}].hostname: must be set`);
      });
      if (timeFromWire(w.unavailability?.start, `schedule.windows[${i}].unavailability.start`) === undefined) {
        throw new MasterError(Status.INVALID_ARGUMENT, `schedule.windows[${i}].unavailability.start: must be set`);
      }
      return w;
    });
    // Persist, then apply, then answer: a failed write changes nothing.
    await this.core.persistFirst([{ key: 'maintenance/schedule', value: { windows } }], 'UpdateMaintenanceSchedule');
    this.schedule = { windows };
    this.apply();
  }

  /** Pushes each agent's window into the allocator, rescinds stale offers, sends inverse offers. */
  apply(): void {
    const scheduled = new Set<string>();
    for (const agent of this.core.agents.values()) {
      // Only agents the allocator knows: RECOVERED ones join it when they re-register.
      if (agent.lifecycle !== 'REGISTERED') continue;
      const window = this.windowOf(agent.hostname);
      this.core.allocator.updateAgent(agent.id, { info: { ...agentDescription(agent), unavailability: this.unavailabilityOf(agent.hostname) } });
      if (window === undefined) continue;
      for (const task of agent.tasks.values()) scheduled.add(`${task.frameworkId}\u0000${agent.id}`);
    }
    this.core.offers.rescindAll('maintenance');
    // Inverse offers for (framework, agent) pairs newly in a window; rescind those no longer in one.
    for (const entry of [...this.inverse.values()]) {
      if (scheduled.delete(`${entry.frameworkId}\u0000${entry.agentId}`)) continue;
      this.inverse.delete(entry.id);
      this.core.frameworks.get(entry.frameworkId)?.sink?.send({ type: 'RESCIND_INVERSE_OFFER', rescind_inverse_offer: { inverse_offer_id: { value: entry.id } } });
    }
    const byFramework = new Map<string, InverseOffer[]>();
    for (const key of scheduled) {
      const [frameworkId, agentId] = key.split('\u0000') as [string, string];
      const agent = this.core.agents.get(agentId)!;
      const entry: InverseOfferEntry = { id: randomUUID(), frameworkId, agentId, hostname: agent.hostname, status: 'UNKNOWN', answeredAt: undefined };
      this.inverse.set(entry.id, entry);
      let list = byFramework.get(frameworkId);
      if (list === undefined) byFramework.set(frameworkId, (list = []));
      list.push(this.toWire(entry));
    }
    for (const [frameworkId, list] of byFramework) this.core.frameworks.get(frameworkId)?.sink?.send({ type: 'INVERSE_OFFERS', inverse_offers: { inverse_offers: list } });
  }

  /** ACCEPT/DECLINE_INVERSE_OFFERS: recorded for the operator; advisory only. */
  respond(fw: FrameworkEntry, ids: readonly string[], accept: boolean, field: string): void {
    ids.forEach((id, i) => {
      const entry = this.inverse.get(id);
      if (entry === undefined || entry.frameworkId !== fw.id) throw new MasterError(Status.INVALID_ARGUMENT, `${field}[${i}]: unknown inverse offer "${id}"`);
      entry.status = accept ? 'ACCEPT' : 'DECLINE';
      entry.answeredAt = this.core.clock.now();
    });
  }

  /** Drops a removed framework's inverse offers. */
  forgetFramework(frameworkId: string): void {
    for (const [id, e] of this.inverse) if (e.frameworkId === frameworkId) this.inverse.delete(id);
  }

  /** Re-sends a framework's outstanding inverse offers (after it re-subscribed). */
  resend(fw: FrameworkEntry): void {
    const list = [...this.inverse.values()].filter((e) => e.frameworkId === fw.id).map((e) => this.toWire(e));
    if (list.length > 0) fw.sink?.send({ type: 'INVERSE_OFFERS', inverse_offers: { inverse_offers: list } });
  }

  /**
   * StartMaintenance: the machines are down (durable first; a failed write changes nothing), then
   * their agents are drained, each drain durable before it takes effect.
   */
  async start(hostnames: readonly string[]): Promise<void> {
    const down = new Set([...this.down, ...hostnames]);
    await this.core.persistFirst([{ key: 'maintenance/down', value: [...down] }], 'StartMaintenance');
    this.down = down;
    for (const hostname of hostnames) {
      for (const agent of [...this.core.agents.values()]) {
        if (agent.hostname === hostname && agent.lifecycle !== 'GONE' && agent.drain === undefined) await this.core.agentManager.drain(agent, undefined, false);
      }
    }
  }

  /** StopMaintenance: the machines are up again (durable first), their agents reactivated. */
  async stop(hostnames: readonly string[]): Promise<void> {
    const down = new Set([...this.down].filter((h) => !hostnames.includes(h)));
    await this.core.persistFirst([{ key: 'maintenance/down', value: [...down] }], 'StopMaintenance');
    this.down = down;
    for (const hostname of hostnames) {
      for (const agent of [...this.core.agents.values()]) if (agent.hostname === hostname && agent.drain !== undefined) await this.core.agentManager.setDeactivated(agent, false);
    }
  }

  status(): GetMaintenanceStatusResponse {
    const draining = (this.schedule.windows ?? []).flatMap((w) => w.machine_ids ?? []).filter((m) => !this.down.has(m.hostname ?? ''));
    return {
      draining_machines: draining.map((id) => ({
        id,
        statuses: [...this.inverse.values()].filter((e) => e.hostname === id.hostname).map((e) => ({
          status: e.status,
          framework_id: { value: e.frameworkId },
          timestamp: e.answeredAt === undefined ? undefined : { nanoseconds: String(BigInt(e.answeredAt) * 1_000_000n) },
        })),
      })),
      down_machines: [...this.down].map((hostname) => ({ hostname })),
    };
  }

  /** The maintenance window of a machine, as the allocator puts it in offers. */
  unavailabilityOf(hostname: string): { startMs: number; durationMs?: number } | undefined {
    const window = this.windowOf(hostname);
    const startMs = timeFromWire(window?.unavailability?.start);
    return startMs === undefined ? undefined : { startMs, durationMs: durationFromWire(window?.unavailability?.duration) };
  }

  private windowOf(hostname: string): Window | undefined {
    return (this.schedule.windows ?? []).find((w) => (w.machine_ids ?? []).some((id) => id.hostname === hostname));
  }

  private toWire(e: InverseOfferEntry): InverseOffer {
    const w = this.windowOf(e.hostname);
    return { id: { value: e.id }, framework_id: { value: e.frameworkId }, agent_id: { value: e.agentId }, hostname: e.hostname, unavailability: w?.unavailability ?? undefined };
  }
}
