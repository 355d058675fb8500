import fc from 'fast-check';
import { HierarchicalAllocator, type Allocation, type GangSpec, type GangSpread } from '../../../src/allocator';
import { Resources } from '../../../src/common/resources';

/**
 * Gang invariants under random clusters, random gangs and random sequences of operations, the
 * allocator driven as the master drives it (expireGangs before each cycle, accept / decline /
 * agent loss / time passing):
 * - no partial gang: every gang allocation comes with all its parts in one result, and a held
 *   gang holds every part it was given (or nothing at all);
 * - no gang is held past its hold time once `expireGangs(now)` ran;
 * - no agent is ever over-allocated: available + Σ allocations = total, exactly;
 * - a gang accepted is placed whole: its parts' task counts add up to the gang's tasks, fit the
 *   shapes and honour the spread.
 */

const HOLD_MS = 10_000;
const ZONES = ['z1', 'z2'];

const agentArb = fc.record({ cpus: fc.integer({ min: 1, max: 8 }), mem: fc.integer({ min: 256, max: 4096 }), ports: fc.integer({ min: 0, max: 4 }), zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }) });

const spreadArb: fc.Arbitrary<GangSpread> = fc.oneof(
  fc.constant({ kind: 'ANY' as const }),
  fc.constant({ kind: 'ONE_PER_AGENT' as const }),
  fc.constant({ kind: 'SAME_ZONE' as const }),
  fc.integer({ min: 1, max: 3 }).map((k) => ({ kind: 'MAX_PER_AGENT' as const, maxPerAgent: k })),
);

