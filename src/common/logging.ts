/**
 * Structured logs: one JSON object per line on stdout (systemd-journald and Docker both capture it),
 *
 *     {"timestamp":"…","level":"info","component":"master","message":"agent registered","agentId":"…"}
 *
 * Components take a {@link Logger} (never winston itself) and bind correlation ids with `child`:
 * `logger.child({ frameworkId })`. Tests pass {@link nullLogger} or a {@link memoryLogger} and assert on
 * its entries. Errors given as fields (by convention `err`) are written with name, message, code, stack
 * and cause, since winston's JSON of an Error is `{}`.
 */
import winston from 'winston';

/** Log levels, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const SEVERITY: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Fields of a log entry: ids (`frameworkId`, `agentId`, `taskId`), numbers, `err`, … */
export type LogFields = Readonly<Record<string, unknown>>;

/** What components log through. Never throws. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every entry (the child's fields win over the parent's). */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Least severe level written. @default 'info' */
  readonly level?: LogLevel;
  /** The `component` field of every entry (`master`, `agent`, `allocator`, …). */
  readonly component: string;
  /** Where lines go. @default process.stdout */
  readonly stream?: NodeJS.WritableStream;
}

/** An error as a plain object that JSON can carry. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: unknown;
  readonly stack?: string;
  readonly cause?: unknown;
}

/** `err` as a plain object: name, message, `code` if any, stack, and its cause (three levels deep). */
export function serializeError(err: Error, depth = 0): SerializedError {
  const code = (err as { code?: unknown }).code;
  const cause = err.cause;
  return {
    name: err.name,
    message: err.message,
    ...(code === undefined ? {} : { code }),
    ...(err.stack === undefined ? {} : { stack: err.stack }),
    ...(cause === undefined ? {} : { cause: cause instanceof Error && depth < 2 ? serializeError(cause, depth + 1) : String(cause) }),
  };
}

// Keys the entry itself uses; a field of the same name is written with a trailing `_`, never dropped.
const RESERVED = new Set(['timestamp', 'level', 'message']);

function prepare(base: LogFields, fields: LogFields | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const source of [base, fields]) {
    if (source === undefined) continue;
    for (const [key, value] of Object.entries(source)) {
      if (value === undefined) continue;
      out[RESERVED.has(key) ? `${key}_` : key] = value instanceof Error ? serializeError(value) : value;
    }
  }
  return out;
}

/** JSON that survives what fields may hold: bigint (as a string), cycles, Maps and Sets. */
function stringify(entry: Record<string, unknown>): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(entry, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Map) return Object.fromEntries(value);
    if (value instanceof Set) return [...value];
    if (value instanceof Error) return serializeError(value);
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  });
}

class WinstonLogger implements Logger {
  constructor(
    private readonly w: winston.Logger,
    private readonly threshold: number,
    private readonly base: LogFields,
  ) {}

  debug(message: string, fields?: LogFields): void { this.write('debug', message, fields); }
  info(message: string, fields?: LogFields): void { this.write('info', message, fields); }
  warn(message: string, fields?: LogFields): void { this.write('warn', message, fields); }
  error(message: string, fields?: LogFields): void { this.write('error', message, fields); }

  child(fields: LogFields): Logger {
    return new WinstonLogger(this.w, this.threshold, { ...this.base, ...fields });
  }

  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (SEVERITY[level] > this.threshold) return; // skip building the entry at all
    try {
      this.w.log(level, message, prepare(this.base, fields));
    } catch {
      // A log line must never take the process down (e.g. a getter that throws in a field).
    }
  }
}

/** A JSON-lines logger writing to `stream` (stdout by default). */
export function createLogger(options: CreateLoggerOptions): Logger {
  const level = options.level ?? 'info';
  const line = winston.format.printf((info) => {
    const { timestamp, level: lvl, message, component, ...fields } = info as Record<string, unknown>;
    return stringify({ timestamp, level: lvl, component, message, ...fields });
  });
  const w = winston.createLogger({
    level,
    levels: SEVERITY,
    format: winston.format.combine(winston.format.timestamp(), line),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
    exitOnError: false,
  });
  return new WinstonLogger(w, SEVERITY[level], { component: options.component });
}

/** Discards everything; for tests and for components nobody listens to. */
export const nullLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => nullLogger,
};

/** One entry recorded by a {@link memoryLogger}: its fields already merged and prepared as written. */
export interface LogEntry {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A logger that records entries for assertions; children record into the same list. */
export interface MemoryLogger extends Logger {
  readonly entries: LogEntry[];
  /** Messages of the entries at `level` (all levels if omitted), in order. */
  messages(level?: LogLevel): string[];
  clear(): void;
}

/** A {@link MemoryLogger} recording entries at `level` and more severe. @param level @default 'debug' */
export function memoryLogger(level: LogLevel = 'debug'): MemoryLogger {
  const entries: LogEntry[] = [];
  const make = (base: LogFields): Logger => {
    const write = (lvl: LogLevel) => (message: string, fields?: LogFields): void => {
      if (SEVERITY[lvl] <= SEVERITY[level]) entries.push({ level: lvl, message, fields: prepare(base, fields) });
    };
    return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (f) => make({ ...base, ...f }) };
  };
  return Object.assign(make({}), {
    entries,
    messages: (lvl?: LogLevel) => entries.filter((e) => lvl === undefined || e.level === lvl).map((e) => e.message),
    clear: () => void entries.splice(0),
  });
}
