/**
 * Placement constraints in Marathon's vocabulary, for any framework: `[field, OPERATOR, value?]`.
 *
 * The field is `hostname` (also `@hostname`), `@region`, `@zone`, or the name of an agent attribute.
 * Operators (Marathon's `constraints.md`; `EQ` is Metronome's spelling of `IS`):
 *
 * | operator       | holds for a candidate agent when …                                                         |
 * |----------------|---------------------------------------------------------------------------------------------|
 * | `UNIQUE`       | no placed task has the candidate's field value                                              |
 * | `CLUSTER v`    | the field equals `v`; without `v`: equals the value of the tasks already placed (any at first) |
 * | `GROUP_BY n?`  | the candidate's value has no more tasks than the least-loaded value (with `n`: values not yet seen count as 0 while fewer than `n` are seen) |
 * | `LIKE re`      | the field matches the regular expression (anchored at both ends)                             |
 * | `UNLIKE re`    | the field does not match it — also true when the agent lacks the attribute                  |
 * | `MAX_PER n`    | fewer than `n` placed tasks share the candidate's value                                      |
 * | `IS v`         | the field equals `v` exactly                                                                |
 *
 * Values are compared as text: TEXT attributes as they are, SCALAR ones rounded to thousandths and
 * printed without trailing zeros (`2`, `2.5`, `0.125`), RANGES as `[1-4,6-8]`, SETs as `{a,b}`. An
 * agent that lacks the attribute satisfies only `UNLIKE`.
 *
 * "Placed" is whatever the caller says counts: for a service, its tasks that are staged or running;
 * for a job, its other runs. The check is pure; callers record the reason for diagnostics.
 */
import type { Attribute } from '../../common/attributes';
import { describeValue, Problems, ValidationError } from '../../common/wire/problems';
import { compileSafeRegex, type SafeRegex } from '../../common/safe-regex';

/** The operators, in Marathon's spelling. */
export const CONSTRAINT_OPERATORS = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS'] as const;
export type ConstraintOperator = (typeof CONSTRAINT_OPERATORS)[number];

/** A parsed, validated constraint. */
export interface Constraint {
  /** `hostname`, `@region`, `@zone` or an attribute name (a leading `@` of `@hostname` is dropped). */
  readonly field: string;
  readonly operator: ConstraintOperator;
  /** The operand; absent for UNIQUE and for CLUSTER/GROUP_BY without one. */
  readonly value?: string;
  /** Marathon's string form, `field:OPERATOR[:value]` — used in messages and rejection reasons. */
  readonly text: string;
}

/** What a constraint looks at: an agent (of an offer, or of a placed task). */
export interface PlacementCandidate {
  readonly hostname: string;
  readonly attributes: readonly Attribute[];
  /** The agent's fault domain, for `@region` / `@zone`. */
  readonly domain?: { readonly region: string; readonly zone: string };
}

export type ConstraintCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly constraint: Constraint };

/** Longest regular expression accepted by LIKE/UNLIKE. */
export const MAX_CONSTRAINT_PATTERN_LENGTH = 1024;

const NEEDS_VALUE: ReadonlySet<ConstraintOperator> = new Set(['LIKE', 'UNLIKE', 'MAX_PER', 'IS']);
const NO_VALUE: ReadonlySet<ConstraintOperator> = new Set(['UNIQUE']);
const patternCache = new Map<string, SafeRegex>();

function anchored(pattern: string): SafeRegex {
  let re = patternCache.get(pattern);
  if (re === undefined) {
    re = compileSafeRegex(pattern);
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(pattern, re);
  }
  return re;
}

/**
 * Parses one constraint from any of the accepted forms, recording problems under `path`:
 * - Marathon's array form: `["hostname", "UNIQUE"]`, `["rack", "GROUP_BY", "3"]` (numbers allowed
 *   for the value: `["rack", "MAX_PER", 2]`);
 * - Marathon's string form: `"hostname:UNIQUE"`, `"rack:LIKE:r[12]"` (the value may hold `:`);
 * - an object: `{ field | attribute, operator, value? }` (Metronome's form; `EQ` means `IS`).
 */
