/**
 * Validation problems and the one error that carries them across the wire edge.
 *
 * Why a list and not the first failure: a framework that sends a FrameworkInfo with three mistakes
 * should learn all three from one ERROR event, not one per round trip. Validators therefore collect
 * {@link Problem}s (field path + message) in a {@link Problems} collector and throw once, at the end,
 * a {@link ValidationError} whose message joins them.
 *
 * The class lives in `common` (not in `master/validation`, which re-exports it) because the wire
 * converters in `common/wire` throw it too, and `common` may not import the master.
 */
import { BerthError, type BerthErrorOptions } from '../errors';

/** One thing wrong with an input: where (a field path) and what (naming the offending value). */
export interface Problem {
  /** Path of the offending field in wire (snake_case) spelling, e.g. `task_infos[0].resources[2].scalar.value`. */
  readonly field: string;
  /** What is wrong, naming the value, e.g. `must be non-negative, got -1`. */
  readonly message: string;
}

/** How many problems the error message spells out; the rest are counted (all stay in `problems`). */
const MESSAGE_PROBLEM_LIMIT = 10;

/** `field: message; field: message …` — the human text of a list of problems. Never throws. */
export function formatProblems(problems: readonly Problem[]): string {
  const shown = problems.slice(0, MESSAGE_PROBLEM_LIMIT).map((p) => (p.field === '' ? p.message : `${p.field}: ${p.message}`));
  const more = problems.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; … and ${more} more problem${more === 1 ? '' : 's'}` : '');
}

/**
 * Input from outside (a gRPC message, a config document) is invalid. Code `INVALID_ARGUMENT`, which
 * the gRPC boundary maps to status 3. `problems` holds every problem found; the message joins them
 * (the first ten spelled out).
 */
export class ValidationError extends BerthError {
  declare readonly code: 'INVALID_ARGUMENT';
  /** Every problem found, in the order the validator met them; never empty. */
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], options?: BerthErrorOptions) {
    const list = problems.length === 0 ? [{ field: '', message: 'invalid input' }] : [...problems];
    super('INVALID_ARGUMENT', formatProblems(list), options);
    this.problems = list;
  }

  /** A ValidationError with a single problem. */
  static of(field: string, message: string, options?: BerthErrorOptions): ValidationError {
    return new ValidationError([{ field, message }], options);
  }
}

/** Whether `err` is a {@link ValidationError} (by `name`, so it works across module copies). */
export function isValidationError(err: unknown): err is ValidationError {
  return err instanceof ValidationError || (err instanceof BerthError && err.name === 'ValidationError' && Array.isArray((err as ValidationError).problems));
}

/**
 * Collects problems and throws them once. Validators take one, `add` as they go, and finish with
 * `throwIfAny()` (or hand `list` on as data, e.g. as a TASK_ERROR message).
 */
export class Problems {
  readonly #list: Problem[] = [];

  /** Every problem collected so far, in order. */
  get list(): readonly Problem[] {
    return this.#list;
  }

  /** How many problems were collected. */
  get size(): number {
    return this.#list.length;
  }

  /** Whether nothing was collected. */
  isEmpty(): boolean {
    return this.#list.length === 0;
  }

  /** Records one problem. */
  add(field: string, message: string): this {
    this.#list.push({ field, message });
    return this;
  }

  /** Records several problems. */
  addAll(problems: Iterable<Problem>): this {
    for (const p of problems) this.#list.push(p);
    return this;
  }

  /**
   * Runs `fn` and returns its result; if it throws a {@link ValidationError} its problems are
   * collected, and any other {@link BerthError} (e.g. a `ResourceError`) or `RangeError` becomes one
   * problem at `field` with the error's message. Returns `undefined` then. Other errors (bugs) pass.
   */
  capture<T>(field: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (isValidationError(err)) this.addAll(err.problems);
      else if (err instanceof BerthError || err instanceof RangeError) this.add(field, err.message);
      else throw err;
      return undefined;
    }
  }

  /** @throws ValidationError with every collected problem, if there is any. */
  throwIfAny(): void {
    if (this.#list.length > 0) throw new ValidationError(this.#list);
  }
}

/**
 * Runs `build` with a fresh collector and returns its result, or throws one {@link ValidationError}
 * with everything `build` collected. The usual shape of a `xxxFromWire` function.
 */
export function collectProblems<T>(build: (problems: Problems) => T): T {
  const problems = new Problems();
  const result = build(problems);
  problems.throwIfAny();
  return result;
}

const MAX_QUOTED = 80;

/**
 * A short, unambiguous rendering of a value for error messages: strings quoted (and cut at 80
 * characters), numbers as JavaScript prints them (`NaN`, `-1`, `Infinity`), `nothing` for undefined.
 * Never throws.
 */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    const s = v.length > MAX_QUOTED ? v.slice(0, MAX_QUOTED) + '…' : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'an array';
  return 'an object';
}

/** `path["key"]`: the path of a map entry (keys such as roles may hold `/` and `.`). */
export function mapField(path: string, key: string): string {
  return `${path}[${JSON.stringify(key)}]`;
}
