/**
 * Daemon configuration: one zod schema per daemon, values from command-line flags, `BERTH_*`
 * environment variables and a YAML or JSON file, merged with the precedence
 *
 *     flags  >  env  >  file  >  schema defaults
 *
 * and validated in one place. A bad configuration is reported all at once — every problem, each
 * naming the field, the bad value and where it came from — because an operator who fixes one typo per
 * restart loses an afternoon. The CLI prints {@link ConfigError}'s message and exits with
 * {@link CONFIG_EXIT_CODE} (78, `EX_CONFIG` from sysexits.h, which systemd and supervisors know).
 *
 * Naming, derived from the schema's field path (`grpc.port`):
 * - flag `--grpc-port` (commander hands it over as `grpcPort`; nested `{grpc:{port}}` works too);
 * - env `BERTH_GRPC_PORT` (prefix + upper snake case; empty values count as not set);
 * - file key `grpc: { port: … }`. Unknown file keys are errors, with a "did you mean" hint.
 *
 * Strings from env, flags and the file are coerced per the schema's type: numbers, booleans
 * (`true/false`, `1/0`, `yes/no`, `on/off`, in any case — every spelling the error message names), choices, comma-separated lists, and durations (`500ms`, `15s`, `10m`,
 * `1h30m`; a bare number is milliseconds) for fields made with {@link duration}. Durations are held as
 * integer milliseconds, which is why duration fields are named `…Ms`. A `null` in the file means "not
 * set". The loaded config is deep-frozen: components read it, nobody edits it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { yaml } from './yaml';
import { z } from 'zod';
import { BerthError } from './errors';
import {
  camel, expectation, inspect, leaves, parseDuration, type Leaf, type SchemaNode,
} from './config-schema';

export { configFields, configMeta, duration, formatConfigTable, formatDuration, parseDuration, port } from './config-schema';
export type { ConfigField, ConfigFieldMeta } from './config-schema';

/** Exit code for a bad configuration: `EX_CONFIG` of sysexits.h. */
export const CONFIG_EXIT_CODE = 78;

/** Where a value came from. */
export type ConfigSource =
  | { readonly kind: 'flag' | 'env' | 'file'; readonly name: string }
  | { readonly kind: 'default' };

/** One problem of a configuration. */
export interface ConfigProblem {
  /** Field path (`grpc.port`, `nats.servers[1]`), or `(file)` for problems with the file itself. */
  readonly path: string;
  /** The whole line, e.g. `grpc.port: must be an integer between 0 and 65535, got "abc" (from env BERTH_GRPC_PORT)`. */
  readonly message: string;
  /** Where the offending value came from, when one value is to blame. */
  readonly source?: ConfigSource;
}

