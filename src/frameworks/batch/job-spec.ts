/**
 * Batch job definitions (`berth batch submit job.yaml`): a queue, a gang of `tasks` tasks of one
 * `shape`, what they run, `retries` and a `deadlineSeconds`. Validated with zod (every problem with
 * its field and value), then {@link checkJobFits} refuses a gang that can never be admitted: larger
 * than the whole cluster, or than its queue may ever hold (nominal quota plus borrowing limit).
 */
import { z } from 'zod';
import { yaml } from '../../common/yaml';
import { describeValue, ValidationError, type Problem } from '../../common/wire/problems';
import { zodIssueProblems, zodMessage } from '../../common/wire/zod-problems';
import { amountOf, exceeding, formatUse, RESOURCE_NAMES, scale, type Amounts } from './quantities';
import { NAME_PATTERN, type QueueSpec } from './queue-spec';
import { queueCeiling } from './cohorts';

/** Most tasks in one gang. */
export const MAX_GANG_TASKS = 10_000;

const positive = z.number({ error: 'must be a number' }).refine((v) => Number.isFinite(v) && v > 0, { message: 'must be a finite number > 0' });
const nonNegative = z.number({ error: 'must be a number' }).refine((v) => Number.isFinite(v) && v >= 0, { message: 'must be a finite number >= 0' });
const wholeNumber = (min: number, max: number) => z.number({ error: 'must be a whole number' }).int({ message: `must be a whole number from ${min} to ${max}` }).min(min, { message: `must be a whole number from ${min} to ${max}` }).max(max, { message: `must be a whole number from ${min} to ${max}` });

const jobSchema = z.strictObject({
  name: z.string({ error: 'must be a string' }).regex(NAME_PATTERN, { message: 'must be 1-64 lowercase letters, digits and dashes' }).optional(),
  queue: z.string({ error: 'is required (a queue name)' }).regex(NAME_PATTERN, { message: 'must be a queue name' }),
  tasks: wholeNumber(1, MAX_GANG_TASKS),
  shape: z.strictObject({ cpus: positive.default(1), mem: positive.default(128), disk: nonNegative.default(0), gpus: wholeNumber(0, 1024).default(0) }).default({ cpus: 1, mem: 128, disk: 0, gpus: 0 }),
  image: z.string({ error: 'must be an image reference' }).min(1, { message: 'must not be empty' }).optional(),
  command: z.string({ error: 'is required (a shell command)' }).min(1, { message: 'must not be empty' }),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'is not a valid variable name' }), z.string({ error: 'must be a string' })).default({}),
  retries: wholeNumber(0, 100).default(0),
  deadlineSeconds: positive.optional(),
  priority: wholeNumber(-1_000_000, 1_000_000).default(0),
  /** One of the master's priority classes, for the job's gang and tasks (docs/preemption.md). Absent: the framework's. */
  priorityClass: z.string({ error: 'must be a priority class name' }).regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'must be a priority class name (1-64 letters, digits, _ . -)' }).optional(),
});

/** A validated batch job definition, defaults filled in. */
export type BatchJobSpec = z.output<typeof jobSchema>;

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/** @throws ValidationError naming every problem: `tasks: must be a whole number from 1 to 10000, got 0`. */
export function validateBatchJob(input: unknown, root = 'text'): BatchJobSpec {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw ValidationError.of(root, `must be a batch job (an object with queue, tasks and command), got ${describeValue(input)}`);
  const result = jobSchema.safeParse(input, { error: zodMessage });
  if (result.success) return result.data;
  const problems: Problem[] = result.error.issues.flatMap((issue) => zodIssueProblems(issue, input, { formatPath: pathText, root, unknownField: 'unknown field' }));
  throw new ValidationError(problems);
}

/** Parses a JSON or YAML batch job and validates it. */
export function parseBatchJob(text: string, root = 'text'): BatchJobSpec {
  let doc: unknown;
  try {
    doc = yaml().parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    throw ValidationError.of(root, `is not valid JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateBatchJob(doc, root);
}

/** What the whole gang asks for: the shape times the task count. */
export function gangDemand(spec: Pick<BatchJobSpec, 'tasks' | 'shape'>): Amounts {
  return scale(spec.shape, spec.tasks);
}

/** The cluster as submit sees it: its total, and the largest single agent's resources. */
export interface ClusterSize {
  readonly total: Amounts;
  readonly largestAgent: Amounts;
}

/**
 * Refuses a job that could never run: an unknown queue, a gang larger than the cluster's total or
 * a task larger than any agent, or a gang above what its queue may ever hold.
 *
 * @throws ValidationError with the numbers: `tasks: the gang needs cpus 64/16 ... (64 tasks of cpus 1)`.
 */
export function checkJobFits(spec: BatchJobSpec, queues: readonly QueueSpec[], cluster?: ClusterSize): void {
  const queue = queues.find((q) => q.name === spec.queue);
  if (queue === undefined) throw ValidationError.of('queue', `unknown queue ${describeValue(spec.queue)} (known: ${queues.map((q) => q.name).join(', ') || 'none; create one with berth queue apply'})`);
  const demand = gangDemand(spec);
  const problems: Problem[] = [];
  const shapeText = RESOURCE_NAMES.filter((r) => amountOf(spec.shape, r) > 0).map((r) => `${r} ${amountOf(spec.shape, r)}`).join(', ');
  if (cluster !== undefined) {
    const over = exceeding(demand, cluster.total);
    if (over.length > 0) problems.push({ field: 'tasks', message: `the gang is larger than the whole cluster: it needs ${formatUse(demand, cluster.total, over)} (${spec.tasks} tasks of ${shapeText}); lower tasks or the shape` });
    const tooBig = exceeding(spec.shape, cluster.largestAgent);
    if (tooBig.length > 0) problems.push({ field: 'shape', message: `one task needs more than any agent has: ${formatUse(spec.shape, cluster.largestAgent, tooBig)} (largest agent)` });
  }
  const ceiling = queueCeiling(queue, queues);
  const overQueue = exceeding(demand, ceiling);
  if (overQueue.length > 0) problems.push({ field: 'tasks', message: `the gang is larger than queue ${queue.name} can ever hold (nominal quota plus what it may borrow): it needs ${formatUse(demand, ceiling, overQueue)}` });
  if (problems.length > 0) throw new ValidationError(problems);
}
