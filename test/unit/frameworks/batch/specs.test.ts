/**
 * The batch framework's input layer: queue documents (one queue or `{ queues: [...] }`), the checks
 * over the whole set of queues (borrowing limits, cluster totals, names), and batch job definitions
 * with the refusal of gangs that could never be admitted — each problem naming its field and value.
 */
import { checkJobFits, gangDemand, parseBatchJob, validateBatchJob } from '../../../../src/frameworks/batch/job-spec';
import { checkQueueSet, parseQueues, validateQueues, type QueueSpec } from '../../../../src/frameworks/batch/queue-spec';
import type { ValidationError } from '../../../../src/common/wire/problems';

function problems(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    return [...(e as ValidationError).problems];
  }
  throw new Error('expected a ValidationError');
}

describe('queue documents', () => {
  test('one queue or a list, with defaults', () => {
    expect(parseQueues('name: q1\nnominalQuota: { cpus: 4, mem: 4096 }\n')).toEqual([{ name: 'q1', nominalQuota: { cpus: 4, mem: 4096 }, weight: 1 }]);
    const list = parseQueues(JSON.stringify({ queues: [{ name: 'a', cohort: 'c', nominalQuota: { cpus: 1 }, borrowingLimit: { cpus: 1 }, weight: 2 }, { name: 'b', cohort: 'c', nominalQuota: { cpus: 1 } }] }));
    expect(list.map((q) => [q.name, q.cohort, q.weight, q.borrowingLimit])).toEqual([['a', 'c', 2, { cpus: 1 }], ['b', 'c', 1, undefined]]);
  });

  test('unknown fields, negative quotas, bad names and weights are named with their values', () => {
    const found = problems(() => validateQueues({ queues: [{ name: 'Q!', nominalQuota: { cpus: -1, ports: 3 }, weight: 0, colour: 'red' }] }));
    const fields = found.map((p) => p.field).sort();
    expect(fields).toEqual(expect.arrayContaining(['queues[0].name', 'queues[0].nominalQuota.cpus', 'queues[0].weight']));
    expect(found.find((p) => p.field === 'queues[0].nominalQuota.cpus')!.message).toContain('-1');
    expect(found.some((p) => /colour/.test(`${p.field} ${p.message}`))).toBe(true);
    expect(found.some((p) => /ports/.test(`${p.field} ${p.message}`))).toBe(true);
  });

  test('a borrowing limit needs a cohort; an empty list and a stray top-level field are refused', () => {
    expect(problems(() => validateQueues({ name: 'q', nominalQuota: {}, borrowingLimit: { cpus: 1 } }))).toEqual([{ field: 'borrowingLimit', message: 'needs a cohort (a queue borrows only from the other queues of its cohort)' }]);
    expect(problems(() => validateQueues({ queues: [] }))[0]!.field).toBe('queues');
    expect(problems(() => validateQueues({ queues: [], extra: 1 }))[0]!.field).toBe('extra');
    expect(problems(() => parseQueues('{ not yaml: ['))[0]!.message).toMatch(/^is not valid JSON or YAML/);
  });
});

describe('the set of queues', () => {
  const q = (name: string, cpus: number, extra: Partial<QueueSpec> = {}): QueueSpec => ({ name, nominalQuota: { cpus }, weight: 1, ...extra });

  test('a borrowing limit above what the cohort can lend names the siblings and their quotas', () => {
    const found = problems(() => checkQueueSet([q('b', 2, { cohort: 'c' })], [q('a', 2, { cohort: 'c', borrowingLimit: { cpus: 3 } })]));
    expect(found).toEqual([{ field: 'borrowingLimit.cpus', message: '3 is more than cohort c can lend (cpus 2: b 2)' }]);
  });

  test('nominal quotas above the cluster, alone or added up in a cohort, are refused with the numbers', () => {
    expect(problems(() => checkQueueSet([], [q('a', 9)], { cpus: 8 }))).toEqual([{ field: 'nominalQuota.cpus', message: '9 is more than the whole cluster has (cpus 8)' }]);
    const cohort = problems(() => checkQueueSet([q('a', 5, { cohort: 'c' })], [q('b', 5, { cohort: 'c' })], { cpus: 8, mem: 100 }));
    expect(cohort).toEqual([{ field: 'cohort c', message: "its queues' nominal quotas add up to cpus 10 (a 5, b 5), more than the cluster has (cpus 8, mem 100); lower a nominal quota" }]);
  });

  test('a queue named like a cohort and a name applied twice are refused; cohorts cannot nest', () => {
    const found = problems(() => checkQueueSet([q('c', 1)], [q('a', 1, { cohort: 'c' }), q('a', 1, { cohort: 'c' })]));
    expect(found.map((p) => p.field)).toEqual(['queues[1].name', 'queue c: name']);
  });

  test('an update replaces the stored queue of that name', () => {
    const all = checkQueueSet([q('a', 1), q('b', 1)], [q('a', 3)]);
    expect(all.map((x) => [x.name, x.nominalQuota.cpus])).toEqual([['a', 3], ['b', 1]]);
  });
});

