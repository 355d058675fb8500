import fc from 'fast-check';
import { planPreemption, type PreemptionCandidate } from '../../../src/allocator';
import { compileGang, placeGang } from '../../../src/allocator/gangs';
import { Resources } from '../../../src/common/resources';
import type { GangSpread } from '../../../src/allocator';

/**
 * The preemption victim chooser (src/allocator/preemption.ts) on its own: properties over random
 * clusters of agents running tasks of random priorities and budgets, and the ordering rules on
 * hand-made cases.
 */
const q = (cpus: number, mem: number) => new Map([['cpus', cpus * 1000], ['mem', mem * 1000]]);
const res = (cpus: number, mem: number) => Resources.parse(`cpus:${cpus};mem:${mem}`);

interface Task { id: string; agent: number; cpus: number; mem: number; priority: number; budget?: string; startedAt: number }

function input(agents: { cpus: number; mem: number; free: [number, number] }[], tasks: Task[], gang: { cpus: number; mem: number; count: number; spread: GangSpread; priority: number }, allowance: Map<string, number> = new Map()) {
  const compiled = compileGang({ id: 'g', shapes: [{ quantities: q(gang.cpus, gang.mem), count: gang.count }], spread: gang.spread, priority: gang.priority }, 'r', 'g');
  const candidates: PreemptionCandidate<Task>[] = tasks.map((t) => ({ ref: t, agentId: `a${t.agent}`, priority: t.priority, resources: res(t.cpus, t.mem), cost: 1, budget: t.budget, startedAt: t.startedAt }));
  return {
    gang: compiled,
    agents: agents.map((a, i) => ({ id: `a${i}`, info: { hostname: `h${i}` }, free: res(a.free[0], a.free[1]) })),
    candidates,
    allowance,
  };
}

