import { randomUUID } from 'node:crypto';
import type { Allocation } from '../allocator/types';
import type { Offer } from '../generated/berth/v1/Offer';
import { resourcesToWire } from '../common/wire';
import type { OfferEntry } from './model';
import type { CoreServices, OffersPort, RescindReason } from './core-ports';

/** Why an offer went away without being used. */
export type { RescindReason } from './core-ports';

/**
 * Outstanding offers: made from the allocator's decisions, sent batched per framework, used at
 * most once, expired after `offerTimeoutMs` (when set), rescinded when their agent goes away.
 * Every offer's resources stay allocated to its framework until used, declined or rescinded.
 */
/** What the offer book needs of the core. */
export type OfferManagerCore = Pick<CoreServices, 'clock' | 'metrics' | 'allocator' | 'frameworks' | 'agents' | 'options'>;

export class OfferManager implements OffersPort {
  readonly offers = new Map<string, OfferEntry>();
  /** Outstanding offer ids by agent: agent loss and views must not scan every offer. */
  private readonly byAgent = new Map<string, Set<string>>();

  constructor(private readonly core: OfferManagerCore) {}

  /** Turns allocations into offers and sends one OFFERS event per framework. */
  makeOffers(allocations: readonly Allocation[]): void {
    const { clock, options, frameworks, agents, metrics } = this.core;
    const byFramework = new Map<string, Offer[]>();
    for (const a of allocations) {
      const fw = frameworks.get(a.frameworkId);
      const agent = agents.get(a.agentId);
      if (fw === undefined || agent === undefined || !fw.connected || fw.sink === undefined) {
        // Nobody to send it to any more: give it straight back, without a filter.
        this.core.allocator.recoverResources(a.frameworkId, a.agentId, a.role, a.resources, undefined, clock.now());
        continue;
      }
      const offer: OfferEntry = { id: randomUUID(), frameworkId: a.frameworkId, agentId: a.agentId, role: a.role, resources: a.resources, createdAt: clock.now(), timer: undefined };
      if (options.offerTimeoutMs !== undefined) {
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
      });
    }
    for (const [frameworkId, offers] of byFramework) {
      frameworks.get(frameworkId)!.sink!.send({ type: 'OFFERS', offers: { offers } });
      metrics?.offersSent.inc(offers.length);
    }
    metrics?.outstandingOffers.set(this.offers.size);
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
