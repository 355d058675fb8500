/**
 * The schema side of daemon configuration: field metadata zod cannot carry, duration and port
 * fields, and walking a zod schema to list its fields (their flag, env var, default and meaning) for
 * the help tables and for the loader in config.ts.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration';

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

export { formatDuration, parseDuration } from './duration';

// ---------------------------------------------------------------------------------------------
// Schema introspection: the loader walks the zod schema to know each field's type, default, doc.
// ---------------------------------------------------------------------------------------------

type Kind = 'object' | 'string' | 'number' | 'duration' | 'boolean' | 'choice' | 'list' | 'other';

export interface SchemaNode {
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

export function inspect(schema: z.ZodType): SchemaNode {
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

export interface Leaf extends ConfigField {
  readonly segments: readonly string[];
  readonly node: SchemaNode;
}

/** `grpc.port` segments → `grpcPort` (commander's option key). */
export const camel = (segments: readonly string[]): string =>
  segments.map((s, i) => (i === 0 ? s : s.charAt(0).toUpperCase() + s.slice(1))).join('');
const words = (s: string): string[] => s.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(' ');

export function leaves(schema: z.ZodType, envPrefix: string): Leaf[] {
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

export function expectation(node: SchemaNode): string {
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
    case 'boolean': return 'true or false (also accepted, in any case: 1/0, yes/no, on/off)';
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
