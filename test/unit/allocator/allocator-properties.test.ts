import fc from 'fast-check';
import { HierarchicalAllocator, type Allocation } from '../../../src/allocator';
import { Resources, isSubroleOf, reservationRole } from '../../../src/common/resources';
import { seededRandom } from '../../../src/common/random';

/**
 * Invariants of the allocator under random clusters and random sequences of operations:
 * - no agent is ever over-allocated: available + Σ allocations = total, exactly;
 * - resources are conserved: once everything is recovered, available = total again;
 * - quota limits are never exceeded by allocation;
 * - reservations never leak: a reserved resource is allocated only in its role or a sub-role.
 */

const ROLES = ['a', 'a/b', 'c', 'd'];

const agentArb = fc.record({
  cpus: fc.integer({ min: 1, max: 16 }),
  mem: fc.integer({ min: 64, max: 4096 }),
  reservedRole: fc.option(fc.constantFrom('a', 'a/b', 'c'), { nil: undefined }),
  reservedCpus: fc.integer({ min: 1, max: 4 }),
  ports: fc.boolean(),
});

const frameworkArb = fc.record({
  roles: fc.uniqueArray(fc.constantFrom(...ROLES), { minLength: 1, maxLength: 3 }),
});

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('allocate' as const), advance: fc.integer({ min: 0, max: 10_000 }) }),
  fc.record({ kind: fc.constant('decline' as const), pick: fc.nat(), refuse: fc.constantFrom(0, 1, 5, 60) }),
  fc.record({ kind: fc.constant('launch' as const), pick: fc.nat(), fraction: fc.constantFrom(0.25, 0.5, 1) }),
  fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('suppress' as const), fw: fc.nat(), revive: fc.boolean() }),
  fc.record({ kind: fc.constant('toggleAgent' as const), agent: fc.nat() }),
);

const scenarioArb = fc.record({
  agents: fc.array(agentArb, { minLength: 1, maxLength: 5 }),
  frameworks: fc.array(frameworkArb, { minLength: 1, maxLength: 4 }),
  limits: fc.record({ a: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), c: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }) }),
  guaranteeC: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
  ops: fc.array(opArb, { maxLength: 40 }),
});

/** Takes roughly `fraction` of an offer's cpus and mem as a "task" (whole entries, exactly). */
function takePart(r: Resources, fraction: number): Resources {
  let out = Resources.empty();
  for (const e of r.entries) {
    if (e.kind !== 'scalar') continue;
    const part = Math.floor(e.scalar! * fraction);
    if (part > 0 && e.disk?.persistence === undefined) out = out.plus(Resources.of([{ ...e, scalar: part }]));
  }
  return out;
}

describe('allocator invariants (property-based)', () => {
  test('no over-allocation, conservation, quota limits, no reservation leaks', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const alloc = new HierarchicalAllocator({ random: seededRandom(11), minAllocatableResources: [] });
        const totals = new Map<string, Resources>();
        s.agents.forEach((a, i) => {
          let text = `cpus:${a.cpus};mem:${a.mem}`;
          if (a.ports) text += ';ports:[31000-31099]';
          if (a.reservedRole !== undefined) text += `;cpus(${a.reservedRole}):${a.reservedCpus}`;
          const total = Resources.parse(text);
          totals.set(`agent${i}`, total);
          alloc.addAgent(`agent${i}`, { hostname: `h${i}` }, total);
        });
        const limits = new Map<string, number>();
        for (const role of ['a', 'c'] as const) {
          const l = s.limits[role];
          if (l !== undefined) limits.set(role, l * 1000);
        }
        for (const [role, l] of limits) alloc.updateQuota(role, { limits: new Map([['cpus', l]]) });
        if (s.guaranteeC !== undefined) {
          const g = s.guaranteeC * 1000;
          const l = limits.get('c');
          alloc.updateQuota('c', { guarantees: new Map([['cpus', l === undefined ? g : Math.min(g, l)]]), limits: l === undefined ? undefined : new Map([['cpus', l]]) });
        }
        const fwIds = s.frameworks.map((f, i) => {
          alloc.addFramework(`fw${i}`, { roles: f.roles });
          return `fw${i}`;
        });
        const offers: Allocation[] = []; // outstanding offers
        const running: Allocation[] = []; // launched tasks
        const reservedAtStart = new Map(ROLES.map((r) => [r, 0]));
        for (const total of totals.values()) {
          for (const e of total.entries) {
            const role = reservationRole(e);
            if (role !== undefined && e.name === 'cpus') {
              for (const r of ROLES) if (isSubroleOf(role, r)) reservedAtStart.set(r, reservedAtStart.get(r)! + e.scalar!);
            }
          }
        }

        const check = () => {
          for (const [agentId, total] of totals) {
            let sum = alloc.available(agentId)!;
            for (const fw of fwIds) for (const r of alloc.allocation(fw, agentId)?.values() ?? []) sum = sum.plus(r);
            expect(sum.equals(total)).toBe(true);
          }
          for (const [role, limit] of limits) {
            const consumed = alloc.roles().find((r) => r.role === role)?.consumed.get('cpus') ?? 0;
            // Reservations made by the operator count too; allocation never adds past the limit.
            expect(consumed).toBeLessThanOrEqual(Math.max(limit, reservedAtStart.get(role)!));
          }
        };

        let now = 0;
        for (const op of s.ops) {
          switch (op.kind) {
            case 'allocate': {
              now += op.advance;
              for (const o of alloc.allocate(now)) {
                for (const e of o.resources.entries) {
                  const owner = reservationRole(e);
                  if (owner !== undefined) expect(isSubroleOf(o.role, owner)).toBe(true);
                }
                offers.push(o);
              }
              break;
            }
            case 'decline': {
              if (offers.length === 0) break;
              const [o] = offers.splice(op.pick % offers.length, 1);
              alloc.recoverResources(o!.frameworkId, o!.agentId, o!.role, o!.resources, { refuseSeconds: op.refuse }, now);
              break;
            }
            case 'launch': {
              if (offers.length === 0) break;
              const [o] = offers.splice(op.pick % offers.length, 1);
              const task = takePart(o!.resources, op.fraction);
              alloc.recoverResources(o!.frameworkId, o!.agentId, o!.role, o!.resources.minus(task), { refuseSeconds: 0 }, now);
              if (!task.isEmpty()) running.push({ ...o!, resources: task });
              break;
            }
            case 'finish': {
              if (running.length === 0) break;
              const [t] = running.splice(op.pick % running.length, 1);
              alloc.recoverResources(t!.frameworkId, t!.agentId, t!.role, t!.resources, undefined, now);
              break;
            }
            case 'suppress': {
              const fw = fwIds[op.fw % fwIds.length]!;
              if (op.revive) alloc.reviveOffers(fw);
              else alloc.suppressOffers(fw);
              break;
            }
            case 'toggleAgent': {
              const id = `agent${op.agent % totals.size}`;
              if (op.agent % 2 === 0) alloc.deactivateAgent(id);
              else alloc.activateAgent(id);
              break;
            }
          }
          check();
        }
        // Give everything back: every agent is whole again.
        for (const o of [...offers, ...running]) alloc.recoverResources(o.frameworkId, o.agentId, o.role, o.resources, undefined, now);
        for (const [agentId, total] of totals) expect(alloc.available(agentId)!.equals(total)).toBe(true);
        for (const r of alloc.roles()) expect(r.allocated.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
