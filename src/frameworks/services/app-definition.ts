/**
 * App definitions: Marathon-style JSON or YAML → a validated, normalised {@link AppDefinition}.
 *
 * Every problem is reported at once, each naming the field path and the bad value, e.g.
 * `instances: must be an integer >= 0, got -1` or `healthChecks[0].portIndex: must be less than the
 * number of portDefinitions (1), got 2`. Unknown fields are errors (a typo such as `instance` must not
 * silently deploy one instance). Defaults are Marathon's unless noted. The checks between fields
 * (cmd or args or an image, ports named by health and readiness checks, …) run even when other
 * fields are wrong, on the fields that are right, so one wrong field never hides another problem.
 */
import { yaml } from '../../common/yaml';
import { z } from 'zod';
import { describeValue, Problems, ValidationError } from '../../common/wire/problems';
import { zodIssueProblems, zodMessage } from '../../common/wire/zod-problems';
import { readConstraint, type Constraint } from '../sdk/constraints';

/** One path segment of an app id: lowercase letters, digits and inner dashes (no dots: task ids use them). */
const SEGMENT = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** Longest app id (a task id adds `.` and a 36-character UUID and must stay within 255). */
export const MAX_APP_ID_LENGTH = 200;
/**
 * Most instances an app may have: counts go on the wire as uint32, and one app of more would be far
 * beyond what the framework is built (and tested) for.
 */
export const MAX_INSTANCES = 100_000;

/** A deployment without progress for this long fails (`progressDeadlineSeconds` when absent). */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
/** `minReadySeconds` when absent: a task that dies within this of starting does not finish a deployment. */
export const DEFAULT_MIN_READY_SECONDS = 3;

/** How long a task must stay healthy before it counts towards finishing a deployment, in ms. */
export function minReadyMs(def: Pick<AppDefinition, 'minReadySeconds'>): number {
  return (def.minReadySeconds ?? DEFAULT_MIN_READY_SECONDS) * 1000;
}

const HEALTH_PROTOCOLS = ['HTTP', 'HTTPS', 'TCP', 'COMMAND', 'MESOS_HTTP', 'MESOS_HTTPS', 'MESOS_TCP'] as const;
const KILL_SELECTIONS = ['YOUNGEST_FIRST', 'OLDEST_FIRST'] as const;

function intField(min: number, max = Number.MAX_SAFE_INTEGER) {
  const msg = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  return z.number({ error: (iss) => (iss.input === undefined ? 'is required' : msg) }).int({ error: msg }).min(min, { error: msg }).max(max, { error: msg });
}

const INSTANCES_MSG = 'must be an integer >= 0';
const INSTANCES_MAX_MSG = `must be at most ${MAX_INSTANCES}, the most instances an app may have`;

/** `instances`: an integer from 0 to {@link MAX_INSTANCES}; one problem per bad value, naming the limit when above it. */
function instancesField() {
  return z.number({ error: (iss) => (iss.input === undefined ? 'is required' : INSTANCES_MSG) })
    .int({ error: INSTANCES_MSG, abort: true })
    .min(0, { error: INSTANCES_MSG, abort: true })
    .max(MAX_INSTANCES, { error: INSTANCES_MAX_MSG });
}

/** What is wrong with `n` as a number of instances (as in a definition, bad value included), or undefined. */
export function instancesProblem(n: unknown): string | undefined {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return `${INSTANCES_MSG}, got ${describeValue(n)}`;
  if (n > MAX_INSTANCES) return `${INSTANCES_MAX_MSG}, got ${n}`;
  return undefined;
}

function numberField(min: number, opts: { max?: number; exclusiveMin?: boolean } = {}) {
  const lower = opts.exclusiveMin ? `> ${min}` : `>= ${min}`;
  const msg = opts.max === undefined ? `must be a number ${lower}` : `must be a number from ${min} to ${opts.max}`;
  let n = z.number({ error: (iss) => (iss.input === undefined ? 'is required' : msg) });
  n = opts.exclusiveMin ? n.gt(min, { error: msg }) : n.min(min, { error: msg });
  if (opts.max !== undefined) n = n.max(opts.max, { error: msg });
  return n;
}

const nonEmpty = (what: string) => z.string().min(1, { error: `must be a non-empty ${what}` });
const stringMap = z.record(z.string(), z.string());

