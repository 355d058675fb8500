/**
 * Job definitions: the JSON/YAML document a user writes (`berth job add nightly.yaml`), validated with
 * zod into a normalised {@link JobSpec} (defaults filled in), plus the checks that need more than one
 * job at a time (dependencies: unknown parents, cycles).
 *
 * Field names are Metronome's where Metronome has the field (`run.maxLaunchDelaySeconds`,
 * `restart.activeDeadlineSeconds`, `schedules[].startingDeadlineSeconds`, `concurrencyPolicy`),
 * and every problem is reported with its path and the offending value, all at once:
 * `schedules[0].timezone: unknown IANA time zone, got "Mars/Olympus"; schedules[0].cron: invalid
 * cron expression: …`. Checks that zod would skip once a field is wrong (a cron in its time zone,
 * repeated schedule ids, cmd with args, self-dependencies) run on the raw input, so one wrong field
 * never hides another.
 */
import { z } from 'zod';
import { yaml } from '../../common/yaml';
import { describeValue, Problems, ValidationError, type Problem } from '../../common/wire/problems';
import { valueAt, zodIssueProblems, zodMessage } from '../../common/wire/zod-problems';
import { readConstraint, type Constraint } from '../sdk/constraints';
import { CronSchedule } from './cron';

/** Job ids: dot-separated parts of lowercase letters, digits and dashes (no leading/trailing dash). */
export const JOB_ID_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
/** Longest job id (task ids are `<job>.<run>.<attempt>` and must stay under 255 characters). */
export const MAX_JOB_ID_LENGTH = 128;
/** Schedule ids: lowercase letters, digits and dashes. */
export const SCHEDULE_ID_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Default seconds an attempt may wait for an offer (Metronome's `maxLaunchDelay`). */
export const DEFAULT_MAX_LAUNCH_DELAY_SECONDS = 3600;
/** Default seconds a scheduled run may start late (Metronome's `startingDeadlineSeconds`). */
export const DEFAULT_STARTING_DEADLINE_SECONDS = 900;

const positive = (what: string) => z.number({ error: `must be a number (${what})` }).refine((v) => Number.isFinite(v) && v > 0, { message: `must be a finite number > 0 (${what})` });
const nonNegative = (what: string) => z.number({ error: `must be a number (${what})` }).refine((v) => Number.isFinite(v) && v >= 0, { message: `must be a finite number >= 0 (${what})` });

const knownZones = new Set<string>();

/** Whether the runtime's ICU knows `tz` (an IANA name such as "Europe/Berlin", or "UTC"). */
function isTimeZone(tz: string): boolean {
  if (knownZones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    return false;
  }
  knownZones.add(tz);
  return true;
}

const scheduleSchema = z.strictObject({
  id: z.string({ error: 'is required (a string)' }).max(64, { message: 'must be at most 64 characters' }).regex(SCHEDULE_ID_PATTERN, { message: 'must be lowercase letters, digits and dashes' }),
  cron: z.string({ error: 'is required (a cron expression)' }).min(1, { message: 'is required (a cron expression)' }),
  timezone: z.string({ error: 'must be an IANA time zone name' }).default('UTC').refine(isTimeZone, { message: 'unknown IANA time zone' }),
  startingDeadlineSeconds: nonNegative('seconds').default(DEFAULT_STARTING_DEADLINE_SECONDS),
  concurrencyPolicy: z.enum(['ALLOW', 'FORBID'], { error: 'must be ALLOW or FORBID' }).default('ALLOW'),
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
});

/** A map of environment variable names to values. */
function variables() {
  return z
    .record(z.string(), z.string({ error: 'must be a string' }))
    .superRefine((env, ctx) => {
      for (const name of Object.keys(env)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid variable name (letters, digits and _, not starting with a digit)', params: { bare: true } });
      }
    })
    .default({});
}

const runSchema = z.strictObject({
  cmd: z.string({ error: 'must be a string' }).min(1, { message: 'must not be empty' }).optional(),
  args: z.array(z.string({ error: 'must be a string' })).default([]),
  docker: z
    .strictObject({
      image: z.string({ error: 'is required (an image reference)' }).min(1, { message: 'is required (an image reference)' }),
      forcePull: z.boolean({ error: 'must be true or false' }).default(false),
    })
    .optional(),
  cpus: positive('CPUs').default(1),
  mem: positive('MiB').default(128),
  disk: nonNegative('MiB').default(0),
  gpus: z.number({ error: 'must be a whole number >= 0' }).int({ message: 'must be a whole number >= 0' }).min(0, { message: 'must be a whole number >= 0' }).default(0),
  env: variables(),
  /** Like env, but the values are secrets: never returned by the API, never in logs or status messages. */
  secrets: variables(),
  // Checked by the SDK's constraint parser after the shape (see validateJobSpec).
  constraints: z.array(z.unknown()).default([]),
  maxLaunchDelaySeconds: positive('seconds').default(DEFAULT_MAX_LAUNCH_DELAY_SECONDS),
  restart: z
    .strictObject({
      policy: z.enum(['NEVER', 'ON_FAILURE'], { error: 'must be NEVER or ON_FAILURE' }).default('NEVER'),
      activeDeadlineSeconds: positive('seconds').optional(),
    })
    .default({ policy: 'NEVER' }),
  taskKillGracePeriodSeconds: nonNegative('seconds').optional(),
}, { error: 'is required (an object with cmd, args or docker)' });

const jobSchema = z.strictObject({
  id: z
    .string({ error: 'is required (a string)' })
    .max(MAX_JOB_ID_LENGTH, { message: `must be at most ${MAX_JOB_ID_LENGTH} characters` })
    .regex(JOB_ID_PATTERN, { message: 'must be dot-separated parts of lowercase letters, digits and dashes' }),
  description: z.string({ error: 'must be a string' }).default(''),
  labels: z.record(z.string().min(1, { message: 'label keys must not be empty' }), z.string({ error: 'must be a string' })).default({}),
  run: runSchema,
  schedules: z.array(scheduleSchema).default([]),
  dependencies: z.array(z.string({ error: 'must be a job id' }).regex(JOB_ID_PATTERN, { message: 'must be a job id' })).default([]),
});

/** A job's schedule, defaults filled in. */
export type ScheduleSpec = z.output<typeof scheduleSchema>;
/** What one run of a job executes, defaults filled in. */
export type RunSpec = Omit<z.output<typeof runSchema>, 'constraints'> & { readonly constraints: readonly Constraint[] };
/** A validated job definition, defaults filled in. */
export type JobSpec = Omit<z.output<typeof jobSchema>, 'run'> & { readonly run: RunSpec };

/** `run.constraints[0][2]` from a zod path. */
function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Validates a job definition (a parsed JSON/YAML object). `now` (epoch ms) is used to check that
 * each cron expression fires at least once in the future. `root` names the document itself in a
 * problem about its shape (`definition: must be an object …`).
 *
 * @throws ValidationError naming every problem: `run.cpus: must be a finite number > 0 (CPUs), got -1`.
 */
export function validateJobSpec(input: unknown, now: number, root = 'definition'): JobSpec {
  if (!isObject(input)) {
    throw ValidationError.of(root, `must be a job definition (an object with id and run), got ${describeValue(input)}`);
  }
  const result = jobSchema.safeParse(input, { error: zodMessage });
  const problems: Problem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(...zodIssueProblems(issue, input, { formatPath: pathText, root, unknownField: 'unknown field' }));
  }
  // Checked on the raw input: zod skips an object's refinements when one of its fields is wrong.
  const run = valueAt(input, ['run']);
  if (run !== null && typeof run === 'object' && !Array.isArray(run)) {
    const { cmd, args, docker } = run as Record<string, unknown>;
    const hasArgs = Array.isArray(args) && args.length > 0;
    if (cmd === undefined && !hasArgs && docker === undefined) problems.push({ field: 'run', message: 'needs cmd, args or docker.image' });
    if (cmd !== undefined && hasArgs) problems.push({ field: 'run.args', message: 'cmd and args are mutually exclusive (args run without a shell)' });
    const { env, secrets } = run as Record<string, unknown>;
    if (env !== null && typeof env === 'object' && secrets !== null && typeof secrets === 'object') {
      for (const name of Object.keys(secrets)) if (Object.hasOwn(env, name)) problems.push({ field: `run.secrets.${name}`, message: `"${name}" is in run.env too: a variable is either plain or secret` });
    }
  }
  // Constraints in any of the SDK's forms: ["rack", "LIKE", "r1"], "rack:LIKE:r1", {field, operator, value}.
  // Checked even when other fields are wrong, so that one answer lists every problem.
  const rawConstraints = valueAt(input, ['run', 'constraints']);
  const collector = new Problems();
  const constraints: Constraint[] = [];
  if (Array.isArray(rawConstraints)) {
    rawConstraints.forEach((c, i) => {
      const parsed = readConstraint(c, `run.constraints[${i}]`, collector);
      if (parsed !== undefined) constraints.push(parsed);
    });
  }
  problems.push(...collector.list);
  problems.push(...scheduleProblems(valueAt(input, ['schedules']), now), ...dependencyProblems(input));
  if (problems.length > 0) throw new ValidationError(problems);
  return { ...result.data!, run: { ...result.data!.run, constraints } };
}

