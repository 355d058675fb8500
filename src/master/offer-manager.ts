import { randomUUID } from 'node:crypto';
import type { Allocation } from '../allocator/types';
import type { Offer } from '../generated/berth/v1/Offer';
import { resourcesToWire } from '../common/wire';
import type { _berth_v1_Event_GangOffer as Event_GangOffer } from '../generated/berth/v1/Event';
import { gangKey, type GangOfferEntry, type OfferEntry } from './model';
import type { CoreServices, OffersPort, RescindReason } from './core-ports';

/** Why an offer went away without being used. */
export type { RescindReason } from './core-ports';

/**
 * Outstanding offers: made from the allocator's decisions, sent batched per framework, used at
 * most once, expired after `offerTimeoutMs` (when set), rescinded when their agent goes away.
 * Every offer's resources stay allocated to its framework until used, declined or rescinded.
 *
 * Gang offers (allocations carrying `gang`) are kept as one `GangOfferEntry` besides their single
 * offers: they never time out one by one (`offerTimeoutMs` does not apply); the gang's hold ends
 * at its `expiresAt` (a timer calls `expireGangs`), and rescinding any of its offers rescinds the
 * whole gang with one RESCIND_GANG.
 */
/** What the offer book needs of the core. */
export type OfferManagerCore = Pick<CoreServices, 'clock' | 'metrics' | 'allocator' | 'frameworks' | 'agents' | 'options' | 'allocateSoon'>;

export class OfferManager implements OffersPort {
  readonly offers = new Map<string, OfferEntry>();
  /** Outstanding offer ids by agent: agent loss and views must not scan every offer. */
  private readonly byAgent = new Map<string, Set<string>>();
  /** Outstanding gang offers by `gangKey`. */
  readonly gangs = new Map<string, GangOfferEntry>();

  constructor(private readonly core: OfferManagerCore) {}

  /** Turns allocations into offers and sends one OFFERS event per framework. */
  makeOffers(allocations: readonly Allocation[]): void {
    const { clock, options, frameworks, agents, metrics } = this.core;
    const byFramework = new Map<string, Offer[]>();
    const gangsOf = new Map<string, Event_GangOffer[]>();
    for (const a of allocations) {
      const fw = frameworks.get(a.frameworkId);
      const agent = agents.get(a.agentId);
      if (fw === undefined || agent === undefined || !fw.connected || fw.sink === undefined) {
        // Nobody to send it to any more: give it straight back, without a filter (a gang whole).
        if (a.gang !== undefined) this.core.allocator.releaseGang(a.frameworkId, a.gang.id, clock.now(), 0);
        else this.core.allocator.recoverResources(a.frameworkId, a.agentId, a.role, a.resources, undefined, clock.now());
        continue;
      }
      const offer: OfferEntry = { id: randomUUID(), frameworkId: a.frameworkId, agentId: a.agentId, role: a.role, resources: a.resources, createdAt: clock.now(), timer: undefined, ...(a.gang === undefined ? {} : { gangId: a.gang.id }) };
      if (a.gang !== undefined) this.addToGang(a, offer, gangsOf);
      else if (options.offerTimeoutMs !== undefined) {
        offer.timer = clock.setTimeout(() => this.rescind(offer.id, 'timeout'), options.offerTimeoutMs);
      }
      this.offers.set(offer.id, offer);
      fw.offers.add(offer.id);
      let ofAgent = this.byAgent.get(agent.id);
      if (ofAgent === undefined) this.byAgent.set(agent.id, (ofAgent = new Set()));
      ofAgent.add(offer.id);
      let list = byFramework.get(fw.id);
      if (list === undefined) byFramework.set(fw.id, (list = []));
      list.push({
        id: { value: offer.id },
        framework_id: { value: fw.id },
        agent_id: { value: agent.id },
        hostname: agent.hostname,
        allocation_info: { role: a.role },
        resources: resourcesToWire(a.resources),
        attributes: agent.info.attributes ?? [],
        domain: agent.info.domain ?? undefined,
        unavailability: a.unavailability === undefined ? undefined : {
          start: { nanoseconds: String(BigInt(a.unavailability.startMs) * 1_000_000n) },
          duration: a.unavailability.durationMs === undefined ? undefined : { nanoseconds: String(BigInt(a.unavailability.durationMs) * 1_000_000n) },
        },
        gang_id: a.gang?.id ?? '',
      });
    }
    for (const [frameworkId, offers] of byFramework) {
      frameworks.get(frameworkId)!.sink!.send({ type: 'OFFERS', offers: { offers, gangs: gangsOf.get(frameworkId) ?? [] } });
      metrics?.offersSent.inc(offers.length);
    }
    metrics?.outstandingOffers.set(this.offers.size);
  }

  /** Records a gang offer's part; the first part of a gang creates its entry and hold timer. */
  private addToGang(a: Allocation, offer: OfferEntry, gangsOf: Map<string, Event_GangOffer[]>): void {
    const gang = a.gang!;
    const key = gangKey(a.frameworkId, gang.id);
    let entry = this.gangs.get(key);
    if (entry === undefined) {
      entry = { frameworkId: a.frameworkId, gangId: gang.id, role: a.role, offerIds: [], tasks: gang.tasks, expiresAt: gang.expiresAt, timer: undefined };
      entry.timer = this.core.clock.setTimeout(() => this.expireGangs(), Math.max(0, gang.expiresAt - this.core.clock.now()));
      this.gangs.set(key, entry);
      let list = gangsOf.get(a.frameworkId);
      if (list === undefined) gangsOf.set(a.frameworkId, (list = []));
      list.push({ gang_id: gang.id, role: a.role, offer_ids: [], tasks: gang.tasks, hold_until: { nanoseconds: String(BigInt(gang.expiresAt) * 1_000_000n) } });
    }
    (entry.offerIds as string[]).push(offer.id);
    gangsOf.get(a.frameworkId)!.find((g) => g.gang_id === gang.id)!.offer_ids!.push({ value: offer.id });
  }

