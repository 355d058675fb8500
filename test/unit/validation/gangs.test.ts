import { Resources } from '../../../src/common/resources';
import type { FrameworkInfo } from '../../../src/generated/berth/v1/FrameworkInfo';
import type { GangDemand } from '../../../src/generated/berth/v1/GangDemand';
import { ValidationError } from '../../../src/master/validation/errors';
import { validateFrameworkInfo } from '../../../src/master/validation/framework-info';
import { clusterCapacity, gangClusterProblems } from '../../../src/master/validation/gangs';
import { decodeFrameworkInfo } from '../wire/codec';

const shape = (count: number, cpus = 1) => ({ resources: [{ name: 'cpus', value: cpus }, { name: 'mem', value: 64 }], count });
const withGangs = (gangs: GangDemand[], more: Partial<FrameworkInfo> = {}) =>
  decodeFrameworkInfo({ name: 'batch', user: '', roles: ['eng', 'ops'], demand: { eng: { shapes: [], gangs } }, ...more });

function problems(info: ReturnType<typeof withGangs>): string[] {
  try {
    validateFrameworkInfo(info);
  } catch (err) {
    if (err instanceof ValidationError) return err.problems.map((p) => `${p.field}: ${p.message}`);
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('gang declarations at the edge', () => {
  it('reads a gang into the allocator description', () => {
    const v = validateFrameworkInfo(withGangs([{ gang_id: 'train', shapes: [shape(8, 2)], spread: { kind: 'MAX_PER_AGENT', max_per_agent: 2 } }]));
    expect(v.description.gangs).toEqual({
      eng: [{ id: 'train', spread: { kind: 'MAX_PER_AGENT', maxPerAgent: 2 }, shapes: [{ quantities: new Map([['cpus', 2000], ['mem', 64_000]]), count: 8 }], priority: 0, priorityClass: 'default' }],
    });
    // A role with gangs only has an empty plain demand: no ordinary offers.
    expect(v.description.demand).toEqual({ eng: [] });
    expect(validateFrameworkInfo(withGangs([{ gang_id: 'g', shapes: [shape(1)] }])).description.gangs!.eng![0]!.spread).toEqual({ kind: 'ANY' });
  });

  it.each([
    ['a missing id', { shapes: [shape(2)] }, 'framework_info.demand["eng"].gangs[0].gang_id: must be set: the framework chooses each gang\'s id'],
    ['an id with spaces', { gang_id: 'a b', shapes: [shape(2)] }, 'framework_info.demand["eng"].gangs[0].gang_id: must not contain whitespace, got "a b"'],
    ['no shapes', { gang_id: 'g' }, 'framework_info.demand["eng"].gangs[0].shapes: a gang needs at least one task shape (resources and count)'],
    ['a zero count', { gang_id: 'g', shapes: [shape(0)] }, 'framework_info.demand["eng"].gangs[0].shapes[0].count: a gang\'s shape needs count >= 1 (how many tasks of this shape the gang has), got 0'],
    ['a negative quantity', { gang_id: 'g', shapes: [{ resources: [{ name: 'cpus', value: -1 }], count: 1 }] }, 'framework_info.demand["eng"].gangs[0].shapes[0].resources[0].value: must be non-negative, got -1'],
    ['too many tasks', { gang_id: 'g', shapes: [shape(6000), shape(5000)] }, 'framework_info.demand["eng"].gangs[0].shapes: the gang has 11000 tasks; at most 10000 are allowed'],
    ['MAX_PER_AGENT without K', { gang_id: 'g', shapes: [shape(2)], spread: { kind: 'MAX_PER_AGENT' } }, 'framework_info.demand["eng"].gangs[0].spread.max_per_agent: MAX_PER_AGENT needs max_per_agent >= 1 (the most tasks of the gang on one agent), got 0'],
    ['K with another kind', { gang_id: 'g', shapes: [shape(2)], spread: { kind: 'ONE_PER_AGENT', max_per_agent: 3 } }, 'framework_info.demand["eng"].gangs[0].spread.max_per_agent: is used only with kind MAX_PER_AGENT, got 3 with ONE_PER_AGENT'],
    ['an unknown spread kind', { gang_id: 'g', shapes: [shape(2)], spread: { kind: 9 as never } }, 'framework_info.demand["eng"].gangs[0].spread.kind: unknown spread kind 9: use one of ANY, ONE_PER_AGENT, SAME_ZONE, MAX_PER_AGENT'],
  ])('refuses %s, naming the field and the value', (_what, gang, message) => {
    expect(problems(withGangs([gang as GangDemand]))).toEqual([message]);
  });

  it('refuses a gang id used twice, also across roles', () => {
    const info = decodeFrameworkInfo({
      name: 'batch', user: '', roles: ['eng', 'ops'],
      demand: { eng: { gangs: [{ gang_id: 'g', shapes: [shape(1)] }] }, ops: { gangs: [{ gang_id: 'g', shapes: [shape(1)] }] } },
    });
    expect(problems(info)).toEqual(['framework_info.demand["ops"].gangs[0].gang_id: duplicate gang id "g" (also framework_info.demand["eng"].gangs[0].gang_id); gang ids are unique per framework']);
  });
});

describe('gangs larger than the cluster', () => {
  const agent = (text: string, zone?: string) => ({ total: Resources.parse(text), lifecycle: 'REGISTERED', info: { domain: zone === undefined ? null : { fault_domain: { region: { name: 'r' }, zone: { name: zone } } } } });
  const cluster = clusterCapacity([agent('cpus:4;mem:1024;ports:[1-10]', 'a'), agent('cpus:4;mem:1024', 'b'), { ...agent('cpus:64;mem:65536'), lifecycle: 'GONE' }]);
  const check = (gang: GangDemand) => gangClusterProblems(validateFrameworkInfo(withGangs([gang])).description.gangs!, cluster, (role, i) => `demand.${role}.gangs[${i}]`).map((p) => `${p.field}: ${p.message}`);

  it('counts registered agents only', () => {
    expect(cluster.agents).toBe(2);
    expect(cluster.totals.get('cpus')).toBe(8000);
    expect(cluster.ports).toBe(10);
  });

  it('names what the gang asks against the cluster totals', () => {
    expect(check({ gang_id: 'big', shapes: [shape(3, 3)] })).toEqual([
      'demand.eng.gangs[0]: gang "big" can never be placed: it asks 3 × {cpus 3, mem 64} = cpus 9 of 8, mem 192 of 2048 in the whole cluster (2 agents); cpus exceed the cluster\'s total',
    ]);
    expect(check({ gang_id: 'ok', shapes: [shape(8, 1)] })).toEqual([]);
  });

  it('checks the spread against the number of agents and the zones', () => {
    expect(check({ gang_id: 'wide', shapes: [shape(3, 1)], spread: { kind: 'ONE_PER_AGENT' } })).toEqual(['demand.eng.gangs[0]: gang "wide" can never be placed: 3 tasks at most 1 per agent need 3 agents; the cluster has 2']);
    expect(check({ gang_id: 'zone', shapes: [shape(5, 1)], spread: { kind: 'SAME_ZONE' } })).toEqual(['demand.eng.gangs[0]: gang "zone" can never be placed: SAME_ZONE: no zone has cpus 5, mem 320 (a: cpus 5 of 4, mem 320 of 1024; b: cpus 5 of 4, mem 320 of 1024)']);
  });
});