export function readConstraint(input: unknown, path: string, problems: Problems): Constraint | undefined {
  let field: unknown;
  let operator: unknown;
  let value: unknown;
  if (Array.isArray(input)) {
    if (input.length < 2 || input.length > 3) {
      problems.add(path, `must be [field, OPERATOR] or [field, OPERATOR, value], got an array of ${input.length}`);
      return undefined;
    }
    [field, operator, value] = input;
  } else if (typeof input === 'string') {
    const parts = input.split(':');
    if (parts.length < 2) {
      problems.add(path, `must be "field:OPERATOR[:value]", got ${describeValue(input)}`);
      return undefined;
    }
    field = parts[0];
    operator = parts[1];
    value = parts.length > 2 ? parts.slice(2).join(':') : undefined;
  } else if (input !== null && typeof input === 'object') {
    const o = input as Record<string, unknown>;
    field = o.field ?? o.attribute;
    operator = o.operator;
    value = o.value;
  } else {
    problems.add(path, `must be [field, OPERATOR, value?], "field:OPERATOR[:value]" or {field, operator, value}, got ${describeValue(input)}`);
    return undefined;
  }
  const before = problems.size;
  if (typeof field !== 'string' || field.trim() === '') problems.add(`${path}.field`, `must be a non-empty attribute name, "hostname", "@region" or "@zone", got ${describeValue(field)}`);
  let op = typeof operator === 'string' ? operator.toUpperCase() : operator;
  if (op === 'EQ') op = 'IS';
  if (typeof op !== 'string' || !(CONSTRAINT_OPERATORS as readonly string[]).includes(op)) {
    problems.add(`${path}.operator`, `must be one of ${CONSTRAINT_OPERATORS.join(', ')}, got ${describeValue(operator)}`);
  }
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (value !== undefined && value !== null && typeof value !== 'string') problems.add(`${path}.value`, `must be a string, got ${describeValue(value)}`);
  if (problems.size > before) return undefined;
  const operatorName = op as ConstraintOperator;
  const text = value === undefined || value === null || value === '' ? undefined : (value as string);
  const f = (field as string).trim();
  const normalizedField = f === '@hostname' ? 'hostname' : f;
  if (NEEDS_VALUE.has(operatorName) && text === undefined) problems.add(`${path}.value`, `${operatorName} needs a value`);
  if (NO_VALUE.has(operatorName) && text !== undefined) problems.add(`${path}.value`, `${operatorName} takes no value, got ${describeValue(text)}`);
  if (text !== undefined && (operatorName === 'MAX_PER' || operatorName === 'GROUP_BY')) {
    if (!/^[0-9]+$/.test(text) || Number(text) < 1) problems.add(`${path}.value`, `${operatorName} needs a whole number >= 1, got ${describeValue(text)}`);
  }
  if (text !== undefined && (operatorName === 'LIKE' || operatorName === 'UNLIKE')) {
    if (text.length > MAX_CONSTRAINT_PATTERN_LENGTH) problems.add(`${path}.value`, `a pattern may have at most ${MAX_CONSTRAINT_PATTERN_LENGTH} characters, got ${text.length}`);
    else {
      try {
        anchored(text);
      } catch (e) {
        problems.add(`${path}.value`, `is not a valid regular expression: ${(e as Error).message}, got ${describeValue(text)}`);
      }
    }
  }
  if (problems.size > before) return undefined;
  return {
    field: normalizedField,
    operator: operatorName,
    ...(text === undefined ? {} : { value: text }),
    text: `${normalizedField}:${operatorName}${text === undefined ? '' : `:${text}`}`,
  };
}

/**
 * Parses one constraint (see {@link readConstraint} for the forms).
 * @throws ValidationError naming the field, e.g. `constraints[0].operator: must be one of …, got "UNIQ"`.
 */
export function parseConstraint(input: unknown, path = 'constraint'): Constraint {
  const problems = new Problems();
  const c = readConstraint(input, path, problems);
  problems.throwIfAny();
  return c!;
}

/**
 * Parses a list of constraints (absent: none).
 * @throws ValidationError listing every bad entry.
 */
export function parseConstraints(input: unknown, path = 'constraints'): Constraint[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw ValidationError.of(path, `must be a list of constraints, got ${describeValue(input)}`);
  const problems = new Problems();
  const out: Constraint[] = [];
  input.forEach((c, i) => {
    const parsed = readConstraint(c, `${path}[${i}]`, problems);
    if (parsed !== undefined) out.push(parsed);
  });
  problems.throwIfAny();
  return out;
}