  /** The outstanding gang offer, or undefined. */
  gang(frameworkId: string, gangId: string): GangOfferEntry | undefined {
    return this.gangs.get(gangKey(frameworkId, gangId));
  }

  /** Removes a gang offer and all its offers for ACCEPT_GANG or DECLINE_GANG (the caller tells the allocator). */
  takeGang(frameworkId: string, gangId: string): { gang: GangOfferEntry; offers: OfferEntry[] } | undefined {
    const gang = this.gangs.get(gangKey(frameworkId, gangId));
    if (gang === undefined) return undefined;
    this.gangs.delete(gangKey(frameworkId, gangId));
    this.core.clock.clearTimeout(gang.timer);
    const offers = gang.offerIds.map((id) => this.offers.get(id)!).filter((o) => o !== undefined);
    for (const o of offers) this.forget(o);
    return { gang, offers };
  }

  /**
   * Withdraws a whole gang offer: one RESCIND_GANG, and every part back to the allocator at once
   * (unless `released`: the allocator already took it back, as `expireGangs` does).
   */
  rescindGang(frameworkId: string, gangId: string, reason: RescindReason, released = false): void {
    const taken = this.takeGang(frameworkId, gangId);
    if (taken === undefined) return;
    if (!released) this.core.allocator.releaseGang(frameworkId, gangId, this.core.clock.now(), 0);
    const fw = this.core.frameworks.get(frameworkId);
    fw?.sink?.send({ type: 'RESCIND_GANG', rescind_gang: { gang_id: gangId, offer_ids: taken.gang.offerIds.map((value) => ({ value })), reason } });
    this.core.metrics?.offersRescinded.inc({ reason }, taken.offers.length);
    this.core.allocateSoon();
  }

  /** Ends every gang hold that is over (the allocator releases them) and rescinds their offers. */
  expireGangs(): void {
    for (const held of this.core.allocator.expireGangs(this.core.clock.now())) this.rescindGang(held.frameworkId, held.gangId, 'hold_expired', true);
  }

  /** Rescinds the framework's gang offers whose gang is no longer declared (UPDATE_FRAMEWORK). */
  rescindUndeclaredGangs(frameworkId: string, declared: ReadonlySet<string>): void {
    for (const g of [...this.gangs.values()]) if (g.frameworkId === frameworkId && !declared.has(g.gangId)) this.rescindGang(frameworkId, g.gangId, 'demand_changed');
  }

  /** Clears every gang hold timer (the core stops). */
  stopTimers(): void {
    for (const g of this.gangs.values()) this.core.clock.clearTimeout(g.timer);
  }

  /** Removes an offer for use by ACCEPT or DECLINE; undefined when unknown (or already used). */
  take(offerId: string): OfferEntry | undefined {
    const offer = this.offers.get(offerId);
    if (offer === undefined) return undefined;
    this.forget(offer);
    return offer;
  }

  /** Withdraws an offer: the framework is told (RESCIND) and the resources return, without a filter. */
  rescind(offerId: string, reason: RescindReason): void {
    const offer = this.offers.get(offerId);
    if (offer === undefined) return;
    if (offer.gangId !== undefined) return this.rescindGang(offer.frameworkId, offer.gangId, reason);
    this.forget(offer);
    const fw = this.core.frameworks.get(offer.frameworkId);
    fw?.sink?.send({ type: 'RESCIND', rescind: { offer_id: { value: offer.id } } });
    this.core.allocator.recoverResources(offer.frameworkId, offer.agentId, offer.role, offer.resources, undefined, this.core.clock.now());
    this.core.metrics?.offersRescinded.inc({ reason });
  }

  rescindForAgent(agentId: string, reason: RescindReason): void {
    for (const id of [...(this.byAgent.get(agentId) ?? [])]) this.rescind(id, reason);
  }

  /** Outstanding offers of an agent. */
  ofAgent(agentId: string): OfferEntry[] {
    return [...(this.byAgent.get(agentId) ?? [])].map((id) => this.offers.get(id)!);
  }

  rescindForFramework(frameworkId: string, reason: RescindReason): void {
    const fw = this.core.frameworks.get(frameworkId);
    for (const id of [...(fw?.offers ?? [])]) this.rescind(id, reason);
  }

  /** Rescinds every offer in a role (quota changed) or all offers. */
  rescindAll(reason: RescindReason, role?: string): void {
    for (const offer of [...this.offers.values()]) if (role === undefined || offer.role === role) this.rescind(offer.id, reason);
  }

  private forget(offer: OfferEntry): void {
    this.offers.delete(offer.id);
    const ofAgent = this.byAgent.get(offer.agentId);
    ofAgent?.delete(offer.id);
    if (ofAgent?.size === 0) this.byAgent.delete(offer.agentId);
    this.core.clock.clearTimeout(offer.timer);
    this.core.frameworks.get(offer.frameworkId)?.offers.delete(offer.id);
    this.core.metrics?.outstandingOffers.set(this.offers.size);
  }
}
