/**
 * The text form of resources, as given to an agent's `--resources` flag (Mesos syntax):
 *
 *     cpus:4;mem:8192;disk:10240;ports:[31000-32000,33000-33010];gpus:1;zones:{a,b};cpus(ads):2
 *
 * - `name:value` pairs separated by `;` (whitespace around tokens is ignored, empty tokens skipped);
 * - a value is a decimal scalar (rounded to 0.001), `[begin-end,…]` ranges, or a `{item,…}` set;
 * - `name(role):value` statically reserves to `role` (refined roles such as `eng/backend` allowed;
 *   `(*)` means unreserved); unqualified entries get the `defaultRole` (Mesos agent `--default_role`);
 * - repeated names combine: scalars add, sets union, ranges union, but overlapping ranges (within or
 *   across entries of one name) are an error, and one name must keep one kind;
 * - text whose first non-blank character is `[` is the JSON form (see `resources-json.ts`).
 *
 * Errors name the offending token and its position:
 * `invalid resource "mem:-5" at position 7: value must be non-negative`.
 */
import { ResourceError } from './errors';
import { DEFAULT_ROLE, roleProblem } from './roles';
import { parseDecimal, toMilli } from './scalar';
import { entryText, nameProblem, NO_RESERVATIONS, resourceProblem, type Reservation, type Resource } from './resource-entry';
import { resourcesFromJSON } from './resources-json';
import { formatRange, type Range } from './resource-values';

/** Options of `Resources.parse`. */
export interface ParseOptions {
  /**
   * Role that statically reserves entries written without `(role)`, as the Mesos agent's
   * `--default_role`. `*` leaves them unreserved. Applies to the JSON form too (entries without
   * `reservations`).
   * @default '*'
   */
  readonly defaultRole?: string;
}

class TokenError extends Error {}

const RANGE = /^(\d+)\s*-\s*(\d+)$/;

function parseValue(name: string, value: string): Pick<Resource, 'kind' | 'scalar' | 'ranges' | 'set'> {
  if (value === '') throw new TokenError('missing value');
  const first = value[0];
  if (first === '[') {
    if (!value.endsWith(']')) throw new TokenError(`ranges must end with "]", got ${JSON.stringify(value)}`);
    const inner = value.slice(1, -1).trim();
    const ranges: Range[] = [];
    if (inner !== '') {
      for (const part of inner.split(',')) {
        const m = RANGE.exec(part.trim());
        if (m === null) throw new TokenError(`invalid range ${JSON.stringify(part.trim())}: expected "begin-end" with non-negative integers`);
        const begin = Number(m[1]);
        const end = Number(m[2]);
        if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) throw new TokenError(`invalid range "${part.trim()}": bounds too large`);
        if (begin > end) throw new TokenError(`invalid range ${formatRange({ begin, end })}: begin is greater than end`);
        ranges.push({ begin, end });
      }
    }
    return { kind: 'ranges', ranges };
  }
  if (first === '{') {
    if (!value.endsWith('}')) throw new TokenError(`sets must end with "}", got ${JSON.stringify(value)}`);
    const inner = value.slice(1, -1).trim();
    const set = inner === '' ? [] : inner.split(',').map((s) => s.trim());
    if (set.some((s) => s === '')) throw new TokenError('empty set item');
    return { kind: 'set', set };
  }
  const n = parseDecimal(value);
  if (n === undefined) throw new TokenError(`value ${JSON.stringify(value)} is not a number, ranges or set`);
  if (n < 0) throw new TokenError('value must be non-negative');
  try {
    return { kind: 'scalar', scalar: toMilli(n) };
  } catch (e) {
    throw new TokenError(`value ${JSON.stringify(value)} of ${name} is out of range`);
  }
}

