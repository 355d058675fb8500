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
 * Strings from env and flags are coerced per the schema's type: numbers, booleans (`true/false`,
 * `1/0`, `yes/no`, `on/off`), choices, comma-separated lists, and durations (`500ms`, `15s`, `10m`,
 * `1h30m`; a bare number is milliseconds) for fields made with {@link duration}. Durations are held as
 * integer milliseconds, which is why duration fields are named `…Ms`. A `null` in the file means "not
 * set". The loaded config is deep-frozen: components read it, nobody edits it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { z } from 'zod';
import { BerthError } from './errors';

/** Exit code for a bad configuration: `EX_CONFIG` of sysexits.h. */
export const CONFIG_EXIT_CODE = 78;

/** Extra facts about a config field that zod types cannot carry; attach with `schema.register(configMeta, …)`. */
export interface ConfigFieldMeta {
  /** `'duration'`: the field holds milliseconds and accepts `15s`-style text. Set by {@link duration}. */
  readonly kind?: 'duration';
  /** Shown by help instead of the default value, for computed defaults (`<hostname>:<pid>`). */
  readonly defaultText?: string;
  /** Replaces the generated expectation in errors: `<path>: must be <expect>, got …`. */
  readonly expect?: string;
  /** Never echo the value in an error (passwords, tokens, URLs with credentials). */
  readonly secret?: boolean;
}

/** The registry of {@link ConfigFieldMeta}, per schema instance. */
export const configMeta = z.registry<ConfigFieldMeta>();

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

/** A duration field: integer milliseconds, accepting `500ms`, `15s`, `10m`, `1h30m`, `2d` from text. */
export function duration(bounds: { readonly min?: number; readonly max?: number } = {}): z.ZodNumber {
  let s = z.number().int().min(bounds.min ?? 0);
  if (bounds.max !== undefined) s = s.max(bounds.max);
  return s.register(configMeta, { kind: 'duration' });
}

/** A TCP port; 0 asks the OS for an ephemeral one. */
export function port(): z.ZodNumber {
  return z.number().int().min(0).max(65535);
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `15s`, `1.5s`, `10m`, `1h30m`, `2d` or bare milliseconds; `undefined` if malformed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s);
  if (s === '') return undefined;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  while (part.lastIndex < s.length) {
    const m = part.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return Math.round(total);
}

/** Formats milliseconds in the largest unit that divides them: 600000 → `10m`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit]! === 0) return `${ms / UNIT_MS[unit]!}${unit}`;
  }
  return `${ms}ms`;
}

// ---------------------------------------------------------------------------------------------
// Schema introspection: the loader walks the zod schema to know each field's type, default, doc.
// ---------------------------------------------------------------------------------------------

type Kind = 'object' | 'string' | 'number' | 'duration' | 'boolean' | 'choice' | 'list' | 'other';

interface SchemaNode {
  readonly kind: Kind;
  readonly core: z.ZodType;
  readonly meta: ConfigFieldMeta;
  readonly description?: string;
  readonly optional: boolean;
  readonly hasDefault: boolean;
  readonly defaultValue?: unknown;
  readonly choices?: readonly unknown[];
  readonly element?: SchemaNode;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
}

// zod 4 keeps a schema's structure in `_zod.def`; only these few fields are read.
interface Def { type: string; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType; defaultValue?: unknown; shape?: Record<string, z.ZodType>;
  element?: z.ZodType; entries?: Record<string, unknown>; values?: unknown[]; options?: z.ZodType[] }
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

function inspect(schema: z.ZodType): SchemaNode {
  let s = schema;
  let description: string | undefined;
  let meta: ConfigFieldMeta = {};
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  for (;;) {
    description ??= s.description;
    meta = { ...configMeta.get(s), ...meta }; // the outermost wrapper wins
    const def = defOf(s);
    if (def.type === 'optional' || def.type === 'nullable') optional = true;
    else if ((def.type === 'default' || def.type === 'prefault') && !hasDefault) [hasDefault, defaultValue] = [true, def.defaultValue];
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === 'pipe') s = defOf(def.in!).type === 'transform' ? def.out! : def.in!; // preprocess | transform
    else break;
  }
  const def = defOf(s);
  const base = { core: s, meta, description, optional, hasDefault, defaultValue };
  switch (def.type) {
    case 'object': return { ...base, kind: 'object', shape: def.shape };
    case 'string': return { ...base, kind: 'string' };
    case 'number': return { ...base, kind: meta.kind === 'duration' ? 'duration' : 'number' };
    case 'boolean': return { ...base, kind: 'boolean' };
    case 'enum': return { ...base, kind: 'choice', choices: Object.values(def.entries!) };
    case 'literal': return { ...base, kind: 'choice', choices: def.values };
    case 'array': return { ...base, kind: 'list', element: inspect(def.element!) };
    case 'union': {
      const parts = def.options!.map(inspect);
      if (parts.every((p) => p.kind === 'choice')) return { ...base, kind: 'choice', choices: parts.flatMap((p) => p.choices!) };
      return { ...base, kind: 'other' };
    }
    default: return { ...base, kind: 'other' };
  }
}

/** A leaf field of a config schema, as help and the CLI need it. */
export interface ConfigField {
  /** Dotted path, e.g. `grpc.port`. */
  readonly path: string;
  /** Command-line flag, e.g. `--grpc-port`. */
  readonly flag: string;
  /** The key commander uses for the flag's value, e.g. `grpcPort`. */
  readonly flagKey: string;
  /** Environment variable, e.g. `BERTH_GRPC_PORT`. */
  readonly env: string;
  /** What a valid value looks like, e.g. `an integer between 0 and 65535`. */
  readonly expect: string;
  /** The default as help shows it: a value, `(unset)` for optional fields, `(required)`, or the field's `defaultText`. */
  readonly defaultText: string;
  /** The schema's `.describe()` text. */
  readonly description: string;
  /** Whether the value is a list (comma-separated in env and flags) or a boolean (flag without a value). */
  readonly kind: Kind;
}

