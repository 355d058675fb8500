/**
 * Queue definitions (`berth queue apply queues.yaml`): one queue object, or `{ queues: [...] }`,
 * validated with zod into {@link QueueSpec}s, plus the checks that need the whole set of queues and
 * the cluster's size ({@link checkQueueSet}). Every problem names its field and value, all at once.
 *
 * Cohorts are flat names, not objects: a cohort has no parent, so a cohort cycle cannot be written
 * (Kueue's nested cohorts are left out; see docs/batch.md).
 */
import { z } from 'zod';
import { yaml } from '../../common/yaml';
import { describeValue, ValidationError, type Problem } from '../../common/wire/problems';
import { zodIssueProblems, zodMessage } from '../../common/wire/zod-problems';
import { add, amountOf, formatAmounts, RESOURCE_NAMES, type Amounts } from './quantities';

/** Queue and cohort names: lowercase letters, digits and dashes. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/;

const amount = z.number({ error: 'must be a number' }).refine((v) => Number.isFinite(v) && v >= 0, { message: 'must be a finite number >= 0' });
const amountsSchema = z.strictObject({ cpus: amount.optional(), mem: amount.optional(), disk: amount.optional(), gpus: amount.optional() });
const name = (what: string) => z.string({ error: `is required (a ${what} name)` }).regex(NAME_PATTERN, { message: 'must be 1-64 lowercase letters, digits and dashes' });

const queueSchema = z.strictObject({
  name: name('queue'),
  cohort: name('cohort').optional(),
  nominalQuota: amountsSchema,
  borrowingLimit: amountsSchema.optional(),
  weight: z.number({ error: 'must be a number' }).refine((v) => Number.isFinite(v) && v > 0, { message: 'must be a finite number > 0' }).default(1),
});

/** A validated queue: `borrowingLimit` undefined means "whatever the cohort has unused". */
export interface QueueSpec {
  readonly name: string;
  readonly cohort?: string;
  readonly nominalQuota: Amounts;
  readonly borrowingLimit?: Amounts;
  readonly weight: number;
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Validates a queue document: one queue, or `{ queues: [...] }`. Fields in problems are prefixed
 * `queues[i].` in the list form.
 *
 * @throws ValidationError naming every problem.
 */
export function validateQueues(input: unknown, root = 'text'): QueueSpec[] {
  const list = isObject(input) && 'queues' in input ? input.queues : [input];
  const prefix = isObject(input) && 'queues' in input ? 'queues' : '';
  if (isObject(input) && 'queues' in input && Object.keys(input).length > 1) {
    throw ValidationError.of(Object.keys(input).find((k) => k !== 'queues')!, 'unknown field (a queue document is one queue or { queues: [...] })');
  }
  if (!Array.isArray(list) || list.length === 0) throw ValidationError.of(prefix || root, `must be a non-empty list of queues, got ${describeValue(list)}`);
  const problems: Problem[] = [];
  const out: QueueSpec[] = [];
  list.forEach((q, i) => {
    const at = prefix === '' ? [] : [prefix, i];
    if (!isObject(q)) {
      problems.push({ field: pathText(at) || root, message: `must be a queue (an object with name and nominalQuota), got ${describeValue(q)}` });
      return;
    }
    const result = queueSchema.safeParse(q, { error: zodMessage });
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(...zodIssueProblems({ ...issue, path: [...at, ...issue.path] }, prefix === '' ? q : { [prefix]: list }, { formatPath: pathText, root, unknownField: 'unknown field' }));
      return;
    }
    const { borrowingLimit, cohort, ...rest } = result.data;
    if (borrowingLimit !== undefined && cohort === undefined) problems.push({ field: pathText([...at, 'borrowingLimit']), message: 'needs a cohort (a queue borrows only from the other queues of its cohort)' });
    out.push({ ...rest, ...(cohort !== undefined ? { cohort } : {}), ...(borrowingLimit !== undefined ? { borrowingLimit } : {}) });
  });
  if (problems.length > 0) throw new ValidationError(problems);
  return out;
}

