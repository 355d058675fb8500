/**
 * `${VAR}` interpolation, as Docker Compose does it, over every string value of a parsed Compose
 * file: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
 * `${VAR:?message}` / `${VAR?message}` (required), `${VAR:+other}` / `${VAR+other}` (set), defaults
 * that hold more `${…}`, and `$$` for a literal `$`. Keys are not interpolated (as in Compose), nor
 * `x-` extension fields, which are not read (their values merged into services are interpolated there).
 *
 * One difference, on purpose: a variable that is not set and has no default is an error naming the
 * variable and where it is used. Docker Compose substitutes an empty string with a warning; an
 * import that deploys must not start an app with an empty password or host name instead.
 */
import { describeValue } from '../../../common/wire/problems';
import type { Path } from './notes';

/** A problem of interpolation: where the string is, and what is wrong with it. */
export interface InterpolationProblem {
  readonly at: Path;
  readonly message: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * The tree with every string interpolated from `env`, and every problem found (all of them, not
 * just the first).
 */
export function interpolateTree(tree: unknown, env: (name: string) => string | undefined): { value: unknown; problems: InterpolationProblem[] } {
  const problems: InterpolationProblem[] = [];
  const walk = (v: unknown, at: Path): unknown => {
    if (typeof v === 'string') {
      const r = interpolate(v, env);
      for (const p of r.problems) problems.push({ at, message: p });
      return r.value;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, i]));
    // Extension fields are not read: what services take from them (by YAML merge) is interpolated there.
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k.startsWith('x-') ? x : walk(x, [...at, k])]));
    return v;
  };
  const value = walk(tree, []);
  return { value, problems };
}

/** One string interpolated; problems name the variable and say what to do. */
export function interpolate(text: string, env: (name: string) => string | undefined): { value: string; problems: string[] } {
  const problems: string[] = [];
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) {
        problems.push(`has a "\${" without its closing "}" in ${describeValue(text)}: write $$ for a literal $`);
        out += text.slice(i);
        break;
      }
      out += expand(text.slice(i + 2, end), env, problems);
      i = end + 1;
    } else {
      const m = NAME.exec(text.slice(i + 1));
      if (m === null) {
        out += '$'; // a lone $ (as in "cost: 5 $") stays, as in Compose
        i++;
      } else {
        out += lookupOrProblem(m[0], env, problems);
        i += 1 + m[0].length;
      }
    }
  }
  return { value: out, problems };
}

/** The index of the `}` that closes a `${` whose body starts at `from`, or -1. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '$') j++;
    else if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}' && --depth === 0) return j;
  }
  return -1;
}

function lookupOrProblem(name: string, env: (name: string) => string | undefined, problems: string[]): string {
  const v = env(name);
  if (v === undefined) {
    problems.push(`variable ${name} is not set and has no default: set it in the environment or in .env (or --env-file), or write \${${name}:-default}`);
    return '';
  }
  return v;
}

/** The body of `${…}`: NAME, then optionally one of :- - :? ? :+ + and a word (itself interpolated). */
function expand(body: string, env: (name: string) => string | undefined, problems: string[]): string {
  const m = NAME.exec(body);
  if (m === null) {
    problems.push(`has "\${${body}}", which does not start with a variable name: write \${NAME}, or $$ for a literal $`);
    return '';
  }
  const name = m[0];
  const rest = body.slice(name.length);
  if (rest === '') return lookupOrProblem(name, env, problems);
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (op === undefined) {
    problems.push(`has "\${${body}}": after the name ${name} comes one of :- - :? ? :+ + (or "}"), got ${describeValue(rest)}`);
    return '';
  }
  const value = env(name);
  const unsetOrEmpty = value === undefined || value === '';
  const applies = op.startsWith(':') ? unsetOrEmpty : value === undefined;
  const word = (): string => {
    const r = interpolate(rest.slice(op.length), env);
    problems.push(...r.problems);
    return r.value;
  };
  switch (op) {
    case ':-':
    case '-':
      return applies ? word() : value!;
    case ':?':
    case '?': {
      if (!applies) return value!;
      const why = word();
      problems.push(`variable ${name} is required${op === ':?' ? ' and must not be empty' : ''}${why ? `: ${why}` : ''}`);
      return '';
    }
    default: // :+ and +: the word when set
      return applies ? '' : word();
  }
}
