/**
 * The hierarchical allocator's books of gangs and claims: which frameworks have gangs, holds and
 * their ends (accept, release, expiry, agent loss), what waits (`pending`), the claims preemption
 * asks for, and when the next cycle should run the gang phase. The placement itself is the gang
 * phase's (gang-phase.ts); the resources a hold returns go back through the allocator (`release`).
 */
import type { Resources } from '../common/resources';
import { AllocatorError } from './errors';
import type { ClaimView, PendingGang } from './allocator';
import { giveClaim, liveClaim, liveClaims } from './claims';
import { dropClaim, type AgentEntry, type Claim, type ClaimHolder, type FrameworkEntry, type GangState } from './state';
import type { HeldGang } from './types';

/** Prompt cycles try pending gangs at most this often (a gang attempt looks at every agent; a batch always tries). */
export const GANG_RETRY_MS = 100;

/** What the book needs of the allocator. */
export interface GangBookHost {
  readonly frameworks: ReadonlyMap<string, FrameworkEntry>;
  framework(id: string): FrameworkEntry;
  agent(id: string): AgentEntry;
  /** Returns `r` of `fw` in `role` to the agent's available resources. */
  release(agent: AgentEntry, fw: FrameworkEntry, role: string, r: Resources): void;
}

export class GangBook {
  /** Frameworks that declare or hold gangs: with none, cycles skip the gang phase entirely. */
  private readonly frameworks = new Set<FrameworkEntry>();
  /** A gang became placeable (declared, released, claimed, freed for): the next cycle, even a prompt one, tries gangs. */
  private dirty = false;
  /** When the gang phase last ran. */
  private lastRun = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly host: GangBookHost,
    private readonly holdMs: number,
  ) {}

  /** After a framework's description changed (`declared`: a gang id new to it). */
  described(fw: FrameworkEntry, declared: boolean): void {
    if (declared) this.dirty = true;
    if (fw.gangs.size > 0) this.frameworks.add(fw);
    else this.frameworks.delete(fw);
  }

  /** The framework is going away: its claims end with it. */
  forget(fw: FrameworkEntry): void {
    for (const holder of [...fw.gangs.values(), ...fw.demandClaims.values()]) dropClaim(holder);
    this.frameworks.delete(fw);
  }

  /** The agent is going away: a gang with a part there goes back whole (no partial gang is ever held). */
  agentRemoved(agent: AgentEntry): void {
    for (const fw of this.frameworks) {
      for (const [gangId, state] of fw.gangs) if (state.hold?.parts.some((p) => p.agent === agent)) this.releaseHold(fw, gangId, state, 0);
    }
  }

  /** Resources were freed on a claimed agent: the claimant is tried in the next cycle. */
  freed(agent: AgentEntry): void {
    if (agent.claim !== undefined) this.dirty = true;
  }

  /** Whether this cycle runs the gang phase (and, if so, that it runs now). */
  runNow(now: number, batch: boolean): boolean {
    if (this.frameworks.size === 0 || !(batch || this.dirty || now - this.lastRun >= GANG_RETRY_MS)) return false;
    this.dirty = false;
    this.lastRun = now;
    return true;
  }

  accept(frameworkId: string, gangId: string): HeldGang {
    const fw = this.host.framework(frameworkId);
    const state = fw.gangs.get(gangId);
    if (state?.hold === undefined) throw new AllocatorError(`framework ${frameworkId} holds no gang "${gangId}"`);
    const held = describeHold(fw.id, gangId, state);
    state.hold = undefined;
    if (state.spec === undefined) fw.gangs.delete(gangId);
    else state.accepted = true;
    return held;
  }

  release(frameworkId: string, gangId: string, now: number, retryAfterMs: number): boolean {
    const fw = this.host.frameworks.get(frameworkId);
    const state = fw?.gangs.get(gangId);
    if (fw === undefined || state?.hold === undefined) return false;
    this.releaseHold(fw, gangId, state, now + Math.max(0, retryAfterMs));
    return true;
  }

  expire(now: number): HeldGang[] {
    const out: HeldGang[] = [];
    for (const fw of this.frameworks) {
      for (const [gangId, state] of fw.gangs) {
        if (state.hold === undefined || state.hold.expiresAt > now) continue;
        out.push(describeHold(fw.id, gangId, state));
        // Not placed again for one hold time: a framework that never answers must not hoard.
        this.releaseHold(fw, gangId, state, now + this.holdMs);
      }
    }
    return out;
  }

  held(): HeldGang[] {
    const out: HeldGang[] = [];
    for (const fw of this.frameworks) for (const [gangId, state] of fw.gangs) if (state.hold !== undefined) out.push(describeHold(fw.id, gangId, state));
    return out;
  }

  pending(now: number): PendingGang[] {
    const out: PendingGang[] = [];
    for (const fw of this.frameworks) {
      for (const [gangId, state] of fw.gangs) {
        if (state.spec === undefined || state.hold !== undefined || state.accepted || now < state.notBefore) continue;
        const until = liveClaim(state.claim, now)?.expiresAt;
        out.push({ frameworkId: fw.id, gangId, gang: state.spec, ...(until === undefined ? {} : { claimedUntil: until }) });
      }
    }
    return out;
  }

  claims(now: number): ClaimView[] {
    return liveClaims(this.host.frameworks.values(), now);
  }

  claimForGang(frameworkId: string, gangId: string, agentIds: readonly string[], expiresAt: number): void {
    const state = this.host.frameworks.get(frameworkId)?.gangs.get(gangId);
    if (state?.spec === undefined || state.hold !== undefined || state.accepted) throw new AllocatorError(`framework ${frameworkId} has no pending gang "${gangId}" to claim agents for`);
    this.claim(state, { frameworkId, role: state.spec.role, gangId, agents: agentIds.map((id) => this.host.agent(id)), expiresAt });
  }

  claimForDemand(frameworkId: string, role: string, agentIds: readonly string[], expiresAt: number): void {
    const fw = this.host.framework(frameworkId);
    if (!fw.roles.has(role)) throw new AllocatorError(`framework ${frameworkId} is not subscribed to role "${role}"`);
    let holder = fw.demandClaims.get(role);
    if (holder === undefined) fw.demandClaims.set(role, (holder = { claim: undefined }));
    this.claim(holder, { frameworkId, role, agents: agentIds.map((id) => this.host.agent(id)), expiresAt });
  }

  private claim(holder: ClaimHolder, claim: Claim): void {
    giveClaim(holder, claim, this.host.frameworks);
    this.dirty = true;
  }

  /** Returns every part of a held gang to its agent; the gang may be placed again from `notBefore`. */
  private releaseHold(fw: FrameworkEntry, gangId: string, state: GangState, notBefore: number): void {
    const hold = state.hold!;
    state.hold = undefined;
    for (const p of hold.parts) this.host.release(p.agent, fw, hold.role, p.resources);
    if (state.spec === undefined) fw.gangs.delete(gangId);
    else state.notBefore = notBefore;
    if (fw.gangs.size === 0) this.frameworks.delete(fw);
    this.dirty = true;
  }
}

function describeHold(frameworkId: string, gangId: string, state: GangState): HeldGang {
  const hold = state.hold!;
  return { frameworkId, gangId, role: hold.role, expiresAt: hold.expiresAt, parts: hold.parts.map((p) => ({ agentId: p.agent.id, resources: p.resources, tasks: p.tasks })) };
}