/** Parses a JSON or YAML queue document and validates it. */
export function parseQueues(text: string, root = 'text'): QueueSpec[] {
  let doc: unknown;
  try {
    doc = yaml().parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    throw ValidationError.of(root, `is not valid JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateQueues(doc, root);
}

/**
 * Checks the queues as a whole (the stored ones with `applied` put over them), and returns that set:
 * - a name applied twice;
 * - a queue whose name is also a cohort's (cohorts are flat; a cohort is never a queue);
 * - a borrowing limit above what the cohort's other queues can lend (their nominal quotas' sum);
 * - a queue whose nominal quota is above the cluster's total, or a cohort whose queues' nominal
 *   quotas add up to more than the cluster has (nominal quota is a guarantee: it must exist).
 *   `cluster` undefined (not known yet) skips this check.
 *
 * @throws ValidationError naming the field (`queues[1].borrowingLimit.cpus`) and the numbers.
 */
export function checkQueueSet(stored: readonly QueueSpec[], applied: readonly QueueSpec[], cluster?: Amounts): QueueSpec[] {
  const problems: Problem[] = [];
  const field = (q: QueueSpec, rest: string) => {
    const i = applied.indexOf(q);
    return i < 0 ? `queue ${q.name}: ${rest}` : applied.length === 1 ? rest : `queues[${i}].${rest}`;
  };
  const seen = new Set<string>();
  for (const [i, q] of applied.entries()) {
    if (seen.has(q.name)) problems.push({ field: applied.length === 1 ? 'name' : `queues[${i}].name`, message: `is applied twice, got ${describeValue(q.name)}` });
    seen.add(q.name);
  }
  const byName = new Map(stored.map((q) => [q.name, q]));
  for (const q of applied) byName.set(q.name, q);
  const all = [...byName.values()];
  const cohorts = new Set(all.flatMap((q) => (q.cohort === undefined ? [] : [q.cohort])));
  for (const q of all) {
    if (cohorts.has(q.name)) problems.push({ field: field(q, 'name'), message: `${describeValue(q.name)} is also a cohort's name; cohorts are flat names and never queues (use another name)` });
    if (q.borrowingLimit === undefined || q.cohort === undefined) continue;
    const siblings = all.filter((s) => s.cohort === q.cohort && s !== q);
    const lendable = siblings.reduce<Amounts>((sum, s) => add(sum, s.nominalQuota), {});
    for (const r of RESOURCE_NAMES) {
      const limit = amountOf(q.borrowingLimit, r);
      if (limit > amountOf(lendable, r)) {
        const who = siblings.length === 0 ? 'it is alone in its cohort' : siblings.map((s) => `${s.name} ${amountOf(s.nominalQuota, r)}`).join(', ');
        problems.push({ field: field(q, `borrowingLimit.${r}`), message: `${limit} is more than cohort ${q.cohort} can lend (${r} ${amountOf(lendable, r)}: ${who})` });
      }
    }
  }
  if (cluster !== undefined) {
    for (const q of applied) {
      for (const r of RESOURCE_NAMES) {
        if (amountOf(q.nominalQuota, r) > amountOf(cluster, r)) problems.push({ field: field(q, `nominalQuota.${r}`), message: `${amountOf(q.nominalQuota, r)} is more than the whole cluster has (${r} ${amountOf(cluster, r)})` });
      }
    }
    for (const c of cohorts) {
      const members = all.filter((q) => q.cohort === c);
      if (!members.some((q) => applied.includes(q))) continue;
      const total = members.reduce<Amounts>((sum, q) => add(sum, q.nominalQuota), {});
      for (const r of RESOURCE_NAMES) {
        if (amountOf(total, r) > amountOf(cluster, r) && members.every((q) => amountOf(q.nominalQuota, r) <= amountOf(cluster, r))) {
          problems.push({ field: `cohort ${c}`, message: `its queues' nominal quotas add up to ${r} ${amountOf(total, r)} (${members.map((q) => `${q.name} ${amountOf(q.nominalQuota, r)}`).join(', ')}), more than the cluster has (${formatAmounts(cluster)}); lower a nominal quota` });
        }
      }
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return all;
}
