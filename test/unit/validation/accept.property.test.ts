/**
 * Conservation: whatever operations a framework sends — valid, invalid, in any order, against one or
 * two agents, one or two roles — an ACCEPT neither creates nor loses resources. Replaying the plan's
 * launches and conversions in operation order on the offered resources must succeed step by step and
 * end exactly at `unused`; scalar totals and port counts must balance without the replay too. (No
 * shared volumes here: tasks use those without consuming them, see the unit test.)
 */
import fc from 'fast-check';
import * as quantities from '../../../src/common/quantities';
import { Resources } from '../../../src/common/resources';
import { resourcesToWire } from '../../../src/common/wire/resources';
import { planAccept, type AcceptOffer, type AcceptPlan } from '../../../src/master/validation/accept';
import type { Operation } from '../../../src/generated/berth/v1/Operation';
import type { Resource } from '../../../src/generated/berth/v1/Resource';
import { AGENT, ops, reserved, TaskBuilder } from './builders';

const PRINCIPALS = ['p', 'q', undefined] as const;

const volume = (id: string, mb: number, principal?: string): Resources =>
  Resources.of([{ name: 'disk', kind: 'scalar', scalar: mb * 1000, reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }], disk: { persistence: { id, ...(principal ? { principal } : {}) } } }]);

/** `undefined` three times out of four. */
function rarely<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

/** Some resources a task or an operation might ask for: mostly plausible, sometimes too much, sometimes reserved. */
const askArb: fc.Arbitrary<Resources> = fc
  .record({
    cpus: fc.constantFrom(0, 0.5, 0.5, 0.5, 1, 1, 1, 2.5, 9),
    mem: fc.constantFrom(0, 32, 32, 32, 512, 512, 4096),
    ports: rarely(fc.tuple(fc.integer({ min: 30998, max: 31010 }), fc.integer({ min: 0, max: 2 }))),
    reservedCpus: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(0.5, 1) }),
    volume: rarely(fc.constantFrom('v1', 'v2')),
  })
  .map(({ cpus, mem, ports, reservedCpus, volume: vol }) => {
    let r = Resources.parse(`cpus:${cpus};mem:${mem}`);
    if (ports !== undefined) r = r.plus(Resources.parse(`ports:[${ports[0]}-${ports[0] + ports[1]}]`));
    if (reservedCpus > 0) r = r.plus(reserved(`cpus:${reservedCpus}`, 'eng', 'p'));
    if (vol !== undefined) r = r.plus(volume(vol, vol === 'v1' ? 100 : 200, 'p'));
    return r;
  });

const NEGATIVE: Resource[] = [{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }];

const taskArb: fc.Arbitrary<TaskBuilder> = fc
  .record({ id: fc.constantFrom('', ...Array.from({ length: 40 }, (_, i) => `t${i + 1}`)), ask: askArb, broken: fc.boolean(), malformed: fc.integer({ min: 0, max: 9 }) })
  .map(({ id, ask, broken, malformed }) => {
    const t = new TaskBuilder(id || 'x').with({ resources: resourcesToWire(ask) });
    if (id === '') t.with({ task_id: null });
    if (broken && malformed === 0) t.wireResources(NEGATIVE);
    if (broken && malformed === 1) t.with({ name: '' });
    return t;
  });

const often = <T>(arbitrary: fc.Arbitrary<T>): fc.WeightedArbitrary<T> => ({ weight: 3, arbitrary });
const operationArb: fc.Arbitrary<Operation> = fc.oneof(
  often(fc.array(taskArb, { minLength: 1, maxLength: 3 }).map((ts): Operation => ({ type: 'LAUNCH', launch: { task_infos: ts.map((t) => t.wire()) } }))),
  often(fc.array(taskArb, { minLength: 1, maxLength: 2 }).map((ts): Operation => ({ type: 'LAUNCH_GROUP', launch_group: { task_group: { tasks: ts.map((t) => t.wire()) } } }))),
  fc
    .record({ what: fc.constantFrom('cpus:1', 'cpus:3;mem:64', 'disk:300', 'cpus:0.5;ports:[31000-31001]'), role: fc.constantFrom('eng', 'ads', 'web'), principal: fc.constantFrom(...PRINCIPALS) })
    .map(({ what, role, principal }): Operation => ({ type: 'RESERVE', reserve: { resources: resourcesToWire(reserved(what, role, principal)) } })),
  fc
    .record({ what: fc.constantFrom('cpus:0.5', 'cpus:1', 'disk:100', 'disk:300'), principal: fc.constantFrom(...PRINCIPALS) })
    .map(({ what, principal }): Operation => ({ type: 'UNRESERVE', unreserve: { resources: resourcesToWire(reserved(what, 'eng', principal)) } })),
  fc
    .record({ id: fc.constantFrom('v1', 'v2', 'v3'), mb: fc.constantFrom(100, 200, 900) })
    .map(({ id, mb }): Operation => ({ type: 'CREATE', create: { volumes: resourcesToWire(volume(id, mb)) } })),
  fc
    .record({ id: fc.constantFrom('v1', 'v2'), mb: fc.constantFrom(100, 200) })
    .map(({ id, mb }): Operation => ({ type: 'DESTROY', destroy: { volumes: resourcesToWire(volume(id, mb, 'p')) } })),
  fc.constant<Operation>({ type: 'TYPE_UNSPECIFIED' }),
);

