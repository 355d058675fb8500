import type { ResourcePool, Sorter, SorterFactory } from './sorter';
import type { FrameworkEntry } from './state';

/**
 * Which frameworks are clients of which roles, and which are active there: the role sorter and one
 * framework sorter per role (created with the role's first client, dropped with its last). A
 * framework is a client of a role it subscribes to or still holds resources in; it is active in a
 * role while it is connected, subscribed, not suppressed and not declaring zero demand; a role is
 * active while any of its clients is. The sorters' allocations are kept by the allocator's
 * bookkeeping (`account`), not here.
 */
export class RoleMembership {
  readonly roleSorter: Sorter;
  readonly frameworkSorters = new Map<string, Sorter>();

  constructor(
    private readonly pool: ResourcePool,
    private readonly random: () => number,
    roleSorter: SorterFactory,
    private readonly makeFrameworkSorter: SorterFactory,
  ) {
    this.roleSorter = roleSorter(pool, random);
  }

  /** Brings `fw`'s memberships in line with its subscribed roles (after they changed from `oldRoles`). */
  reconcile(fw: FrameworkEntry, oldRoles: ReadonlySet<string>): void {
    for (const role of fw.roles) this.track(fw, role);
    for (const role of oldRoles) if (!fw.roles.has(role)) this.untrack(fw, role);
  }

  /** Makes `fw` a client of `role` (creating the role's sorter) and sets its activity. */
  track(fw: FrameworkEntry, role: string): void {
    let sorter = this.frameworkSorters.get(role);
    if (sorter === undefined) {
      sorter = this.makeFrameworkSorter(this.pool, this.random);
      this.frameworkSorters.set(role, sorter);
      this.roleSorter.add(role);
    }
    sorter.add(fw.id);
    this.refreshActivation(fw, role);
  }

  /** Drops `fw` from `role` unless it is subscribed or still holds something there. */
  untrack(fw: FrameworkEntry, role: string): void {
    const sorter = this.frameworkSorters.get(role);
    if (sorter === undefined || !sorter.contains(fw.id)) return;
    if (fw.roles.has(role) || holdsAnything(fw, role)) {
      this.refreshActivation(fw, role);
      return;
    }
    sorter.remove(fw.id);
    if (sorter.count() === 0) {
      this.frameworkSorters.delete(role);
      this.roleSorter.remove(role);
    } else {
      this.refreshRole(role);
    }
  }

  setFrameworkActive(fw: FrameworkEntry, active: boolean): void {
    fw.active = active;
    for (const role of this.rolesWithClient(fw.id)) this.refreshActivation(fw, role);
  }

  /** Active in a role: connected, subscribed, not suppressed, and not declaring zero demand. */
  refreshActivation(fw: FrameworkEntry, role: string): void {
    const sorter = this.frameworkSorters.get(role);
    if (sorter === undefined) return;
    const demand = fw.settings.get(role)?.demand;
    const active = fw.active && fw.roles.has(role) && !fw.suppressed.has(role) && (demand === undefined || demand.length > 0 || fw.gangRoles.has(role));
    if (active) sorter.activate(fw.id);
    else sorter.deactivate(fw.id);
    this.refreshRole(role);
  }

  /** The roles `frameworkId` is a client of. */
  rolesWithClient(frameworkId: string): string[] {
    const out: string[] = [];
    for (const [role, sorter] of this.frameworkSorters) if (sorter.contains(frameworkId)) out.push(role);
    return out;
  }

  private refreshRole(role: string): void {
    if (this.frameworkSorters.get(role)!.hasActive()) this.roleSorter.activate(role);
    else this.roleSorter.deactivate(role);
  }
}

function holdsAnything(fw: FrameworkEntry, role: string): boolean {
  for (const agent of fw.agents) if (agent.allocated(fw.id, role) !== undefined) return true;
  return false;
}