function parseToken(token: string, defaultStack: readonly Reservation[]): Resource {
  const colon = token.indexOf(':');
  if (colon < 0) throw new TokenError('expected "name:value"');
  const left = token.slice(0, colon).trim();
  let name = left;
  let reservations = defaultStack;
  const open = left.indexOf('(');
  if (open >= 0) {
    if (!left.endsWith(')') || left.indexOf(')') !== left.length - 1 || left.indexOf('(', open + 1) >= 0) {
      throw new TokenError(`expected "name(role)", got ${JSON.stringify(left)}`);
    }
    name = left.slice(0, open).trim();
    const role = left.slice(open + 1, -1).trim();
    if (role === DEFAULT_ROLE) {
      reservations = NO_RESERVATIONS;
    } else {
      const rp = role === '' ? 'role must not be empty' : roleProblem(role);
      if (rp !== undefined) throw new TokenError(`invalid role ${JSON.stringify(role)}: ${rp}`);
      reservations = [{ type: 'STATIC', role }];
    }
  }
  const np = nameProblem(name);
  if (np !== undefined) throw new TokenError(`invalid resource name ${JSON.stringify(name)}: ${np}`);
  const r: Resource = { name, reservations, ...parseValue(name, token.slice(colon + 1).trim()) };
  const problem = resourceProblem(r);
  if (problem !== undefined) throw new TokenError(problem);
  return r;
}

/**
 * Parses the text (or JSON) form into validated resource objects, not yet combined. Called by
 * `Resources.parse`.
 *
 * @throws ResourceError `INVALID_RESOURCES` naming the offending token and its position.
 */
/** The `;`-separated tokens of a declaration, trimmed, with their positions; empty ones skipped. */
export function declarationTokens(text: string): { token: string; position: number }[] {
  const out: { token: string; position: number }[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf(';', start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, end);
    const token = raw.trim();
    if (token !== '') out.push({ token, position: start + (raw.length - raw.trimStart().length) });
    start = end + 1;
  }
  return out;
}

export function parseResourceList(text: string, opts: ParseOptions = {}): Resource[] {
  if (typeof text !== 'string') throw new ResourceError('INVALID_RESOURCES', 'resources text must be a string');
  const defaultRole = opts.defaultRole ?? DEFAULT_ROLE;
  if (text.trimStart().startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ResourceError('INVALID_RESOURCES', `invalid resources JSON: ${(e as Error).message}`, { cause: e });
    }
    return resourcesFromJSON(json, { defaultRole });
  }
  let defaultStack: readonly Reservation[] = NO_RESERVATIONS;
  if (defaultRole !== DEFAULT_ROLE) {
    const rp = roleProblem(defaultRole);
    if (rp !== undefined) throw new ResourceError('INVALID_RESOURCES', `invalid default role ${JSON.stringify(defaultRole)}: ${rp}`);
    defaultStack = [{ type: 'STATIC', role: defaultRole }];
  }

  const out: Resource[] = [];
  // Per name: the kind first seen, and every range with the token that declared it (to name both
  // sides of an overlap across entries).
  const kinds = new Map<string, Resource['kind']>();
  const seenRanges = new Map<string, { range: Range; token: string; position: number }[]>();
  for (const { token, position } of declarationTokens(text)) {
    const fail = (problem: string): never => {
      throw new ResourceError('INVALID_RESOURCES', `invalid resource ${JSON.stringify(token)} at position ${position}: ${problem}`);
    };
    let r: Resource;
    try {
      r = parseToken(token, defaultStack);
    } catch (e) {
      if (e instanceof TokenError) fail(e.message);
      throw e;
    }
    const kind = kinds.get(r.name);
    if (kind !== undefined && kind !== r.kind) fail(`${r.name} is declared both as ${kind} and as ${r.kind}`);
    kinds.set(r.name, r.kind);
    if (r.kind === 'ranges') {
      const seen = seenRanges.get(r.name) ?? [];
      for (const range of r.ranges!) {
        const clash = seen.find((s) => s.range.begin <= range.end && range.begin <= s.range.end);
        if (clash !== undefined) {
          fail(`${r.name}: ranges ${formatRange(clash.range)} and ${formatRange(range)} overlap (the first in ${JSON.stringify(clash.token)} at position ${clash.position})`);
        }
      }
      for (const range of r.ranges!) seen.push({ range, token, position });
      seenRanges.set(r.name, seen);
    }
    out.push(r);
  }
  return out;
}

/**
 * Text of normalised entries, in their (stable) order, joined by `;`. Round-trips through
 * {@link parseResourceList} when every entry is expressible (see `isExpressible`). Never throws.
 */
export function formatResourceList(entries: readonly Resource[]): string {
  let s = '';
  for (let i = 0; i < entries.length; i++) s += (i > 0 ? ';' : '') + entryText(entries[i]);
  return s;
}
