/**
 * Value-level operations on the two non-scalar resource kinds: ranges (`ports:[31000-32000]`) and sets
 * (`zones:{a,b}`). Internal to the resources library; `Resources` calls these with inputs that are
 * already normalised:
 *
 * - ranges: sorted by `begin`, inclusive, coalesced (no overlap and no adjacency: `[1-2,3-4]` is
 *   stored as `[1-4]`), so set operations are linear two-pointer sweeps;
 * - sets: sorted (UTF-16 code-unit order, i.e. `<`) and unique, so the same holds.
 *
 * Results share input arrays and range objects when nothing changed, which keeps the hot path of the
 * allocator (adding back what was just subtracted) cheap. Nothing here mutates its inputs.
 */

/** An inclusive range of non-negative integers, e.g. ports 31000–32000. */
export interface Range {
  readonly begin: number;
  readonly end: number;
}

/** Renders ranges as `[a-b,c-d]`. */
export function formatRanges(ranges: readonly Range[]): string {
  let s = '[';
  for (let i = 0; i < ranges.length; i++) {
    if (i > 0) s += ',';
    s += `${ranges[i].begin}-${ranges[i].end}`;
  }
  return s + ']';
}

/** Renders one range as `[a-b]`, for error messages. */
export function formatRange(r: Range): string {
  return `[${r.begin}-${r.end}]`;
}

/**
 * Sorts and coalesces ranges: overlapping and adjacent ones merge. Returns fresh range objects.
 * Where overlap is an error (a resource declaration), check it first with {@link findOverlap}.
 */
export function normalizeRanges(input: readonly Range[]): Range[] {
  const sorted = input.map((r) => ({ begin: r.begin, end: r.end })).sort((a, b) => a.begin - b.begin);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.begin <= last.end + 1) {
      if (r.end > last.end) out[out.length - 1] = { begin: last.begin, end: r.end };
    } else {
      out.push(r);
    }
  }
  return out;
}

/** The first pair of overlapping ranges in an unsorted list, in input order, or `undefined`. */
export function findOverlap(input: readonly Range[]): [Range, Range] | undefined {
  const order = input.map((_, i) => i).sort((a, b) => input[a].begin - input[b].begin || a - b);
  // Sorted by begin, a range overlaps an earlier one iff it begins at or before the furthest end seen
  // so far; report that furthest-reaching range with it, in input order, for a useful message.
  let reach = order[0];
  for (let k = 1; k < order.length; k++) {
    const next = order[k];
    if (input[next].begin <= input[reach].end) {
      return reach < next ? [input[reach], input[next]] : [input[next], input[reach]];
    }
    if (input[next].end > input[reach].end) reach = next;
  }
  return undefined;
}

/** Union of two normalised range lists. Returns `a` itself when `b` adds nothing. */
export function rangesUnion(a: readonly Range[], b: readonly Range[]): readonly Range[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  if (rangesSubset(b, a)) return a;
  const out: Range[] = [];
  let i = 0;
  let j = 0;
  let cur: Range | undefined;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i].begin <= b[j].begin) ? a[i++] : b[j++];
    if (cur === undefined) {
      cur = next;
    } else if (next.begin <= cur.end + 1) {
      if (next.end > cur.end) cur = { begin: cur.begin, end: next.end };
    } else {
      out.push(cur);
      cur = next;
    }
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/** Whether every value of `sub` is in `sup` (both normalised). */
export function rangesSubset(sub: readonly Range[], sup: readonly Range[]): boolean {
  let j = 0;
  for (let i = 0; i < sub.length; i++) {
    const r = sub[i];
    // sup is coalesced, so r must fit entirely inside a single range of sup.
    while (j < sup.length && sup[j].end < r.begin) j++;
    if (j === sup.length || sup[j].begin > r.begin || sup[j].end < r.end) return false;
  }
  return true;
}

/** `a` minus `b` (both normalised); values of `b` missing from `a` are ignored. */
export function rangesDifference(a: readonly Range[], b: readonly Range[]): readonly Range[] {
  if (b.length === 0 || a.length === 0) return a;
  const out: Range[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    let begin = a[i].begin;
    const end = a[i].end;
    while (j < b.length && b[j].end < begin) j++;
    let k = j;
    while (k < b.length && b[k].begin <= end && begin <= end) {
      if (b[k].begin > begin) out.push({ begin, end: b[k].begin - 1 });
      begin = b[k].end + 1;
      k++;
    }
    if (begin <= end) out.push(begin === a[i].begin ? a[i] : { begin, end });
  }
  return out;
}

/** Number of values in normalised ranges (e.g. how many ports). */
export function rangesCount(ranges: readonly Range[]): number {
  let n = 0;
  for (let i = 0; i < ranges.length; i++) n += ranges[i].end - ranges[i].begin + 1;
  return n;
}

/** Element-wise equality of normalised range lists. */
export function rangesEqual(a: readonly Range[], b: readonly Range[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].begin !== b[i].begin || a[i].end !== b[i].end) return false;
  }
  return true;
}

/** Renders a set as `{a,b}`. */
export function formatSet(items: readonly string[]): string {
  return `{${items.join(',')}}`;
}

/** Union of two sorted, unique string lists. Returns `a` itself when `b` adds nothing. */
export function setUnion(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  if (setSubset(b, a)) return a;
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push(a[i++]);
      j++;
    } else if (a[i] < b[j]) {
      out.push(a[i++]);
    } else {
      out.push(b[j++]);
    }
  }
  while (i < a.length) out.push(a[i++]);
  while (j < b.length) out.push(b[j++]);
  return out;
}

/** Whether every item of `sub` is in `sup` (both sorted, unique). */
export function setSubset(sub: readonly string[], sup: readonly string[]): boolean {
  if (sub.length > sup.length) return false;
  let j = 0;
  for (let i = 0; i < sub.length; i++) {
    while (j < sup.length && sup[j] < sub[i]) j++;
    if (j === sup.length || sup[j] !== sub[i]) return false;
    j++;
  }
  return true;
}

/** `a` minus `b` (both sorted, unique). */
export function setDifference(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0 || a.length === 0) return a;
  const out: string[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    while (j < b.length && b[j] < a[i]) j++;
    if (j < b.length && b[j] === a[i]) continue;
    out.push(a[i]);
  }
  return out.length === a.length ? a : out;
}

/** Element-wise equality of sorted sets. */
export function setEqual(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