const shapeArb = fc.record({ cpus: fc.integer({ min: 1, max: 4 }), mem: fc.integer({ min: 64, max: 1024 }), ports: fc.integer({ min: 0, max: 1 }), count: fc.integer({ min: 1, max: 6 }) });
const gangArb = fc.record({ shapes: fc.array(shapeArb, { minLength: 1, maxLength: 2 }), spread: spreadArb });

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('allocate' as const), advance: fc.integer({ min: 0, max: 12_000 }) }),
  fc.record({ kind: fc.constant('accept' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('decline' as const), pick: fc.nat(), refuse: fc.constantFrom(0, 1, 30) }),
  fc.record({ kind: fc.constant('removeAgent' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
);

const scenarioArb = fc.record({
  agents: fc.array(agentArb, { minLength: 1, maxLength: 8 }),
  gangs: fc.array(fc.array(gangArb, { maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  ops: fc.array(opArb, { maxLength: 30 }),
});

function agentResources(a: { cpus: number; mem: number; ports: number }): Resources {
  return Resources.parse(`cpus:${a.cpus};mem:${a.mem}${a.ports > 0 ? `;ports:[31000-${31000 + a.ports - 1}]` : ''}`);
}

function spec(g: { shapes: { cpus: number; mem: number; ports: number; count: number }[]; spread: GangSpread }, id: string): GangSpec {
  return { id, spread: g.spread, shapes: g.shapes.map((s) => ({ quantities: new Map([['cpus', s.cpus * 1000], ['mem', s.mem * 1000]]), ports: s.ports, count: s.count })) };
}

test('gangs are held whole or not at all, never past their hold time, never over agent totals, and placed whole when accepted', () => {
  // The scenarios must exercise every path, not only clusters too small for any gang.
  const seen = { placed: 0, accepted: 0, expired: 0, dissolved: 0 };
  fc.assert(
    fc.property(scenarioArb, (sc) => {
      const allocator = new HierarchicalAllocator({ gangHoldMs: HOLD_MS });
      let now = 1_000_000;
      const agents = new Map<string, { total: Resources; zone?: string }>();
      sc.agents.forEach((a, i) => {
        const total = agentResources(a);
        agents.set(`a${i}`, { total, zone: a.zone });
        allocator.addAgent(`a${i}`, { hostname: `h${i}`, ...(a.zone === undefined ? {} : { domain: { region: 'r', zone: a.zone } }) }, total);
      });
      const specs = new Map<string, GangSpec>();
      sc.gangs.forEach((list, f) => {
        const gangs = list.map((g, j) => spec(g, `g${f}-${j}`));
        for (const g of gangs) specs.set(`f${f}/${g.id}`, g);
        allocator.addFramework(`f${f}`, { roles: ['*'], demand: { '*': [] }, gangs: { '*': gangs } });
      });
      /** Allocations the "master" holds: gang parts by gang key, ordinary ones (none here: gang-only demand). */
      const held = new Map<string, Allocation[]>();
      /** What accepted gangs run, per agent (returned by `finish`). */
      const running: Allocation[] = [];

      const check = () => {
        for (const [id, { total }] of agents) {
          let used = allocator.available(id)!;
          for (const f of sc.gangs.keys()) for (const r of allocator.allocation(`f${f}`, id)?.values() ?? []) used = used.plus(r);
          expect(used.equals(total)).toBe(true);
        }
        for (const g of allocator.heldGangs()) {
          expect(g.expiresAt).toBeGreaterThan(now);
          const parts = held.get(`${g.frameworkId}/${g.gangId}`)!;
          expect(g.parts.reduce((n, p) => n + p.tasks, 0)).toBe(parts[0]!.gang!.tasks);
          for (const p of g.parts) expect(allocator.allocation(g.frameworkId, p.agentId)!.get('*')!.contains(p.resources)).toBe(true);
        }
        expect(allocator.heldGangs().length).toBe(held.size);
      };

      const placedWhole = (parts: readonly Allocation[]) => {
        const key = `${parts[0]!.frameworkId}/${parts[0]!.gang!.id}`;
        const g = specs.get(key)!;
        const tasks = g.shapes.reduce((n, s) => n + (s.count ?? 1), 0);
        expect(parts.reduce((n, p) => n + p.gang!.tasksHere, 0)).toBe(tasks);
        expect(new Set(parts.map((p) => p.agentId)).size).toBe(parts.length);
        const cap = g.spread?.kind === 'ONE_PER_AGENT' ? 1 : g.spread?.kind === 'MAX_PER_AGENT' ? g.spread.maxPerAgent : Infinity;
        for (const p of parts) expect(p.gang!.tasksHere).toBeLessThanOrEqual(cap);
        if (g.spread?.kind === 'SAME_ZONE') expect(new Set(parts.map((p) => agents.get(p.agentId)!.zone)).size).toBe(1);
        const need = g.shapes.reduce((n, s) => n + s.quantities.get('cpus')! * (s.count ?? 1), 0);
        expect(parts.reduce((n, p) => n + p.resources.scalar('cpus'), 0)).toBe(need);
      };

      const pick = <T,>(list: readonly T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length]);
      for (const op of sc.ops) {
        if (op.kind === 'allocate') {
          now += op.advance;
          for (const g of allocator.expireGangs(now)) {
            held.delete(`${g.frameworkId}/${g.gangId}`);
            seen.expired++;
          }
          const byGang = new Map<string, Allocation[]>();
          for (const a of allocator.allocate(now)) {
            expect(a.gang).toBeDefined();
            const key = `${a.frameworkId}/${a.gang!.id}`;
            byGang.set(key, [...(byGang.get(key) ?? []), a]);
          }
          for (const [key, parts] of byGang) {
            expect(held.has(key)).toBe(false);
            placedWhole(parts);
            held.set(key, parts);
            seen.placed++;
          }
        } else if (op.kind === 'accept') {
          const key = pick([...held.keys()], op.pick);
          if (key === undefined) continue;
          const parts = held.get(key)!;
          held.delete(key);
          const accepted = allocator.acceptGang(parts[0]!.frameworkId, parts[0]!.gang!.id);
          expect(accepted.parts.reduce((n, p) => n + p.tasks, 0)).toBe(parts[0]!.gang!.tasks);
          running.push(...parts);
          seen.accepted++;
        } else if (op.kind === 'decline') {
          const key = pick([...held.keys()], op.pick);
          if (key === undefined) continue;
          const parts = held.get(key)!;
          held.delete(key);
          expect(allocator.releaseGang(parts[0]!.frameworkId, parts[0]!.gang!.id, now, op.refuse * 1000)).toBe(true);
        } else if (op.kind === 'removeAgent') {
          const id = pick([...agents.keys()], op.pick);
          if (id === undefined) continue;
          // The master rescinds every gang with an offer there, then removes the agent.
          for (const [key, parts] of [...held]) {
            if (!parts.some((p) => p.agentId === id)) continue;
            held.delete(key);
            expect(allocator.releaseGang(parts[0]!.frameworkId, parts[0]!.gang!.id, now, 0)).toBe(true);
            seen.dissolved++;
          }
          allocator.removeAgent(id);
          agents.delete(id);
          for (let i = running.length - 1; i >= 0; i--) if (running[i]!.agentId === id) running.splice(i, 1);
        } else {
          const i = running.length === 0 ? -1 : op.pick % running.length;
          if (i < 0) continue;
          const [done] = running.splice(i, 1);
          allocator.recoverResources(done!.frameworkId, done!.agentId, done!.role, done!.resources, undefined, now);
        }
        check();
      }
    }),
    { numRuns: 300 },
  );
  for (const n of Object.values(seen)) expect(n).toBeGreaterThan(0);
});

test('an agent removed under a held gang releases the whole gang, not just its part there', () => {
  const allocator = new HierarchicalAllocator({ gangHoldMs: HOLD_MS });
  for (const id of ['a', 'b', 'c']) allocator.addAgent(id, { hostname: id }, Resources.parse('cpus:2;mem:1024'));
  allocator.addFramework('f', { roles: ['*'], demand: { '*': [] }, gangs: { '*': [{ id: 'g', shapes: [{ quantities: new Map([['cpus', 1000]]), count: 3 }], spread: { kind: 'ONE_PER_AGENT' } }] } });
  const parts = allocator.allocate(0);
  expect(parts.map((p) => p.agentId).sort()).toEqual(['a', 'b', 'c']);
  allocator.removeAgent('b');
  expect(allocator.heldGangs()).toEqual([]);
  expect(allocator.available('a')!.equals(Resources.parse('cpus:2;mem:1024'))).toBe(true);
  expect(allocator.available('c')!.equals(Resources.parse('cpus:2;mem:1024'))).toBe(true);
  // Two agents cannot hold three one-per-agent tasks: nothing is offered, nothing held.
  expect(allocator.allocate(1)).toEqual([]);
  expect(allocator.heldGangs()).toEqual([]);
});