const portDefinition = z.strictObject({
  port: intField(0, 65535).default(0),
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: 'must be lowercase letters, digits and inner dashes' }).optional(),
  protocol: z.enum(['tcp', 'udp', 'udp,tcp'], { error: 'must be one of "tcp", "udp", "udp,tcp"' }).default('tcp'),
  labels: stringMap.default({}),
});

const healthCheck = z.strictObject({
  protocol: z.enum(HEALTH_PROTOCOLS, { error: `must be one of ${HEALTH_PROTOCOLS.join(', ')}` }).default('HTTP'),
  path: z.string().startsWith('/', { error: 'must start with "/"' }).default('/'),
  portIndex: intField(0).optional(),
  command: z.strictObject({ value: nonEmpty('command line') }).optional(),
  gracePeriodSeconds: numberField(0).default(300),
  intervalSeconds: numberField(0, { exclusiveMin: true }).default(60),
  timeoutSeconds: numberField(0, { exclusiveMin: true }).default(20),
  maxConsecutiveFailures: intField(1).default(3),
  /** Berth's addition: seconds before the first check (the agent's default, 15, when absent). */
  delaySeconds: numberField(0).optional(),
});

const readinessCheck = z.strictObject({
  name: nonEmpty('name').default('readinessCheck'),
  protocol: z.enum(['HTTP', 'HTTPS'], { error: 'must be "HTTP" or "HTTPS"' }).default('HTTP'),
  path: z.string().startsWith('/', { error: 'must start with "/"' }).default('/'),
  portIndex: intField(0).optional(),
  portName: z.string().optional(),
  intervalSeconds: numberField(0, { exclusiveMin: true }).default(30),
  timeoutSeconds: numberField(0, { exclusiveMin: true }).default(10),
  httpStatusCodesForReady: z.array(intField(100, 599)).min(1, { error: 'must list at least one status code' }).default([200]),
  preserveLastResponse: z.boolean().default(false),
});

const COUNT_OR_PERCENT_MSG = 'must be a count (an integer >= 0) or a percentage from "0%" to "100%"';

/** Whether `v` is a count (an integer >= 0) or a whole percentage "0%"…"100%" (Kubernetes' IntOrString). */
function isCountOrPercent(v: unknown): v is number | string {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0;
  return typeof v === 'string' && /^\d{1,3}%$/.test(v) && Number(v.slice(0, -1)) <= 100;
}

const countOrPercent = () => z.custom<number | string>(isCountOrPercent, { error: COUNT_OR_PERCENT_MSG });

/**
 * Marathon's fractions, or Kubernetes' counts (validated together in {@link upgradeStrategyProblems},
 * normalised to one of the two forms of {@link UpgradeStrategy}).
 */
const upgradeStrategy = z.strictObject({
  minimumHealthCapacity: numberField(0, { max: 1 }).optional(),
  maximumOverCapacity: numberField(0, { max: 1 }).optional(),
  maxUnavailable: countOrPercent().optional(),
  maxSurge: countOrPercent().optional(),
});

/**
 * How a deployment replaces tasks: Marathon's fractions of `instances` (the minimum kept healthy,
 * rounded up; the most on top, rounded down), or Kubernetes' `maxUnavailable` / `maxSurge` — a count,
 * or a percentage of `instances` (maxUnavailable rounded down, maxSurge up). A definition gives one
 * style or the other; the defaults of either are the same bounds: nothing unavailable, up to twice
 * the instances (`minimumHealthCapacity: 1, maximumOverCapacity: 1` ≡ `maxUnavailable: 0, maxSurge: "100%"`).
 */
export type UpgradeStrategy =
  | { readonly minimumHealthCapacity: number; readonly maximumOverCapacity: number }
  | { readonly maxUnavailable: number | string; readonly maxSurge: number | string };

const unreachableStrategy = z.preprocess(
  (v) => (v === 'disabled' ? { disabled: true } : v),
  z.strictObject({
    disabled: z.boolean().default(false),
    inactiveAfterSeconds: numberField(0).default(300),
    expungeAfterSeconds: numberField(0).default(600),
  }, { error: (iss) => (iss.code === 'invalid_type' ? 'must be "disabled" or {inactiveAfterSeconds, expungeAfterSeconds}' : undefined) }),
);

