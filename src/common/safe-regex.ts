/**
 * Regular expressions that clients send (offer constraints to the master, LIKE/UNLIKE constraints to
 * the frameworks) run inside daemons against every agent on every cycle. JavaScript's backtracking
 * engine can take exponential time on some patterns (`(a+)+$`, `(.*.*)*x`), and there is no timeout:
 * one such pattern would freeze the process. Mesos used RE2 (linear time); here patterns that can
 * backtrack catastrophically are refused instead: a quantified group that itself contains a
 * quantifier, and backreferences. What is left runs in polynomial time.
 */

/** Why `source` is refused, or undefined when it is safe to run. */
export function regexHazard(source: string): string | undefined {
  /** Per open group: whether something inside it is quantified. */
  const groups: boolean[] = [];
  let i = 0;
  const quantifierAt = (k: number): boolean => {
    const c = source[k];
    return c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(source.slice(k)));
  };
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'backreferences are not allowed';
      i += 2;
    } else if (c === '[') {
      // A character class: skip to its end (escapes inside included).
      i++;
      if (source[i] === '^') i++;
      if (source[i] === ']') i++;
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      groups.push(false);
      i++;
      if (source[i] === '?') {
        // (?: (?= (?! (?<= (?<! (?<name>
        i++;
        if (source[i] === '<' && source[i + 1] !== '=' && source[i + 1] !== '!') while (i < source.length && source[i] !== '>') i++;
        i++;
      }
      continue;
    } else if (c === ')') {
      const inner = groups.pop() ?? false;
      i++;
      if (quantifierAt(i) && source[i] !== '?') {
        if (inner) return 'a repeated group may not contain a repetition itself (e.g. (a+)+): it can take exponential time';
        if (groups.length > 0) groups[groups.length - 1] = true;
      } else if (inner && groups.length > 0) {
        groups[groups.length - 1] = true;
      }
      continue;
    } else {
      i++;
    }
    if (quantifierAt(i) && groups.length > 0) groups[groups.length - 1] = true;
  }
  return undefined;
}
