/**
 * The value syntaxes of a Compose file, each read the way Docker Compose reads it:
 * - durations in Go's syntax (`1m30s`, `1.5h`, `300ms`, `10us`; compose-go uses time.ParseDuration);
 * - byte sizes of docker/go-units' RAMInBytes (`512M`, `1g`, `1.5GiB`, `2048kb`, a plain number of
 *   bytes), binary multiples;
 * - command strings split into words like a POSIX shell would, without expanding anything (compose
 *   runs `command: a "b c"` as the exec form `["a", "b c"]`, not through a shell);
 * and the way back to a shell line (`shellQuote`) for the places Berth only takes a shell command.
 *
 * Each reader returns the value or a message saying what was expected, naming the value.
 */
import { describeValue } from '../../../common/wire/problems';

export type Read<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Read<T> => ({ ok: true, value });
const bad = <T>(problem: string): Read<T> => ({ ok: false, problem });

const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_HELP = 'must be a duration such as 30s, 1m30s or 500ms (units ns, us, ms, s, m, h)';

/** A Compose duration in milliseconds. */
export function readDuration(v: unknown): Read<number> {
  if (typeof v === 'number') return bad(`${DURATION_HELP}, got the number ${v}: add a unit (${v}s)`);
  if (typeof v !== 'string') return bad(`${DURATION_HELP}, got ${describeValue(v)}`);
  const s = v.trim();
  if (s === '0') return ok(0);
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  if (s === '') return bad(`${DURATION_HELP}, got ""`);
  while (part.lastIndex < s.length) {
    const at = part.lastIndex;
    const m = part.exec(s);
    if (m === null) {
      part.lastIndex = at;
      return bad(`${DURATION_HELP}, got ${describeValue(v)}`);
    }
    total += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
  }
  return ok(total);
}

/** A Compose duration in seconds (3 decimals at most, as Berth's durations are kept). */
export function readSeconds(v: unknown): Read<number> {
  const d = readDuration(v);
  return d.ok ? ok(Math.round(d.value) / 1000) : d;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
const SIZE_HELP = 'must be a size such as 512m, 1g or 1.5GiB (units b, k, m, g, t, p; binary multiples), or a number of bytes';

/** A Compose byte size in bytes. */
export function readByteSize(v: unknown): Read<number> {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? ok(v) : bad(`${SIZE_HELP}, got ${v}`);
  if (typeof v !== 'string') return bad(`${SIZE_HELP}, got ${describeValue(v)}`);
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (m === null || (m[2] === '' && m[3] !== undefined && m[3].toLowerCase() === 'ib')) return bad(`${SIZE_HELP}, got ${describeValue(v)}`);
  return ok(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** A CPU count (`"0.5"` or `0.5`), > 0. */
export function readCpus(v: unknown): Read<number> {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d*\.?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) return bad(`must be a number of CPUs greater than 0 such as "0.5" or 2, got ${describeValue(v)}`);
  return ok(n);
}

/** A whole number within bounds. */
export function readInt(v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): Read<number> {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max) return ok(v);
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
  return bad(`must be an integer ${range}, got ${describeValue(v)}`);
}

/**
 * Words of a command string as a POSIX shell splits them: blanks separate words, `'…'` is literal,
 * `"…"` keeps blanks and takes `\` before `"`, `\`, `$` and a backtick, `\` elsewhere escapes the
 * next character. Nothing is expanded.
 */
export function splitShellWords(text: string): Read<string[]> {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return bad(`has a ' without its closing ', got ${describeValue(text)}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1]!)) j++;
        word += text[j];
      }
      if (j >= text.length) return bad(`has a " without its closing ", got ${describeValue(text)}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 < text.length) word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return ok(words);
}

/** One word for a POSIX shell: as it is when it is plain, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line that runs exactly these words. */
export function shellLine(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/**
 * An env file (`.env`, `env_file:`) as Compose reads it: `NAME=value` lines, `export ` allowed
 * before the name, `#` comment lines and blank lines skipped, values in '…' literal, in "…" with `\n`,
 * `\t`, `\"` and `\\` escapes, unquoted values trimmed and cut at ` #`. A line `NAME` alone takes the
 * variable from `lookup` (left out when it is not set there).
 * @returns the variables, or the first bad line (1-based) and why.
 */
export function parseEnvFile(text: string, lookup: (name: string) => string | undefined = () => undefined): { ok: true; value: Record<string, string> } | { ok: false; line: number; problem: string } {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(=\s*(.*))?$/.exec(line);
    if (m === null) return { ok: false, line: i + 1, problem: `must be NAME=value, got ${describeValue(line)}` };
    const name = m[1]!;
    if (m[2] === undefined) {
      const v = lookup(name);
      if (v !== undefined) out[name] = v;
      continue;
    }
    const raw = m[3]!;
    if (raw.startsWith("'")) {
      const end = raw.indexOf("'", 1);
      if (end < 0) return { ok: false, line: i + 1, problem: `${name}: has a ' without its closing '` };
      out[name] = raw.slice(1, end);
    } else if (raw.startsWith('"')) {
      let value = '';
      let j = 1;
      for (; j < raw.length && raw[j] !== '"'; j++) {
        if (raw[j] === '\\' && j + 1 < raw.length) {
          const e = raw[++j]!;
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
        } else value += raw[j];
      }
      if (j >= raw.length) return { ok: false, line: i + 1, problem: `${name}: has a " without its closing "` };
      out[name] = value;
    } else {
      const hash = raw.search(/\s#/);
      out[name] = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    }
  }
  return { ok: true, value: out };
}
