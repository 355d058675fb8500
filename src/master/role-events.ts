import type { RoleSummary } from '../allocator/allocator';

/**
 * ROLE_UPDATED for allocation changes (operator.proto): after every allocation cycle the roles'
 * allocations (used plus offered, as the allocator holds them) are compared with what was last
 * reported, and each role whose allocation differs gets one event. So a role gets at most one
 * such event per cycle however many offers, accepts, declines and task ends changed it in
 * between, and none while its allocation stays put. Weight and quota changes publish their own
 * ROLE_UPDATED at once (operator-api.ts); both carry the role as it is when the event is sent.
 */
export class RoleAllocationEvents {
  /** Per role, its allocation when last reported, as a canonical text ("" = nothing). */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly roles: () => readonly RoleSummary[],
    private readonly publish: (role: string) => void,
  ) {}

  /** Called at the end of each allocation cycle. */
  afterCycle(): void {
    const seen = new Set<string>();
    for (const r of this.roles()) {
      seen.add(r.role);
      const now = canonical(r.allocated);
      if ((this.reported.get(r.role) ?? '') === now) continue;
      if (now === '') this.reported.delete(r.role);
      else this.reported.set(r.role, now);
      this.publish(r.role);
    }
    // A role the allocator forgot (its last framework left) held something when last reported:
    // its allocation went to nothing.
    for (const role of [...this.reported.keys()]) {
      if (seen.has(role)) continue;
      this.reported.delete(role);
      this.publish(role);
    }
  }
}

function canonical(q: ReadonlyMap<string, number>): string {
  return [...q].filter(([, v]) => v !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, v]) => `${n}:${v}`).join(';');
}