interface Leaf extends ConfigField {
  readonly segments: readonly string[];
  readonly node: SchemaNode;
}

const camel = (segments: readonly string[]): string =>
  segments.map((s, i) => (i === 0 ? s : s.charAt(0).toUpperCase() + s.slice(1))).join('');
const words = (s: string): string[] => s.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(' ');

function leaves(schema: z.ZodType, envPrefix: string): Leaf[] {
  const out: Leaf[] = [];
  const visit = (node: SchemaNode, segments: string[]): void => {
    if (node.kind === 'object' && segments.length < 8) {
      for (const [key, child] of Object.entries(node.shape!)) visit(inspect(child), [...segments, key]);
      return;
    }
    const w = segments.flatMap(words);
    out.push({
      path: segments.join('.'), segments, node, kind: node.kind,
      flag: `--${w.join('-')}`, flagKey: camel(segments), env: envPrefix + w.join('_').toUpperCase(),
      expect: expectation(node), defaultText: defaultText(node), description: node.description ?? '',
    });
  };
  visit(inspect(schema), []);
  return out;
}

function defaultText(node: SchemaNode): string {
  if (node.meta.defaultText !== undefined) return node.meta.defaultText;
  if (!node.hasDefault) return node.optional ? '(unset)' : '(required)';
  const v = node.defaultValue;
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : v.join(',');
  return node.kind === 'duration' && typeof v === 'number' ? `${v} (${formatDuration(v)})` : String(v);
}

const isBound = (n: number | null | undefined): n is number => typeof n === 'number' && Math.abs(n) < Number.MAX_SAFE_INTEGER;

function expectation(node: SchemaNode): string {
  if (node.meta.expect !== undefined) return node.meta.expect;
  const core = node.core as unknown as { minValue?: number | null; maxValue?: number | null; isInt?: boolean; format?: string | null; minLength?: number | null };
  const [lo, hi] = [core.minValue, core.maxValue];
  const range = (fmt: (n: number) => string): string => {
    if (isBound(lo) && isBound(hi)) return ` between ${fmt(lo)} and ${fmt(hi)}`;
    if (isBound(lo) && lo !== 0) return ` of at least ${fmt(lo)}`;
    return isBound(hi) ? ` of at most ${fmt(hi)}` : '';
  };
  switch (node.kind) {
    case 'number': {
      const noun = core.isInt ? 'integer' : 'number';
      return lo === 0 && !isBound(hi) ? `a non-negative ${noun}` : `${core.isInt ? 'an' : 'a'} ${noun}${range(String)}`;
    }
    case 'duration': return `a duration${range(formatDuration)} such as 500ms, 15s or 10m (a bare number is milliseconds)`;
    case 'boolean': return 'true or false';
    case 'choice': return `one of ${node.choices!.map((c) => JSON.stringify(c)).join(', ')}`;
    case 'list': return `a list (comma-separated in env and flags) of ${expectation(node.element!).replace(/^an? /, '')}s`;
    case 'string':
      if (core.format === 'url') return 'a URL';
      if ((core.minLength ?? 0) > 1) return `a string of at least ${core.minLength} characters`;
      return core.minLength === 1 ? 'a non-empty string' : 'a string';
    default: return 'a valid value';
  }
}

/** The fields of a config schema, in declaration order; for help tables and commander option lists. */
export function configFields(schema: z.ZodType, envPrefix = 'BERTH_'): ConfigField[] {
  return leaves(schema, envPrefix).map(({ segments: _s, node: _n, ...field }) => field);
}

/** Renders fields as a plain-text table: name, env var, default, description. */
export function formatConfigTable(fields: readonly ConfigField[]): string {
  const rows = [['NAME', 'ENV', 'DEFAULT', 'DESCRIPTION'], ...fields.map((f) => [f.path, f.env, f.defaultText, f.description])];
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell)).join('  ').trimEnd()).join('\n') + '\n';
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
    const parsed = YAML.parseDocument(text, { prettyErrors: true });
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
