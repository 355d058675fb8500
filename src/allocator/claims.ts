/**
 * Claims (state.ts `Claim`): agents kept for one waiting gang or one framework's plain demand while
 * preemption frees them. How they are listed and handed over; where they bite is the allocation
 * cycle (a demand claim: only its framework) and the gang phase (a gang claim: only its gang).
 */
import type { ClaimView } from './allocator';
import { dropClaim, type Claim, type ClaimHolder, type FrameworkEntry } from './state';

/** `claim` when it still holds at `now`. */
export function liveClaim(claim: Claim | undefined, now: number): Claim | undefined {
  return claim !== undefined && claim.expiresAt > now ? claim : undefined;
}

/** Every claim of these frameworks that still holds an agent at `now`. */
export function liveClaims(frameworks: Iterable<FrameworkEntry>, now: number): ClaimView[] {
  const out: ClaimView[] = [];
  for (const fw of frameworks) {
    for (const holder of [...fw.gangs.values(), ...fw.demandClaims.values()]) {
      const claim = liveClaim(holder.claim, now);
      if (claim === undefined) continue;
      const agentIds = claim.agents.filter((a) => a.claim === claim).map((a) => a.id);
      if (agentIds.length > 0) out.push({ frameworkId: fw.id, role: claim.role, ...(claim.gangId === undefined ? {} : { gangId: claim.gangId }), agentIds, expiresAt: claim.expiresAt });
    }
  }
  return out;
}

/** Gives `holder` the claim (ending the one it had), taking its agents from any claim that had them. */
export function giveClaim(holder: ClaimHolder, claim: Claim, frameworks: ReadonlyMap<string, FrameworkEntry>): void {
  dropClaim(holder);
  for (const agent of claim.agents) {
    const before = agent.claim;
    if (before !== undefined) {
      const fw = frameworks.get(before.frameworkId);
      const other = before.gangId !== undefined ? fw?.gangs.get(before.gangId) : fw?.demandClaims.get(before.role);
      if (other !== undefined && other.claim === before) dropClaim(other);
    }
    agent.claim = claim;
  }
  holder.claim = claim;
}