describe('batch jobs', () => {
  const queues: QueueSpec[] = [
    { name: 'q1', cohort: 'c', nominalQuota: { cpus: 4, mem: 4096 }, weight: 1 },
    { name: 'q2', cohort: 'c', nominalQuota: { cpus: 4, mem: 4096 }, weight: 1 },
  ];
  const cluster = { total: { cpus: 8, mem: 8192 }, largestAgent: { cpus: 4, mem: 4096 } };

  test('defaults: shape cpus 1 / mem 128, no retries, priority 0', () => {
    const job = parseBatchJob('queue: q1\ntasks: 3\ncommand: echo hi\n');
    expect(job).toEqual({ queue: 'q1', tasks: 3, command: 'echo hi', shape: { cpus: 1, mem: 128, disk: 0, gpus: 0 }, env: {}, retries: 0, priority: 0 });
    expect(gangDemand(job)).toEqual({ cpus: 3, mem: 384 });
  });

  test('every bad field is named with its value', () => {
    const found = problems(() => validateBatchJob({ queue: 'q1', tasks: 0, command: '', retries: -1, deadlineSeconds: 0, shape: { cpus: 1, ram: 2 }, extra: true }));
    const fields = found.map((p) => p.field);
    expect(fields).toEqual(expect.arrayContaining(['tasks', 'command', 'retries', 'deadlineSeconds']));
    expect(found.find((p) => p.field === 'tasks')!.message).toBe('must be a whole number from 1 to 10000, got 0');
    expect(found.some((p) => /ram/.test(`${p.field} ${p.message}`))).toBe(true);
    expect(found.some((p) => /extra/.test(`${p.field} ${p.message}`))).toBe(true);
    expect(problems(() => validateBatchJob([]))[0]!.message).toMatch(/^must be a batch job/);
  });

  test('a gang larger than the whole cluster is refused at submit with the numbers', () => {
    const job = validateBatchJob({ queue: 'q1', tasks: 10, shape: { cpus: 1, mem: 128 }, command: 'x' });
    const found = problems(() => checkJobFits(job, queues, cluster));
    expect(found[0]).toEqual({ field: 'tasks', message: 'the gang is larger than the whole cluster: it needs cpus 10/8 (10 tasks of cpus 1, mem 128); lower tasks or the shape' });
    expect(found[1]!.message).toContain('larger than queue q1 can ever hold');
  });

  test('a task larger than any agent, an unknown queue and a gang above the queue ceiling are refused', () => {
    expect(problems(() => checkJobFits(validateBatchJob({ queue: 'q1', tasks: 1, shape: { cpus: 6, mem: 128 }, command: 'x' }), queues, cluster))).toEqual([{ field: 'shape', message: 'one task needs more than any agent has: cpus 6/4 (largest agent)' }]);
    expect(problems(() => checkJobFits(validateBatchJob({ queue: 'nope', tasks: 1, command: 'x' }), queues, cluster))[0]).toEqual({ field: 'queue', message: 'unknown queue "nope" (known: q1, q2)' });
    const solo: QueueSpec[] = [{ name: 'q1', nominalQuota: { cpus: 2, mem: 4096 }, weight: 1 }];
    expect(problems(() => checkJobFits(validateBatchJob({ queue: 'q1', tasks: 3, command: 'x' }), solo))).toEqual([{ field: 'tasks', message: 'the gang is larger than queue q1 can ever hold (nominal quota plus what it may borrow): it needs cpus 3/2' }]);
  });
});