/** A configuration that cannot be used; {@link ConfigError.problems} lists every problem found. */
export class ConfigError extends BerthError {
  declare readonly code: 'INVALID_CONFIG';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const n = problems.length;
    super('INVALID_CONFIG', `invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p.message}`).join('\n')}`);
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions<S extends z.ZodType> {
  /** The daemon's schema: a (strict) object schema whose groups use `.prefault({})`. */
  readonly schema: S;
  /**
   * Command-line values, by commander key (`grpcPort`) or nested (`{ grpc: { port } }`); `undefined`
   * means "not given". `config` names the config file.
   * @default {}
   */
  readonly flags?: Readonly<Record<string, unknown>>;
  /** The environment. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Prefix of environment variable names; `<prefix>CONFIG` names the config file. @default 'BERTH_' */
  readonly envPrefix?: string;
  /** Config file to read when neither flag `--config` nor env `<prefix>CONFIG` names one. @default undefined (no file) */
  readonly file?: string;
  /** Directory that relative config file paths are resolved against. @default process.cwd() */
  readonly cwd?: string;
}

/** A loaded configuration with the source of each field, for the startup log line. */
export interface LoadedConfig<T> {
  readonly config: T;
  /** Source of every leaf field by dotted path (`default` for fields nobody set). */
  readonly sources: ReadonlyMap<string, ConfigSource>;
  /** The config file that was read, if any. */
  readonly file?: string;
}

/** `flag --grpc-port`, `env BERTH_GRPC_PORT`, `file master.yaml`, `default`. */
export function formatSource(source: ConfigSource): string {
  return source.kind === 'default' ? 'default' : `${source.kind} ${source.name}`;
}

/**
 * Loads, merges, coerces and validates a configuration.
 * @throws ConfigError listing every problem; nothing is returned half-valid.
 */
export function loadConfig<S extends z.ZodType>(options: LoadConfigOptions<S>): z.output<S> {
  return loadConfigWithSources(options).config;
}

/** {@link loadConfig}, also telling where each value came from. @throws ConfigError */
export function loadConfigWithSources<S extends z.ZodType>(options: LoadConfigOptions<S>): LoadedConfig<z.output<S>> {
  const prefix = options.envPrefix ?? 'BERTH_';
  const env = options.env ?? process.env;
  const flags = options.flags ?? {};
  const fields = leaves(options.schema, prefix);
  const problems: ConfigProblem[] = [];
  const input: Record<string, unknown> = {};
  const given = new Map<string, { source: ConfigSource; raw: unknown }>();

  // 1. The file, if any: its keys are checked against the schema as it is read.
  const fileFlag = flags['config'];
  const envFile = nonEmpty(env[`${prefix}CONFIG`]);
  const [fileName, fileNamedBy] =
    typeof fileFlag === 'string' ? [fileFlag, 'flag --config'] : envFile !== undefined ? [envFile, `env ${prefix}CONFIG`] : [options.file, 'the daemon'];
  let fileFailed = false;
  if (fileName !== undefined) {
    const doc = readConfigFile(path.resolve(options.cwd ?? process.cwd(), fileName), fileName, fileNamedBy, problems);
    if (doc === undefined) fileFailed = true;
    else takeFile(inspect(options.schema), doc, [], input, { kind: 'file', name: fileName }, given, problems);
  }
  // 2. env overrides the file, 3. flags override env.
  for (const f of fields) {
    const fromEnv = nonEmpty(env[f.env]);
    if (fromEnv !== undefined) set(input, f, fromEnv, { kind: 'env', name: f.env }, given);
    const fromFlag = flagValue(flags, f.segments);
    if (fromFlag !== undefined) set(input, f, fromFlag, { kind: 'flag', name: f.flag }, given);
  }

  const result = options.schema.safeParse(input);
  if (!result.success) {
    const seen = new Set(problems.map((p) => p.message));
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') continue; // already reported, with hints, while reading the file
      const p = problemOf(issue, fields, input, given);
      // Without the file, "missing" and cross-field complaints are noise; keep problems with values set elsewhere.
      if (fileFailed && (p.source === undefined || p.source.kind === 'file')) continue;
      if (!seen.has(p.message)) {
        seen.add(p.message);
        problems.push(p);
      }
    }
    if (problems.length === 0) problems.push({ path: '(config)', message: `(config): ${result.error.issues[0]?.message ?? 'invalid'}` });
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const sources = new Map<string, ConfigSource>(fields.map((f) => [f.path, given.get(f.path)?.source ?? { kind: 'default' }]));
  return { config: deepFreeze(result.data) as z.output<S>, sources, file: fileName };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function flagValue(flags: Readonly<Record<string, unknown>>, segments: readonly string[]): unknown {
  let nested: unknown = flags;
  for (const s of segments) nested = isPlainObject(nested) ? nested[s] : undefined;
  return nested !== undefined && !isPlainObject(nested) ? nested : flags[camel(segments)];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function set(input: Record<string, unknown>, f: Leaf, raw: unknown, source: ConfigSource, given: Map<string, { source: ConfigSource; raw: unknown }>): void {
  let obj = input;
  for (const s of f.segments.slice(0, -1)) {
    if (!isPlainObject(obj[s])) obj[s] = {};
    obj = obj[s] as Record<string, unknown>;
  }
  obj[f.segments[f.segments.length - 1]!] = coerce(f.node, raw);
  given.set(f.path, { source, raw });
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
const BOOLEANS = new Map([['true', true], ['1', true], ['yes', true], ['on', true], ['false', false], ['0', false], ['no', false], ['off', false]]);

/** Text to the schema's type where it is unambiguous; anything else is left for zod to reject with the raw value. */
function coerce(node: SchemaNode, value: unknown): unknown {
  if (node.kind === 'list') {
    const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value;
    return Array.isArray(items) ? items.map((v) => coerce(node.element!, v)) : value;
  }
  if (typeof value !== 'string') return value;
  const s = value.trim();
  switch (node.kind) {
    case 'number': return NUMBER.test(s) ? Number(s) : value;
    case 'duration': return parseDuration(s) ?? value;
    case 'boolean': return BOOLEANS.get(s.toLowerCase()) ?? value;
    case 'choice': {
      const hit = node.choices!.find((c) => String(c) === s);
      return hit === undefined ? value : hit;
    }
    default: return value;
  }
}

/**
 * Reads a YAML or JSON file (JSON if the name ends in `.json`) into a mapping; an empty file is `{}`.
 * For the config file and for other operator-written files (tokens, ACLs).
 * @param namedBy who named the file, for the message (`flag --config`, `auth.tokensFile`).
 * @throws ConfigError naming the file: not found, unreadable, unparsable (with line), or not a mapping.
 */
export function readConfigDocument(file: string, namedBy: string, cwd = process.cwd()): Record<string, unknown> {
  const problems: ConfigProblem[] = [];
  const doc = readConfigFile(path.resolve(cwd, file), file, namedBy, problems);
  if (doc === undefined) throw new ConfigError(problems);
  return doc;
}

function readConfigFile(absolute: string, name: string, namedBy: string, problems: ConfigProblem[]): Record<string, unknown> | undefined {
  const fail = (why: string): undefined => void problems.push({ path: '(file)', message: `file ${name} (named by ${namedBy}): ${why}` });
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? String(err)})`);
  }
  let doc: unknown;
  if (/\.json$/i.test(name)) {
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return fail(`is not valid JSON: ${(err as Error).message}`);
    }
  } else {
    const parsed = yaml().parseDocument(text, { prettyErrors: true });
    if (parsed.errors.length > 0) return fail(`is not valid YAML: ${parsed.errors.map((e) => e.message.split('\n')[0]).join('; ')}`);
    doc = parsed.toJS();
  }
  if (doc === null || doc === undefined) return {};
  return isPlainObject(doc) ? doc : fail(`must be a mapping, got ${got(doc, false)}`);
}

