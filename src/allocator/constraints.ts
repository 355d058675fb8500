import type { AgentDescription, Attribute, ConstraintPredicate, ConstraintSelector, RoleOfferConstraints } from './types';
import { compileSafeRegex, type SafeRegex } from '../common/safe-regex';

/** An agent predicate compiled once (regexes parsed, selectors resolved) and evaluated per offer. */
export type AgentPredicate = (agent: AgentDescription) => boolean;

/** Longest regex accepted in a constraint (RE2 is linear in the value, but a pattern's program grows with its length). */
export const MAX_CONSTRAINT_REGEX_LENGTH = 1024;

/**
 * Compiles offer constraints into a predicate. Throws a `RangeError` naming the bad part
 * (`groups[1].predicates[0].regex: invalid regular expression "(": …`) so a master can turn
 * it into an INVALID_ARGUMENT answer for the framework that sent it.
 */
export function compileConstraints(c: RoleOfferConstraints | undefined, where = 'constraints'): AgentPredicate | undefined {
  if (c === undefined || c.groups.length === 0) return undefined;
  const groups = c.groups.map((g, gi) =>
    g.predicates.map((p, pi) => compilePredicate(p, `${where}.groups[${gi}].predicates[${pi}]`)),
  );
  return (agent) => groups.some((preds) => preds.every((p) => p(agent)));
}

function compilePredicate(p: ConstraintPredicate, where: string): AgentPredicate {
  const select = compileSelector(p.selector, where);
  switch (p.op) {
    case 'EXISTS':
      return (a) => select(a) !== undefined;
    case 'NOT_EXISTS':
      return (a) => select(a) === undefined;
    case 'TEXT_EQUALS':
      return (a) => select(a) === p.value;
    case 'TEXT_NOT_EQUALS':
      return (a) => select(a) !== p.value;
    case 'TEXT_MATCHES':
    case 'TEXT_NOT_MATCHES': {
      const re = compileRegex(p.regex, `${where}.regex`);
      const want = p.op === 'TEXT_MATCHES';
      return (a) => {
        const v = select(a);
        // A missing value matches nothing: TEXT_NOT_MATCHES holds for it (as Mesos).
        return v === undefined ? !want : re.test(v) === want;
      };
    }
    default:
      throw new RangeError(`${where}.op: unknown operator "${(p as { op: unknown }).op}"`);
  }
}

function compileRegex(source: string, where: string): SafeRegex {
  if (typeof source !== 'string' || source.length > MAX_CONSTRAINT_REGEX_LENGTH) {
    throw new RangeError(`${where}: regular expression must be a string of at most ${MAX_CONSTRAINT_REGEX_LENGTH} characters`);
  }
  try {
    // Anchored: the whole value must match, as RE2's FullMatch in Mesos.
    return compileSafeRegex(source);
  } catch (err) {
    throw new RangeError(`${where}: invalid regular expression ${JSON.stringify(source)}: ${(err as Error).message}`);
  }
}

function compileSelector(s: ConstraintSelector, where: string): (a: AgentDescription) => string | undefined {
  if ('pseudo' in s) {
    switch (s.pseudo) {
      case 'HOSTNAME':
        return (a) => a.hostname;
      case 'REGION':
        return (a) => a.domain?.region;
      case 'ZONE':
        return (a) => a.domain?.zone;
      default:
        throw new RangeError(`${where}.selector.pseudo: unknown selector "${String(s.pseudo)}"`);
    }
  }
  if (typeof s.attribute !== 'string' || s.attribute === '') {
    throw new RangeError(`${where}.selector.attribute: must be a non-empty attribute name`);
  }
  const name = s.attribute;
  return (a) => {
    const attr = a.attributes?.find((x) => x.name === name);
    return attr === undefined ? undefined : attributeText(attr);
  };
}

/** The text form of an attribute value, as used by TEXT_* predicates and printed to operators. */
export function attributeText(attr: Attribute): string {
  if (attr.text !== undefined) return attr.text;
  if (attr.scalar !== undefined) return String(attr.scalar);
  if (attr.ranges !== undefined) return `[${attr.ranges.map((r) => `${r.begin}-${r.end}`).join(',')}]`;
  if (attr.set !== undefined) return `{${attr.set.join(',')}}`;
  return '';
}
