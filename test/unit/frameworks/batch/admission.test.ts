/**
 * The admission core alone: quota, borrowing within a cohort, weighted dominant share across
 * queues, priority/FIFO within a queue, and reclaim (youngest borrowers first, only when enough).
 */
import { decide, dominantShare, queueUsage, type Workload } from '../../../../src/frameworks/batch/admission';
import type { QueueSpec } from '../../../../src/frameworks/batch/queue-spec';

const queue = (name: string, cpus: number, extra: Partial<QueueSpec> = {}): QueueSpec => ({ name, nominalQuota: { cpus, mem: cpus * 1024 }, weight: 1, ...extra });
let seq = 0;
const job = (id: string, q: string, cpus: number, extra: Partial<Workload> = {}): Workload => ({ id, queue: q, demand: { cpus, mem: cpus * 1024 }, priority: 0, seq: ++seq, ...extra });

describe('decide: quota and borrowing', () => {
  test('a queue without a cohort admits up to its nominal quota, FIFO, and says why the rest waits', () => {
    const queues = [queue('solo', 4)];
    const d = decide(queues, [job('a', 'solo', 2), job('b', 'solo', 2), job('c', 'solo', 1), job('d', 'solo', 1)], []);
    expect(d.admit).toEqual(['a', 'b']);
    expect(d.evict).toEqual([]);
    expect(d.waiting.get('c')).toBe('queue solo at quota (cpus 4/4, mem 4096/4096; the job needs cpus 1, mem 1024) and it has no cohort to borrow from');
    expect(d.waiting.get('d')).toBe('waiting behind job c, first in queue solo');
  });

  test('strict FIFO: a head that does not fit blocks smaller jobs behind it', () => {
    const queues = [queue('solo', 4)];
    const d = decide(queues, [job('big', 'solo', 4), job('small', 'solo', 1)], [job('run', 'solo', 1, { admittedSeq: 1 })]);
    expect(d.admit).toEqual([]);
    expect(d.waiting.get('small')).toBe('waiting behind job big, first in queue solo');
  });

  test('priority orders a queue before submission order', () => {
    const d = decide([queue('solo', 2)], [job('old', 'solo', 2), job('urgent', 'solo', 2, { priority: 10 })], []);
    expect(d.admit).toEqual(['urgent']);
    expect(d.waiting.get('old')).toMatch(/^queue solo at quota/);
  });

  test('a queue borrows what its cohort siblings leave unused, up to the cohort total', () => {
    const queues = [queue('q1', 4, { cohort: 'c' }), queue('q2', 4, { cohort: 'c' })];
    const d = decide(queues, [1, 2, 3, 4, 5].map((i) => job(`j${i}`, 'q1', 2)), []);
    expect(d.admit).toEqual(['j1', 'j2', 'j3', 'j4']);
    expect(d.waiting.get('j5')).toBe('queue q1 at quota (cpus 8/4, mem 8192/4096; the job needs cpus 2, mem 2048), cohort c has nothing to lend (cpus 8/8, mem 8192/8192 in use)');
  });

  test('a borrowing limit caps what a queue borrows, named in the reason', () => {
    const queues = [queue('q1', 4, { cohort: 'c', borrowingLimit: { cpus: 2 } }), queue('q2', 4, { cohort: 'c' })];
    const d = decide(queues, [job('a', 'q1', 4), job('b', 'q1', 2), job('c', 'q1', 2)], []);
    expect(d.admit).toEqual(['a', 'b']);
    expect(d.waiting.get('c')).toContain('its borrowing limit is reached (cpus 2 borrowed of 2)');
  });

  test('cohorts are independent: a queue never borrows from another cohort', () => {
    const queues = [queue('q1', 2, { cohort: 'a' }), queue('q2', 8, { cohort: 'b' })];
    const d = decide(queues, [job('x', 'q1', 2), job('y', 'q1', 2)], []);
    expect(d.admit).toEqual(['x']);
    expect(d.waiting.get('y')).toContain('cohort a has nothing to lend');
  });

  test('a job of an unknown queue waits with that reason', () => {
    const d = decide([queue('q1', 2)], [job('lost', 'gone', 1)], []);
    expect(d.waiting.get('lost')).toBe('queue gone does not exist (apply it with berth queue apply)');
  });
});