const schema = z.strictObject({
  id: z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') }),
  cmd: nonEmpty('command line').optional(),
  args: z.array(z.string()).min(1, { error: 'must not be empty when given' }).optional(),
  container: z.strictObject({
    type: z.enum(['DOCKER', 'MESOS'], { error: 'must be "DOCKER" or "MESOS"' }).optional(),
    docker: z.strictObject({
      image: nonEmpty('image reference'),
      forcePullImage: z.boolean().default(false),
      privileged: z.boolean().default(false),
      parameters: z.array(z.strictObject({ key: nonEmpty('key'), value: z.string() })).default([]),
    }).optional(),
  }).optional(),
  instances: instancesField().default(1),
  cpus: numberField(0.001).default(1),
  mem: numberField(0).default(128),
  disk: numberField(0).default(0),
  gpus: intField(0).default(0),
  env: stringMap.default({}),
  secrets: stringMap.default({}),
  portDefinitions: z.array(portDefinition).default([]),
  requirePorts: z.boolean().default(false),
  labels: stringMap.default({}),
  role: nonEmpty('role name').optional(),
  constraints: z.array(z.unknown()).default([]),
  healthChecks: z.array(healthCheck).max(1, { error: 'at most one health check is supported' }).default([]),
  readinessChecks: z.array(readinessCheck).max(1, { error: 'at most one readiness check is supported' }).default([]),
  taskKillGracePeriodSeconds: numberField(0).optional(),
  backoffSeconds: numberField(0).default(1),
  backoffFactor: numberField(1).default(1.15),
  maxLaunchDelaySeconds: numberField(0).default(300),
  killSelection: z.enum(KILL_SELECTIONS, { error: `must be one of ${KILL_SELECTIONS.join(', ')}` }).default('YOUNGEST_FIRST'),
  unreachableStrategy: unreachableStrategy.default({ disabled: false, inactiveAfterSeconds: 300, expungeAfterSeconds: 600 }),
  upgradeStrategy: upgradeStrategy.default({}),
  progressDeadlineSeconds: numberField(0, { exclusiveMin: true }).default(DEFAULT_PROGRESS_DEADLINE_SECONDS),
  /**
   * Berth's addition (Kubernetes' minReadySeconds): a task counts towards finishing a deployment only
   * once it has been running — healthy and ready where checks are defined — this long in a row.
   * Absent: {@link DEFAULT_MIN_READY_SECONDS} (kept absent, so definitions stored before it stay equal).
   */
  minReadySeconds: numberField(0, { max: 3600 }).optional(),
  /** Berth's addition: one of the master's priority classes for the app's tasks (docs/preemption.md). Absent: the framework's. */
  priorityClass: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be a priority class name (1-64 letters, digits, _ . -)' }).optional(),
  /**
   * Berth's addition: how many of the app's instances preemption may take down at once (the
   * TaskInfo.disruption_budget of every task). Absent: preemption may take any.
   */
  disruptionBudget: z.strictObject({ maxUnavailable: intField(0) }).optional(),
});

type Parsed = z.output<typeof schema>;

/** A validated app definition with every default filled in. Constraints in Marathon's array form. */
export type AppDefinition = Omit<Parsed, 'constraints' | 'upgradeStrategy'> & {
  readonly constraints: readonly (readonly string[])[];
  readonly upgradeStrategy: UpgradeStrategy;
};
export type HealthCheckDefinition = AppDefinition['healthChecks'][number];
export type ReadinessCheckDefinition = AppDefinition['readinessChecks'][number];
export type KillSelection = AppDefinition['killSelection'];

/** What the framework allows, checked along with the definition. */
export interface DefinitionOptions {
  /** The framework's roles; an app's `role` must be one of them. Absent: any role. */
  readonly roles?: readonly string[];
}

/** Normalises an app id (`web` → `/web`, `/a/b/` → `/a/b`) or says why it is not one. */
export function normalizeAppId(id: string): { ok: true; id: string } | { ok: false; problem: string } {
  const trimmed = id.trim();
  const withSlash = trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
  const path = withSlash.length > 1 && withSlash.endsWith('/') ? withSlash.slice(0, -1) : withSlash;
  const segments = path.slice(1).split('/');
  if (path === '/' || segments.some((s) => !SEGMENT.test(s))) {
    return { ok: false, problem: `must be a path like "/group/app" of lowercase letters, digits and inner dashes, got ${describeValue(id)}` };
  }
  if (path.length > MAX_APP_ID_LENGTH) return { ok: false, problem: `must have at most ${MAX_APP_ID_LENGTH} characters, got ${path.length}` };
  return { ok: true, id: path };
}