/** A scalar as constraints compare it: rounded to thousandths, no trailing zeros. */
export function formatScalar(v: number): string {
  const rounded = Math.round(v * 1000) / 1000;
  return String(Object.is(rounded, -0) ? 0 : rounded);
}

/** The text value of `field` on `candidate`, or undefined when the agent does not have it. */
export function fieldValue(candidate: PlacementCandidate, field: string): string | undefined {
  if (field === 'hostname') return candidate.hostname;
  if (field === '@region') return candidate.domain?.region;
  if (field === '@zone') return candidate.domain?.zone;
  const attr = candidate.attributes.find((a) => a.name === field);
  if (attr === undefined) return undefined;
  if (attr.text !== undefined) return attr.text;
  if (attr.scalar !== undefined) return formatScalar(attr.scalar);
  if (attr.ranges !== undefined) return `[${attr.ranges.map((r) => (r.begin === r.end ? `${r.begin}` : `${r.begin}-${r.end}`)).join(',')}]`;
  if (attr.set !== undefined) return `{${[...attr.set].sort().join(',')}}`;
  return undefined;
}

function equalsValue(actual: string, expected: string): boolean {
  if (actual === expected) return true;
  // A scalar attribute against a number written differently ("2" vs "2.0").
  const a = Number(actual);
  const e = Number(expected);
  return actual.trim() !== '' && expected.trim() !== '' && Number.isFinite(a) && Number.isFinite(e) && formatScalar(a) === formatScalar(e);
}

/** Checks one constraint; `reason` names the constraint and what did not hold. */
export function checkConstraint(c: Constraint, candidate: PlacementCandidate, placed: readonly PlacementCandidate[]): ConstraintCheck {
  const value = fieldValue(candidate, c.field);
  const fail = (why: string): ConstraintCheck => ({ ok: false, reason: `${c.text}: ${why}`, constraint: c });
  if (value === undefined) {
    return c.operator === 'UNLIKE' ? { ok: true } : fail(`agent ${candidate.hostname} has no ${c.field}`);
  }
  const sameValue = (): number => placed.reduce((n, p) => (fieldValue(p, c.field) === value ? n + 1 : n), 0);
  switch (c.operator) {
    case 'UNIQUE':
      return sameValue() === 0 ? { ok: true } : fail(`${c.field} ${value} already has a task`);
    case 'IS':
      return equalsValue(value, c.value!) ? { ok: true } : fail(`${c.field} is ${value}`);
    case 'LIKE':
      return anchored(c.value!).test(value) ? { ok: true } : fail(`${c.field} ${value} does not match`);
    case 'UNLIKE':
      return anchored(c.value!).test(value) ? fail(`${c.field} ${value} matches`) : { ok: true };
    case 'MAX_PER': {
      const n = sameValue();
      return n < Number(c.value) ? { ok: true } : fail(`${c.field} ${value} already has ${n} tasks`);
    }
    case 'CLUSTER': {
      if (c.value !== undefined) return equalsValue(value, c.value) ? { ok: true } : fail(`${c.field} is ${value}`);
      const first = placed.map((p) => fieldValue(p, c.field)).find((v) => v !== undefined);
      return first === undefined || first === value ? { ok: true } : fail(`tasks are on ${c.field} ${first}, the agent has ${value}`);
    }
    case 'GROUP_BY': {
      const counts = new Map<string, number>();
      for (const p of placed) {
        const v = fieldValue(p, c.field);
        if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const mine = counts.get(value) ?? 0;
      const expected = c.value === undefined ? 0 : Number(c.value);
      const least = counts.size < expected || counts.size === 0 ? 0 : Math.min(...counts.values());
      return mine <= least ? { ok: true } : fail(`${c.field} ${value} has ${mine} tasks, another has ${least}`);
    }
  }
}

/**
 * Whether `candidate` satisfies every constraint, given the tasks already `placed`. The first
 * constraint that fails gives the reason (e.g. `hostname:UNIQUE: hostname a1 already has a task`).
 */
export function checkConstraints(constraints: readonly Constraint[], candidate: PlacementCandidate, placed: readonly PlacementCandidate[]): ConstraintCheck {
  for (const c of constraints) {
    const r = checkConstraint(c, candidate, placed);
    if (!r.ok) return r;
  }
  return { ok: true };
}