describe('planPreemption', () => {
  test('takes the lowest priority first, and only what the gang needs', () => {
    const tasks: Task[] = [
      { id: 'mid', agent: 0, cpus: 2, mem: 256, priority: 5, startedAt: 1 },
      { id: 'low', agent: 0, cpus: 2, mem: 256, priority: 1, startedAt: 1 },
      { id: 'low2', agent: 1, cpus: 2, mem: 256, priority: 1, startedAt: 1 },
    ];
    const plan = planPreemption(input([{ cpus: 4, mem: 1024, free: [0, 512] }, { cpus: 4, mem: 1024, free: [2, 512] }], tasks, { cpus: 2, mem: 128, count: 1, spread: { kind: 'ANY' }, priority: 10 }));
    // One task of 2 cpus is needed anywhere, and agent a1 already has 2 free: nothing at all is taken.
    expect(plan).toEqual({ victims: [], tasks: 0, agents: ['a1'] });
    const two = planPreemption(input([{ cpus: 4, mem: 1024, free: [0, 512] }, { cpus: 4, mem: 1024, free: [0, 512] }], tasks, { cpus: 2, mem: 128, count: 2, spread: { kind: 'ANY' }, priority: 10 }));
    expect(two!.victims.map((t) => t.id).sort()).toEqual(['low', 'low2']);
  });

  test('never takes equal or higher priority, and refuses when even every lower one is not enough', () => {
    const tasks: Task[] = [
      { id: 'same', agent: 0, cpus: 4, mem: 256, priority: 10, startedAt: 1 },
      { id: 'low', agent: 1, cpus: 2, mem: 256, priority: 1, startedAt: 1 },
    ];
    expect(planPreemption(input([{ cpus: 4, mem: 1024, free: [0, 512] }, { cpus: 4, mem: 1024, free: [0, 512] }], tasks, { cpus: 4, mem: 128, count: 1, spread: { kind: 'ANY' }, priority: 10 }))).toBeUndefined();
  });

  test('prefers an unused offer (no task) over a task, and bigger tasks over several small ones', () => {
    const agents = [{ cpus: 4, mem: 2048, free: [0, 1024] as [number, number] }];
    const small = [1, 2, 3, 4].map((i): Task => ({ id: `s${i}`, agent: 0, cpus: 0.5, mem: 64, priority: 1, startedAt: i }));
    const big: Task = { id: 'big', agent: 0, cpus: 2, mem: 64, priority: 1, startedAt: 0 };
    const plan = planPreemption(input(agents, [...small, big], { cpus: 2, mem: 64, count: 1, spread: { kind: 'ANY' }, priority: 5 }));
    expect(plan!.victims.map((t) => t.id)).toEqual(['big']);
    const base = input(agents, [big], { cpus: 2, mem: 64, count: 1, spread: { kind: 'ANY' }, priority: 5 });
    const offer: PreemptionCandidate<Task> = { ref: { id: 'offer', agent: 0, cpus: 2, mem: 64, priority: 1, startedAt: 0 }, agentId: 'a0', priority: 1, resources: res(2, 64), cost: 0, startedAt: 0 };
    const withOffer = planPreemption({ ...base, candidates: [...base.candidates, offer] });
    expect(withOffer).toMatchObject({ tasks: 0 });
    expect(withOffer!.victims.map((t) => t.id)).toEqual(['offer']);
  });

  test('a budget with no allowance protects its group; the allowance bounds how many go', () => {
    const agents = [0, 1, 2].map(() => ({ cpus: 2, mem: 1024, free: [0, 512] as [number, number] }));
    const tasks = [0, 1, 2].map((i): Task => ({ id: `app.${i}`, agent: i, cpus: 2, mem: 128, priority: 0, budget: 'fw/app', startedAt: i }));
    const gang = { cpus: 2, mem: 128, count: 2, spread: { kind: 'ANY' } as GangSpread, priority: 10 };
    expect(planPreemption(input(agents, tasks, gang, new Map([['fw/app', 0]])))).toBeUndefined();
    expect(planPreemption(input(agents, tasks, gang, new Map([['fw/app', 1]])))).toBeUndefined();
    const plan = planPreemption(input(agents, tasks, gang, new Map([['fw/app', 2]])));
    // Youngest first at equal priority and size.
    expect(plan!.victims.map((t) => t.id)).toEqual(['app.2', 'app.1']);
  });

  const taskArb = (agents: number) => fc.record({ agent: fc.integer({ min: 0, max: agents - 1 }), cpus: fc.integer({ min: 1, max: 4 }), mem: fc.integer({ min: 64, max: 512 }), priority: fc.integer({ min: 0, max: 10 }), budget: fc.option(fc.constantFrom('b1', 'b2'), { nil: undefined }), startedAt: fc.nat(1000) });
  const scenarioArb = fc.integer({ min: 1, max: 8 }).chain((n) =>
    fc.record({
      agents: fc.array(fc.record({ cpus: fc.constant(8), mem: fc.constant(4096), free: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1024 })) }), { minLength: n, maxLength: n }),
      tasks: fc.array(taskArb(n), { maxLength: 24 }),
      gang: fc.record({
        cpus: fc.integer({ min: 1, max: 4 }),
        mem: fc.integer({ min: 32, max: 512 }),
        count: fc.integer({ min: 1, max: 6 }),
        spread: fc.constantFrom<GangSpread>({ kind: 'ANY' }, { kind: 'ONE_PER_AGENT' }, { kind: 'MAX_PER_AGENT', maxPerAgent: 2 }),
        priority: fc.integer({ min: 0, max: 11 }),
      }),
      allowance: fc.record({ b1: fc.integer({ min: 0, max: 3 }), b2: fc.integer({ min: 0, max: 3 }) }),
    }),
  );

  test('properties: victims are of lower priority, within budgets, each needed, and free enough to place the gang whole', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const tasks = s.tasks.map((t, i) => ({ ...t, id: `t${i}` }));
        const inp = input(s.agents, tasks, s.gang, new Map(Object.entries(s.allowance)));
        const plan = planPreemption(inp);
        const roomWith = (victims: readonly Task[]) => inp.agents.map((a) => ({ agent: a.id, info: a.info, room: victims.filter((v) => `a${v.agent}` === a.id).reduce((r, v) => r.plus(res(v.cpus, v.mem)), a.free) }));
        if (plan === undefined) {
          // Refused only when taking everything allowed would not be enough either.
          const allowed: Task[] = [];
          const left = new Map(Object.entries(s.allowance));
          for (const t of [...tasks].filter((t) => t.priority < s.gang.priority).sort((a, b) => a.priority - b.priority || b.cpus * 1024 + b.mem - (a.cpus * 1024 + a.mem) || b.startedAt - a.startedAt)) {
            if (t.budget !== undefined) {
              if ((left.get(t.budget) ?? 0) <= 0) continue;
              left.set(t.budget, left.get(t.budget)! - 1);
            }
            allowed.push(t);
          }
          expect(placeGang(inp.gang, roomWith(allowed))).toBeUndefined();
          return;
        }
        for (const v of plan.victims) expect(v.priority).toBeLessThan(s.gang.priority);
        for (const b of ['b1', 'b2'] as const) expect(plan.victims.filter((v) => v.budget === b).length).toBeLessThanOrEqual(s.allowance[b]);
        expect(plan.tasks).toBe(plan.victims.length);
        const placed = placeGang(inp.gang, roomWith(plan.victims));
        expect(placed).toBeDefined();
        expect(new Set(plan.agents).size).toBe(plan.agents.length);
        // Minimal: no single victim can be given back.
        for (let i = 0; i < plan.victims.length; i++) {
          const fewer = plan.victims.filter((_, j) => j !== i);
          expect(placeGang(inp.gang, roomWith(fewer))).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });
});