/** The app id with dots for slashes, without the leading one: `/group/app` → `group.app` (task ids, store keys). */
export function appKey(appId: string): string {
  return appId.slice(1).split('/').join('.');
}

/** The app id a task id belongs to (`group.app.<uuid>` → `/group/app`), if it looks like one of ours. */
export function appIdOfTask(taskId: string): string | undefined {
  const dot = taskId.lastIndexOf('.');
  if (dot <= 0) return undefined;
  return `/${taskId.slice(0, dot).split('.').join('/')}`;
}

/** Parses JSON or YAML text (JSON when it starts with `{`). */
export function parseAppDefinitionText(text: string, opts: DefinitionOptions = {}): AppDefinition {
  let raw: unknown;
  const trimmed = text.trim();
  if (trimmed === '') throw ValidationError.of('definition', 'must be a JSON or YAML app definition, got an empty text');
  try {
    raw = trimmed.startsWith('{') ? JSON.parse(trimmed) : yaml().parse(trimmed, { uniqueKeys: true });
  } catch (e) {
    throw ValidationError.of('definition', `is not valid ${trimmed.startsWith('{') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseAppDefinition(raw, opts);
}

/**
 * Validates a plain object (parsed JSON/YAML, or converted from the wire message).
 * @throws ValidationError with every problem, each `path: what, got value`.
 */
export function parseAppDefinition(input: unknown, opts: DefinitionOptions = {}): AppDefinition {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw ValidationError.of('definition', `must be an object, got ${describeValue(input)}`);
  }
  const problems = new Problems();
  const result = schema.safeParse(input, { error: zodMessage });
  if (!result.success) {
    for (const issue of result.error.issues) problems.addAll(zodIssueProblems(issue, input, { formatPath, root: 'definition', unknownField: 'is not a known field' }));
  }
  const raw = input as Record<string, unknown>;
  const constraints: string[][] = [];
  if (Array.isArray(raw.constraints)) {
    raw.constraints.forEach((c, i) => {
      const parsed = readConstraint(c, `constraints[${i}]`, problems);
      if (parsed !== undefined) constraints.push(constraintArray(parsed));
    });
  }
  let id: string | undefined;
  if (typeof raw.id === 'string') {
    const n = normalizeAppId(raw.id);
    if (n.ok) id = n.id;
    else problems.add('id', n.problem);
  }
  if (result.success) crossFieldProblems(result.data, opts, problems, () => true);
  else crossFieldProblemsOfTheValidFields(input as Record<string, unknown>, result.error.issues, opts, problems);
  problems.throwIfAny();
  const data = result.data!;
  return {
    ...data, id: id!, constraints, env: sortedRecord(data.env), secrets: sortedRecord(data.secrets), labels: sortedRecord(data.labels),
    upgradeStrategy: normalUpgradeStrategy(data.upgradeStrategy),
  };
}

/** The one style given, with the other field of that style defaulted (see {@link UpgradeStrategy}). */
function normalUpgradeStrategy(s: Parsed['upgradeStrategy']): UpgradeStrategy {
  if (s.maxUnavailable !== undefined || s.maxSurge !== undefined) return { maxUnavailable: s.maxUnavailable ?? 0, maxSurge: s.maxSurge ?? '100%' };
  return { minimumHealthCapacity: s.minimumHealthCapacity ?? 1, maximumOverCapacity: s.maximumOverCapacity ?? 1 };
}

/** One style at a time; not both of Kubernetes' bounds zero (nothing could ever be replaced). */
function upgradeStrategyProblems(s: Parsed['upgradeStrategy'], problems: Problems): void {
  const fractions = (['minimumHealthCapacity', 'maximumOverCapacity'] as const).filter((f) => s[f] !== undefined);
  const counts = (['maxUnavailable', 'maxSurge'] as const).filter((f) => s[f] !== undefined);
  if (fractions.length > 0 && counts.length > 0) {
    problems.add(`upgradeStrategy.${counts[0]}`, `must not be given together with upgradeStrategy.${fractions[0]}: use Marathon's fractions (minimumHealthCapacity, maximumOverCapacity) or Kubernetes' counts (maxUnavailable, maxSurge), not both`);
    return;
  }
  const zero = (v: number | string | undefined): boolean => v === 0 || v === '0%';
  if (counts.length > 0 && zero(s.maxUnavailable ?? 0) && zero(s.maxSurge ?? '100%')) {
    problems.add('upgradeStrategy.maxUnavailable', `must not be 0 when maxSurge is 0 too (nothing could be replaced), got ${describeValue(s.maxUnavailable ?? 0)}${s.maxUnavailable === undefined ? ' (the default)' : ''}; allow one unavailable (maxUnavailable: 1) or one extra (maxSurge: 1)`);
  }
}

function constraintArray(c: Constraint): string[] {
  return c.value === undefined ? [c.field, c.operator] : [c.field, c.operator, c.value];
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The checks between fields when the schema failed: the definition without its wrong (and unknown)
 * fields is parsed again, defaults filling the gaps, and each check runs only if none of the fields
 * it reads was wrong (a default in place of a wrong field would make up problems).
 */
function crossFieldProblemsOfTheValidFields(raw: Record<string, unknown>, issues: readonly z.core.$ZodIssue[], opts: DefinitionOptions, problems: Problems): void {
  if (issues.some((i) => i.path.length === 0 && i.code !== 'unrecognized_keys')) return;
  const wrong = new Set(issues.filter((i) => i.path.length > 0).map((i) => String(i.path[0])));
  const kept = Object.fromEntries(Object.entries(raw).filter(([k]) => Object.hasOwn(schema.shape, k) && !wrong.has(k)));
  const again = schema.safeParse({ ...kept, id: '/placeholder' }); // the id is checked on its own
  if (!again.success) return;
  crossFieldProblems(again.data, opts, problems, (...fields) => fields.every((f) => !wrong.has(f)));
}

/** The checks between fields; `valid(a, b)` says whether fields a and b were valid as given. */
function crossFieldProblems(d: Parsed, opts: DefinitionOptions, problems: Problems, valid: (...fields: (keyof Parsed)[]) => boolean): void {
  const image = d.container?.docker?.image;
  if (valid('cmd', 'args', 'container') && d.cmd === undefined && d.args === undefined && image === undefined) {
    problems.add('cmd', 'an app needs cmd, args or container.docker.image, got none of them');
  }
  if (valid('cmd', 'args') && d.cmd !== undefined && d.args !== undefined) problems.add('args', 'must not be given together with cmd');
  if (valid('container') && d.container !== undefined && d.container.docker === undefined) problems.add('container.docker', 'is required when container is given (only Docker images are supported)');
  if (valid('role') && opts.roles !== undefined && d.role !== undefined && !opts.roles.includes(d.role)) {
    problems.add('role', `must be one of the framework's roles (${opts.roles.join(', ')}), got ${describeValue(d.role)}`);
  }
  for (const k of valid('env') ? Object.keys(d.env) : []) {
    if (k === '' || k.includes('=')) problems.add(`env[${JSON.stringify(k)}]`, 'variable names must be non-empty and without "="');
  }
  for (const k of valid('secrets', 'env') ? Object.keys(d.secrets) : []) {
    if (k === '' || k.includes('=')) problems.add(`secrets[${JSON.stringify(k)}]`, 'variable names must be non-empty and without "="');
    else if (Object.hasOwn(d.env, k)) problems.add(`secrets[${JSON.stringify(k)}]`, `"${k}" is in env too: a variable is either plain or secret`);
  }
  if (valid('portDefinitions', 'requirePorts')) portProblems(d, problems);
  const names = new Set(d.portDefinitions.map((p) => p.name).filter((n) => n !== undefined));
  const ports = d.portDefinitions.length;
  const portsKnown = valid('portDefinitions');
  if (valid('healthChecks')) {
    d.healthChecks.forEach((h, i) => {
      const at = `healthChecks[${i}]`;
      if (h.protocol === 'COMMAND') {
        if (h.command === undefined) problems.add(`${at}.command`, 'is required for a COMMAND health check');
        if (h.portIndex !== undefined) problems.add(`${at}.portIndex`, `must not be set for a COMMAND health check, got ${h.portIndex}`);
      } else {
        if (h.command !== undefined) problems.add(`${at}.command`, `must not be set for a ${h.protocol} health check`);
        const index = h.portIndex ?? 0;
        if (portsKnown && index >= ports) problems.add(`${at}.portIndex`, `must be less than the number of portDefinitions (${ports}), got ${index}`);
      }
    });
  }
  if (valid('readinessChecks')) {
    d.readinessChecks.forEach((r, i) => {
      const at = `readinessChecks[${i}]`;
      if (r.portName !== undefined) {
        if (portsKnown && !names.has(r.portName)) problems.add(`${at}.portName`, `must name one of the portDefinitions, got ${describeValue(r.portName)}`);
        if (r.portIndex !== undefined) problems.add(`${at}.portIndex`, 'must not be given together with portName');
      } else if (portsKnown && (r.portIndex ?? 0) >= ports) {
        problems.add(`${at}.portIndex`, `must be less than the number of portDefinitions (${ports}), got ${r.portIndex ?? 0}`);
      }
      if (r.timeoutSeconds > r.intervalSeconds) problems.add(`${at}.timeoutSeconds`, `must not exceed intervalSeconds (${r.intervalSeconds}), got ${r.timeoutSeconds}`);
    });
  }
  if (valid('upgradeStrategy')) upgradeStrategyProblems(d.upgradeStrategy, problems);
  const u = d.unreachableStrategy;
  if (valid('unreachableStrategy') && !u.disabled && u.expungeAfterSeconds < u.inactiveAfterSeconds) {
    problems.add('unreachableStrategy.expungeAfterSeconds', `must be >= inactiveAfterSeconds (${u.inactiveAfterSeconds}), got ${u.expungeAfterSeconds}`);
  }
}

/** Port names unique; with requirePorts, every port fixed and none twice. */
function portProblems(d: Parsed, problems: Problems): void {
  const names = new Map<string, number>();
  d.portDefinitions.forEach((p, i) => {
    if (d.requirePorts && p.port === 0) problems.add(`portDefinitions[${i}].port`, 'must be a fixed port (1-65535) when requirePorts is true, got 0');
    if (p.name !== undefined) {
      if (names.has(p.name)) problems.add(`portDefinitions[${i}].name`, `repeats portDefinitions[${names.get(p.name)}].name ${describeValue(p.name)}`);
      names.set(p.name, i);
    }
  });
  if (d.requirePorts) {
    const seen = new Set<number>();
    d.portDefinitions.forEach((p, i) => {
      if (p.port !== 0 && seen.has(p.port)) problems.add(`portDefinitions[${i}].port`, `repeats port ${p.port}`);
      seen.add(p.port);
    });
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  path.forEach((seg, i) => {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) && !(i > 0 && (path[i - 1] === 'env' || path[i - 1] === 'labels'))) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  });
  return out;
}