describe('decide: fair share within a cohort', () => {
  test('equal weights alternate between queues by dominant share, so neither takes the cohort', () => {
    const queues = [queue('q1', 4, { cohort: 'c' }), queue('q2', 4, { cohort: 'c' })];
    const pending = [...[1, 2, 3, 4, 5, 6].map((i) => job(`a${i}`, 'q1', 1)), ...[1, 2, 3, 4, 5, 6].map((i) => job(`b${i}`, 'q2', 1))];
    const d = decide(queues, pending, []);
    expect(d.admit).toHaveLength(8);
    expect(d.admit.filter((id) => id.startsWith('a'))).toHaveLength(4);
    expect(d.admit.slice(0, 4)).toEqual(['a1', 'b1', 'a2', 'b2']);
  });

  test('weights split what is contended in their ratio', () => {
    const queues = [queue('heavy', 6, { cohort: 'c', weight: 3 }), queue('light', 6, { cohort: 'c', weight: 1 })];
    const pending = [...Array.from({ length: 12 }, (_, i) => job(`h${i}`, 'heavy', 1)), ...Array.from({ length: 12 }, (_, i) => job(`l${i}`, 'light', 1))];
    const d = decide(queues, pending, []);
    expect(d.admit.filter((id) => id.startsWith('h'))).toHaveLength(9);
    expect(d.admit.filter((id) => id.startsWith('l'))).toHaveLength(3);
  });

  test('dominantShare is the largest resource fraction of the cohort over the weight', () => {
    const queues = [queue('q1', 4, { cohort: 'c', weight: 2 }), queue('q2', 4, { cohort: 'c' })];
    expect(dominantShare(queues[0]!, queues, { cpus: 2, mem: 4096 })).toBeCloseTo(0.25);
  });

  test('queueUsage reports used and borrowed per queue', () => {
    const queues = [queue('q1', 2, { cohort: 'c' }), queue('q2', 4, { cohort: 'c' })];
    const usage = queueUsage(queues, [job('a', 'q1', 3, { admittedSeq: 1 })]);
    expect(usage.get('q1')).toEqual({ used: { cpus: 3, mem: 3072 }, borrowed: { cpus: 1, mem: 1024 } });
    expect(usage.get('q2')).toEqual({ used: {}, borrowed: {} });
  });
});

describe('decide: reclaiming lent quota', () => {
  const queues = [queue('q1', 4, { cohort: 'c' }), queue('q2', 4, { cohort: 'c' })];

  test('a queue within its nominal quota takes it back from the youngest borrowing jobs', () => {
    // q1 holds the whole cohort: 4 of its own, 4 borrowed from q2.
    const admitted = [1, 2, 3, 4].map((i) => job(`a${i}`, 'q1', 2, { admittedSeq: i }));
    const d = decide(queues, [job('b1', 'q2', 4)], admitted);
    expect(d.evict.map((e) => e.id)).toEqual(['a4', 'a3']);
    expect(d.evict[0]!.reason).toBe('reclaimed: queue q2 needs its nominal quota back for job b1 (queue q1 was borrowing)');
    expect(d.admit).toEqual(['b1']);
  });

  test('a queue that does not borrow keeps its jobs: only lent quota comes back', () => {
    // q1 holds 5 (borrows 1); q2 already holds 3 and asks for 2 more: 1 comes back, q1 stays at 4.
    const admitted = [job('a1', 'q1', 4, { admittedSeq: 1 }), job('a2', 'q1', 1, { admittedSeq: 2 }), job('b0', 'q2', 3, { admittedSeq: 3 })];
    const d = decide(queues, [job('b1', 'q2', 1)], admitted);
    expect(d.evict.map((e) => e.id)).toEqual(['a2']);
    expect(d.admit).toEqual(['b1']);
    const more = decide(queues, [job('b2', 'q2', 2)], [admitted[0]!, admitted[2]!]);
    expect(more.evict).toEqual([]);
    expect(more.waiting.get('b2')).toMatch(/^queue q2 at quota \(cpus 3\/4/);
  });

  test('evicts across several borrowing queues, youngest admission first, and no more than needed', () => {
    const three = [...queues, queue('q3', 4, { cohort: 'c' })];
    // q1 borrows 2 (6 of 4), q3 borrows 2 (6 of 4); q2 holds nothing and asks its 4 back.
    const admitted = [job('a1', 'q1', 4, { admittedSeq: 1 }), job('c1', 'q3', 4, { admittedSeq: 2 }), job('a2', 'q1', 2, { admittedSeq: 3 }), job('c2', 'q3', 2, { admittedSeq: 4 })];
    const d = decide(three, [job('b1', 'q2', 4)], admitted);
    expect(d.evict.map((e) => e.id)).toEqual(['c2', 'a2']);
    expect(d.admit).toEqual(['b1']);
    const half = decide(three, [job('b2', 'q2', 2)], admitted);
    expect(half.evict.map((e) => e.id)).toEqual(['c2']);
  });

  test('a job above its queue nominal quota never evicts: it may only borrow what is unused', () => {
    const admitted = [1, 2, 3, 4].map((i) => job(`a${i}`, 'q1', 2, { admittedSeq: i }));
    const d = decide(queues, [job('b1', 'q2', 6)], admitted);
    expect(d.evict).toEqual([]);
    expect(d.waiting.get('b1')).toMatch(/^queue q2 at quota \(cpus 0\/4/);
  });
});
