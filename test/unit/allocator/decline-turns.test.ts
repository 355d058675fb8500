import fc from 'fast-check';
import { HierarchicalAllocator, type Allocation } from '../../../src/allocator';
import { Resources } from '../../../src/common/resources';
import { seededRandom } from '../../../src/common/random';

/**
 * Issue 15, point 7: frameworks that decline everything with refuse_seconds 0 must not be offered
 * the same resources again and again within one allocation batch (an offer storm), and frameworks
 * tied on dominant share take turns instead of the first by name getting every offer.
 */

const AGENT = 'cpus:4;mem:1024';

function cluster(frameworks: number, agents: number, seed: number) {
  const a = new HierarchicalAllocator({ random: seededRandom(seed) });
  for (let i = 0; i < agents; i++) a.addAgent(`agent-${i}`, { hostname: `h${i}` }, Resources.parse(AGENT));
  for (let i = 0; i < frameworks; i++) a.addFramework(`fw-${i}`, { roles: ['r'] });
  return a;
}

function declineAll(a: HierarchicalAllocator, offers: readonly Allocation[], now: number): void {
  for (const o of offers) a.recoverResources(o.frameworkId, o.agentId, o.role, o.resources, { refuseSeconds: 0 }, now);
}

/**
 * One batch as the master runs it: a cycle over all agents, then a prompt cycle over the agents
 * whose offers were declined, for as long as any decline frees something (bounded, to fail rather
 * than hang if declines kept coming back).
 */
function batchWithPromptCycles(a: HierarchicalAllocator, now: number): Allocation[] {
  const all: Allocation[] = [];
  let offers = a.allocate(now);
  for (let round = 0; offers.length > 0; round++) {
    if (round > 1000) throw new Error('prompt cycles did not settle: an offer storm');
    all.push(...offers);
    declineAll(a, offers, now);
    offers = a.allocate(now, new Set(offers.map((o) => o.agentId)));
  }
  return all;
}

describe('declines with refuse_seconds 0', () => {
  test('two tied frameworks, one agent: each is offered it once per batch, in turn', () => {
    const a = cluster(2, 1, 1);
    const order: string[] = [];
    for (let batch = 1; batch <= 4; batch++) order.push(...batchWithPromptCycles(a, batch * 1000).map((o) => o.frameworkId));
    // Not fw-0 forever: fw-0, then fw-1 in the prompt cycle after fw-0's decline, then nothing
    // until the next batch, which starts with the one served longer ago (fw-0 again).
    expect(order).toEqual(['fw-0', 'fw-1', 'fw-0', 'fw-1', 'fw-0', 'fw-1', 'fw-0', 'fw-1']);
  });

  test('with batches only (as Mesos), tied frameworks take turns batch by batch', () => {
    const a = cluster(3, 1, 1);
    const order: string[] = [];
    for (let batch = 1; batch <= 6; batch++) {
      const offers = a.allocate(batch * 1000);
      order.push(...offers.map((o) => o.frameworkId));
      declineAll(a, offers, batch * 1000);
    }
    expect(order).toEqual(['fw-0', 'fw-1', 'fw-2', 'fw-0', 'fw-1', 'fw-2']);
  });

  test('property: per batch, every framework is offered every agent exactly once — no storm, no starvation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (frameworks, agents, batches, seed) => {
        const a = cluster(frameworks, agents, seed);
        for (let batch = 1; batch <= batches; batch++) {
          const pairs = batchWithPromptCycles(a, batch * 1000).map((o) => `${o.frameworkId}@${o.agentId}`);
          expect(pairs).toHaveLength(frameworks * agents);
          expect(new Set(pairs).size).toBe(frameworks * agents);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('property: with batches only, offers of identical agents are spread evenly over tied frameworks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), fc.integer(), (frameworks, agents, batches, seed) => {
        const a = cluster(frameworks, agents, seed);
        const counts = new Map<string, number>();
        for (let batch = 1; batch <= batches; batch++) {
          const offers = a.allocate(batch * 1000);
          for (const o of offers) counts.set(o.frameworkId, (counts.get(o.frameworkId) ?? 0) + 1);
          declineAll(a, offers, batch * 1000);
        }
        const values = Array.from({ length: frameworks }, (_, i) => counts.get(`fw-${i}`) ?? 0);
        expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});
