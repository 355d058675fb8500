/**
 * Regular expressions that clients send (offer constraints to the master, LIKE/UNLIKE constraints to
 * the frameworks) run inside daemons against every agent on every cycle. JavaScript's engine
 * backtracks: a pattern such as `^(\w|\d)+$` costs twice as much per extra character of the value,
 * with no timeout, so one constraint could freeze the master's event loop. These patterns run on RE2
 * instead (Google's engine, the one Mesos used, here compiled to WebAssembly: `re2-wasm`), whose
 * cost is linear in the value's length for every pattern it accepts. What RE2 cannot do in linear
 * time (backreferences, lookaround) it refuses, and the refusal is the client's error message.
 *
 * Matching is a whole-value match (RE2's FullMatch in Mesos): `r[12]` matches `r1`, not `rack-r1`.
 */
import type { RE2 as RE2Type } from 're2-wasm';

/** A compiled whole-value pattern. */
export interface SafeRegex {
  /** The pattern as the client sent it. */
  readonly source: string;
  /** Whether the whole of `value` matches. Linear in `value.length`. */
  test(value: string): boolean;
}

/** Distinct values whose answer each pattern remembers (agents' attribute values repeat every cycle). */
const RESULT_CACHE_SIZE = 4096;
/** Values longer than this are matched without being remembered. */
const CACHEABLE_VALUE_LENGTH = 256;

type RE2Class = typeof RE2Type;
let re2Class: RE2Class | undefined;

/**
 * The RE2 class, loaded on first use: the WebAssembly module costs ~40 ms and ~10 MB, which a CLI
 * command that never sees a pattern should not pay.
 */
function re2(): RE2Class {
  if (re2Class === undefined) re2Class = (require('re2-wasm') as { RE2: RE2Class }).RE2;
  return re2Class;
}

/**
 * Every compiled RE2 owns memory inside the WebAssembly heap that JavaScript's collector cannot see;
 * it is freed when the JavaScript object that holds it is collected, so patterns that clients send
 * and later replace never pile up.
 */
const wasmObjects = new FinalizationRegistry<{ delete(): void }>((wrapped) => wrapped.delete());

function track(re: RE2Type): RE2Type {
  const wrapped = (re as unknown as { wrapper?: { delete?: () => void } }).wrapper;
  if (typeof wrapped?.delete === 'function') wasmObjects.register(re, wrapped as { delete(): void });
  return re;
}

class Re2Regex implements SafeRegex {
  private readonly results = new Map<string, boolean>();

  constructor(readonly source: string, private readonly re: RE2Type) {}

  test(value: string): boolean {
    if (value.length > CACHEABLE_VALUE_LENGTH) return this.re.test(value);
    let r = this.results.get(value);
    if (r === undefined) {
      r = this.re.test(value);
      if (this.results.size >= RESULT_CACHE_SIZE) this.results.clear();
      this.results.set(value, r);
    }
    return r;
  }
}

/**
 * Compiles `source` for whole-value matching in linear time.
 * @throws SyntaxError saying why RE2 refuses it (invalid syntax, a backreference, lookaround, …).
 */
export function compileSafeRegex(source: string): SafeRegex {
  const RE2 = re2();
  let re: RE2Type;
  try {
    // Compiled alone first, so that `a)|(b` is refused rather than escaping the anchors below.
    track(new RE2(source, 'u'));
    re = new RE2(`^(?:${source})$`, 'u');
  } catch (err) {
    const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, '');
    throw new SyntaxError(`${why} (patterns run on RE2, in linear time: no backreferences or lookaround)`);
  }
  return new Re2Regex(source, track(re));
}