/**
 * Repeated schedule ids, and each cron expression checked with croner in its time zone (in UTC,
 * for its syntax alone, when the zone is unknown: that is reported on its own), on the raw input.
 */
function scheduleProblems(schedules: unknown, now: number): Problem[] {
  if (!Array.isArray(schedules)) return [];
  const problems: Problem[] = [];
  const seen = new Set<string>();
  schedules.forEach((s: unknown, i) => {
    if (!isObject(s)) return;
    const { id, cron: expression, timezone } = s;
    if (typeof id === 'string' && seen.has(id)) problems.push({ field: `schedules[${i}].id`, message: `duplicate schedule id, got ${describeValue(id)}` });
    if (typeof id === 'string') seen.add(id);
    if (typeof expression !== 'string' || expression === '') return; // reported by the schema
    const zoneKnown = timezone === undefined || (typeof timezone === 'string' && isTimeZone(timezone));
    const cron = CronSchedule.tryCreate(expression, zoneKnown ? ((timezone as string | undefined) ?? 'UTC') : 'UTC');
    if (!cron.ok) problems.push({ field: `schedules[${i}].cron`, message: `${cron.message}, got ${describeValue(expression)}` });
    else if (zoneKnown && cron.schedule.next(now) === undefined) problems.push({ field: `schedules[${i}].cron`, message: `never fires, got ${describeValue(expression)}` });
  });
  return problems;
}