function takeFile(node: SchemaNode, value: Record<string, unknown>, segments: string[], input: Record<string, unknown>, source: ConfigSource,
  given: Map<string, { source: ConfigSource; raw: unknown }>, problems: ConfigProblem[]): void {
  const shape = node.shape!;
  for (const [key, v] of Object.entries(value)) {
    const at = [...segments, key];
    const child = shape[key];
    if (child === undefined) {
      const hint = closest(key, Object.keys(shape));
      const where = hint === undefined ? '' : `; did you mean ${[...segments, hint].join('.')}?`;
      problems.push({ path: at.join('.'), source, message: `${at.join('.')}: unknown key (from ${formatSource(source)})${where}` });
      continue;
    }
    if (v === null) continue;
    const childNode = inspect(child);
    if (childNode.kind === 'object') {
      if (!isPlainObject(v)) {
        problems.push({ path: at.join('.'), source, message: `${at.join('.')}: must be a mapping, got ${got(v, false)} (from ${formatSource(source)})` });
      } else {
        input[key] = {};
        takeFile(childNode, v, at, input[key] as Record<string, unknown>, source, given, problems);
      }
      continue;
    }
    input[key] = coerce(childNode, v);
    given.set(at.join('.'), { source, raw: v });
  }
}

/** The candidate within edit distance ⌈len/3⌉ (at least 2) of `key`, ignoring case. */
function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.ceil(key.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(key.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

function got(v: unknown, secret: boolean | undefined): string {
  if (secret) return '<redacted>';
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function problemOf(issue: z.core.$ZodIssue, fields: readonly Leaf[], input: unknown,
  given: ReadonlyMap<string, { source: ConfigSource; raw: unknown }>): ConfigProblem {
  const issuePath = issue.path.map(String);
  const leaf = fields.find((f) => f.segments.length <= issuePath.length && f.segments.every((s, i) => s === issuePath[i]));
  if (leaf === undefined) {
    const at = issuePath.length === 0 ? '(config)' : issuePath.join('.');
    return { path: at, message: `${at}: ${issue.message}` };
  }
  const extra = issuePath.slice(leaf.segments.length);
  const at = leaf.path + extra.map((i) => `[${i}]`).join('');
  const g = given.get(leaf.path);
  const from = g === undefined ? '' : ` (from ${formatSource(g.source)})`;
  // The value zod saw (coerced); for reports, the value as given (env and flag text before coercion),
  // and for a list element, the element itself.
  const seen = issuePath.reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined), input);
  const value = extra.length > 0 ? seen : g?.raw;
  if (issue.code === 'invalid_type' && seen === undefined && extra.length === 0) {
    return { path: at, message: `${at}: is required; set ${leaf.flag}, ${leaf.env} or "${leaf.path}" in the config file` };
  }
  const node = extra.length > 0 && leaf.node.element !== undefined ? leaf.node.element : leaf.node;
  if (issue.code === 'custom' && g === undefined) return { path: at, message: `${at}: ${issue.message}` }; // a rule, not a bad value
  const what = issue.code === 'custom' ? issue.message : `must be ${expectation(node)}`;
  return { path: at, source: g?.source, message: `${at}: ${what}, got ${got(value, node.meta.secret === true || leaf.node.meta.secret === true)}${from}` };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

/**
 * The bearer token of a daemon's configuration (agent, frameworks host): `token`, or the content of `tokenFile` (trimmed), or
 * undefined when neither is set. Errors name the file, never the token.
 * @throws ConfigError when the file cannot be read or is empty.
 */
export function configToken(config: { readonly token?: string; readonly tokenFile?: string }): string | undefined {
  if (config.token !== undefined) return config.token;
  if (config.tokenFile === undefined) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(config.tokenFile, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: 'tokenFile', message: `tokenFile: cannot read ${config.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  const token = text.trim();
  if (token === '') throw new ConfigError([{ path: 'tokenFile', message: `tokenFile: ${config.tokenFile} is empty` }]);
  return token;
}