/** JSON with object keys sorted, for comparing definitions. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

/** Whether two definitions differ in anything but `instances` (a change that replaces tasks). */
export function needsRestart(a: AppDefinition, b: AppDefinition): boolean {
  return canonicalJson({ ...a, instances: 0 }) !== canonicalJson({ ...b, instances: 0 });
}

const parsedConstraints = new WeakMap<AppDefinition, Constraint[]>();

/** The app's constraints, parsed (cached per definition object). */
export function constraintsOf(def: AppDefinition): Constraint[] {
  let c = parsedConstraints.get(def);
  if (c === undefined) {
    const problems = new Problems();
    c = def.constraints.map((raw, i) => readConstraint([...raw], `constraints[${i}]`, problems)).filter((x): x is Constraint => x !== undefined);
    parsedConstraints.set(def, c);
  }
  return c;
}

/** The ports a task of the app asks for: fixed numbers with requirePorts, else a count. */
export function portRequest(def: AppDefinition): number | number[] {
  return def.requirePorts ? def.portDefinitions.map((p) => p.port) : def.portDefinitions.length;
}

/** The index into portDefinitions a readiness check targets. */
export function readinessPortIndex(def: AppDefinition, check: ReadinessCheckDefinition): number {
  if (check.portName !== undefined) return Math.max(0, def.portDefinitions.findIndex((p) => p.name === check.portName));
  return check.portIndex ?? 0;
}