/** A job depending on itself, or on a parent twice, on the raw input. */
function dependencyProblems(input: Record<string, unknown>): Problem[] {
  const { id, dependencies } = input;
  if (!Array.isArray(dependencies)) return [];
  const problems: Problem[] = [];
  const seen = new Set<unknown>();
  dependencies.forEach((d: unknown, i) => {
    if (typeof d !== 'string') return;
    if (d === id) problems.push({ field: `dependencies[${i}]`, message: `a job cannot depend on itself, got ${describeValue(d)}` });
    if (seen.has(d)) problems.push({ field: `dependencies[${i}]`, message: `duplicate dependency, got ${describeValue(d)}` });
    seen.add(d);
  });
  return problems;
}

/**
 * Parses a JSON or YAML document (YAML is a superset of JSON) and validates it. `root` names the
 * text in a problem about the document as a whole (PutJob's field `text`).
 *
 * @throws ValidationError with the parse error (and its line) or every validation problem.
 */
export function parseJobSpec(text: string, now: number, root = 'text'): JobSpec {
  let doc: unknown;
  try {
    doc = yaml().parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    throw ValidationError.of(root, `is not valid JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateJobSpec(doc, now, root);
}

/**
 * Checks the dependency graph after putting `spec` among `jobs` (the jobs' specs by id; an entry
 * for `spec.id` itself is ignored): every parent must exist and the graph must stay acyclic. Only
 * the ancestors of `spec` are visited.
 *
 * @throws ValidationError naming the unknown parent (`dependencies[1]: unknown job, got "etl.load"`)
 *   or the cycle (`dependencies: would create the cycle a → b → a`).
 */
export function checkDependencies(spec: JobSpec, jobs: Pick<ReadonlyMap<string, { readonly dependencies: readonly string[] }>, 'get' | 'has'>): void {
  const problems: Problem[] = [];
  spec.dependencies.forEach((d, i) => {
    if (d !== spec.id && !jobs.has(d)) problems.push({ field: `dependencies[${i}]`, message: `unknown job, got ${describeValue(d)}` });
  });
  if (problems.length > 0) throw new ValidationError(problems);
  const parentsOf = (id: string): readonly string[] => (id === spec.id ? spec.dependencies : jobs.get(id)?.dependencies ?? []);
  // A cycle through the new spec is a path from one of its parents back to it: a DFS over parents.
  const path: string[] = [];
  const visited = new Set<string>();
  const reaches = (id: string): boolean => {
    if (id === spec.id) return true;
    if (visited.has(id)) return false;
    visited.add(id);
    path.push(id);
    for (const p of parentsOf(id)) if (reaches(p)) return true;
    path.pop();
    return false;
  };
  for (const parent of spec.dependencies) {
    path.length = 0;
    if (reaches(parent)) {
      // path: parent, grandparent, …, the last job whose parent is spec.id. Reads child → parent.
      const cycle = [spec.id, ...path, spec.id].join(' → ');
      throw ValidationError.of('dependencies', `would create a dependency cycle (job → parent): ${cycle}`);
    }
  }
}