const offersArb: fc.Arbitrary<AcceptOffer[]> = fc
  .record({ roles: fc.integer({ min: 1, max: 4 }), secondAgent: fc.integer({ min: 0, max: 5 }), withVolume: fc.boolean() })
  .map(({ roles, secondAgent, withVolume }) => {
    const secondRole = roles === 2; // one run in four
    let eng = Resources.parse('cpus:4;mem:1024;disk:1000;ports:[31000-31009]').plus(reserved('cpus:1;disk:400', 'eng', 'p'));
    if (withVolume) eng = eng.plus(volume('v1', 100, 'p'));
    const offers: AcceptOffer[] = [{ id: 'o1', agentId: AGENT, role: 'eng', resources: eng }];
    if (secondRole) offers.push({ id: 'o2', agentId: AGENT, role: 'ads', resources: Resources.parse('cpus:2;mem:512;ports:[32000-32003]') });
    if (secondAgent === 0) offers.push({ id: 'o3', agentId: 'agent-2', role: 'eng', resources: Resources.parse('cpus:1;mem:64') });
    return offers;
  });

function sumByRole(offers: readonly AcceptOffer[]): Map<string, Resources> {
  const out = new Map<string, Resources>();
  for (const o of offers) out.set(o.role, (out.get(o.role) ?? Resources.empty()).plus(o.resources));
  return out;
}

/** Replays the plan on the offered resources; throws if a step takes what is not there. */
function replay(offers: readonly AcceptOffer[], plan: AcceptPlan, operations: number): Map<string, Resources> {
  const pools = sumByRole(offers);
  const get = (role: string): Resources => pools.get(role) ?? Resources.empty();
  for (let i = 0; i < operations; i++) {
    for (const c of plan.conversions.filter((x) => x.index === i)) pools.set(c.role, get(c.role).minus(c.consumed).plus(c.converted));
    for (const l of plan.launches.filter((x) => x.index === i)) pools.set(l.role, get(l.role).minus(l.resources.filter((e) => !e.shared)));
  }
  return pools;
}

describe('planAccept conservation', () => {
  it('never creates or loses resources, whatever the operations', () => {
    fc.assert(
      fc.property(offersArb, fc.array(operationArb, { maxLength: 6 }), (offers, operations) => {
        const decoded = ops(...operations);
        const plan = planAccept({ frameworkId: 'fw', principal: 'p', frameworkRoles: new Set(['eng', 'ads']), offers, operations: decoded, isKnownTask: (id) => id === 't5' });

        // Step by step, every launch and conversion takes only what is there, and the rest is `unused`.
        const pools = replay(offers, plan, decoded.length);
        const unused = new Map(plan.unused.map((u) => [u.role, u.resources]));
        for (const role of new Set([...pools.keys(), ...unused.keys()])) {
          expect((unused.get(role) ?? Resources.empty()).toString()).toBe((pools.get(role) ?? Resources.empty()).toString());
          expect((unused.get(role) ?? Resources.empty()).equals(pools.get(role) ?? Resources.empty())).toBe(true);
        }

        // Scalar totals balance (conversions change reservations and volumes, never amounts).
        const offered = offers.reduce((q, o) => quantities.add(q, o.resources.quantities()), new Map<string, number>());
        let accounted = new Map<string, number>();
        for (const l of plan.launches) accounted = quantities.add(accounted, l.resources.quantities());
        for (const u of plan.unused) accounted = quantities.add(accounted, u.resources.quantities());
        expect(accounted).toEqual(offered);
        const ports = (rs: readonly Resources[]): number => rs.reduce((n, r) => n + r.rangeCount('ports'), 0);
        expect(ports([...plan.launches.map((l) => l.resources), ...plan.unused.map((u) => u.resources)])).toBe(ports(offers.map((o) => o.resources)));

        // Offers from two agents: nothing launches or converts, everything is returned.
        if (new Set(offers.map((o) => o.agentId)).size > 1) {
          expect(plan.launches).toEqual([]);
          expect(plan.conversions).toEqual([]);
        }

        // Every task id but the running task's ("t5") gets exactly one answer: a launch or a status
        // update; "t5" gets neither (an update with its id would speak of the running task).
        const named = decoded.flatMap((o) => [...(o.launch?.task_infos ?? []), ...(o.launch_group?.task_group?.tasks ?? [])]).filter((t) => t.task_id !== null);
        const answered = [...plan.launches.map((l) => l.task.task_id!.value), ...plan.taskOutcomes.map((o) => o.taskId)];
        expect(answered.length).toBe(new Set(answered).size);
        expect(new Set(answered)).toEqual(new Set(named.map((t) => t.task_id!.value).filter((id) => id !== 't5')));
        // A repeated id refuses the whole ACCEPT.
        if (named.length !== new Set(named.map((t) => t.task_id!.value)).size) expect([plan.refused !== undefined, plan.launches, plan.conversions]).toEqual([true, [], []]);
      }),
      { numRuns: 400 },
    );
  });
});
