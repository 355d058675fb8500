/**
 * The modules file (`--modules FILE`, YAML or JSON): third-party modules loaded as a daemon starts.
 *
 *     modules:
 *       - module: ./examples/modules/rotating-logger     # a path (relative to this file) or a package name
 *         options: { maxBytes: 1048576, keep: 3 }
 *       - module: berth-policy-authorizer
 *         options: { policyFile: /etc/berth/policy.yaml }
 *
 * Each module exports a {@link BerthModule} (as `berthModule`, or as the default export): its name,
 * the extension point it implements, an optional `validate(options)` and `create(options, context)`.
 * Everything is checked before the daemon serves: a module that cannot be found or loaded, does not
 * export a module, names an unknown extension point, takes a name already taken, or refuses its
 * options is a {@link ConfigError} (exit 78) naming the entry, the module and the field.
 *
 * One file may serve every daemon (`berth dev` hands it to its master and agent): each process
 * creates only the modules of the extension points it hosts.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError, readConfigDocument, type ConfigProblem } from '../config';
import type { BerthModule, ExtensionRegistry } from './extension-registry';
import { EXTENSION_POINT_NAMES, isExtensionPoint, MODULE_NAME } from './points';

const fileSchema = z.strictObject({
  modules: z.array(z.strictObject({
    module: z.string().min(1, 'must name a package or a path (./my-module.js)'),
    options: z.record(z.string(), z.unknown()).default({}),
  })).default([]),
});

/** One entry of the modules file as loaded. */
export interface LoadedModule {
  readonly module: BerthModule;
  readonly options: Readonly<Record<string, unknown>>;
  /** `modules[0] (./rotating-logger in file /etc/berth/modules.yaml)` */
  readonly origin: string;
}

/**
 * Reads the modules file, loads and checks every module, and registers each in `registry`.
 * @param namedBy who named the file (`modules`, for the `modules` setting / `--modules` flag).
 * @throws ConfigError listing every problem (all entries are checked, not only the first bad one).
 */
export function loadModulesFile(file: string, namedBy: string, registry: ExtensionRegistry, cwd = process.cwd()): LoadedModule[] {
  const absolute = path.resolve(cwd, file);
  const where = `in file ${file}, named by ${namedBy}`;
  const parsed = fileSchema.safeParse(readConfigDocument(absolute, namedBy));
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => {
      const at = issue.path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`)).join('') || '(file)';
      return { path: at, message: `${at}: ${issue.message} (${where})` };
    }));
  }
  const problems: ConfigProblem[] = [];
  const loaded: LoadedModule[] = [];
  parsed.data.modules.forEach((entry, i) => {
    const at = `modules[${i}]`;
    const origin = `${at} (${entry.module} ${where})`;
    const fail = (field: string, why: string) => problems.push({ path: `${at}${field}`, message: `${at}${field}: ${why} (${where})` });
    const mod = requireModule(entry.module, path.dirname(absolute));
    if ('problem' in mod) return fail('.module', `module ${JSON.stringify(entry.module)} ${mod.problem}`);
    const shape = shapeProblem(mod.exported);
    if (shape !== undefined) return fail('.module', `module ${JSON.stringify(entry.module)} (${mod.file}) ${shape}`);
    const module = mod.exported as BerthModule;
    let refused: readonly { field: string; message: string }[] | undefined;
    try {
      refused = module.validate?.(entry.options);
    } catch (err) {
      refused = [{ field: '(options)', message: `validate threw: ${(err as Error).message}` }];
    }
    if (refused !== undefined && refused.length > 0) {
      for (const r of refused) fail(`.options.${r.field}`, `module "${module.name}": ${r.message}`);
      return;
    }
    const taken = registry.register({ module, options: entry.options, origin, builtIn: false });
    if (taken !== undefined) return fail('', `module "${module.name}": ${taken}`);
    loaded.push({ module, options: entry.options, origin });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded;
}

/** What an entry's `module` names: a path (relative to the modules file) or a package. */
function requireModule(spec: string, baseDir: string): { exported: unknown; file: string } | { problem: string } {
  const isPath = spec.startsWith('.') || path.isAbsolute(spec);
  let file: string;
  try {
    file = isPath ? require.resolve(path.resolve(baseDir, spec)) : require.resolve(spec, { paths: [baseDir, process.cwd()] });
  } catch {
    return { problem: isPath ? `cannot be loaded: nothing at ${path.resolve(baseDir, spec)} (a path is relative to the modules file)` : 'cannot be loaded: no such package (install it, or give a path)' };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exports = require(file) as { berthModule?: unknown; default?: unknown };
    return { exported: exports.berthModule ?? exports.default ?? exports, file };
  } catch (err) {
    return { problem: `(${file}) failed to load: ${(err as Error).message.split('\n')[0]}` };
  }
}

function shapeProblem(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return 'exports no module (export berthModule = { name, extends, create })';
  const { name, extends: point, create, validate } = m as Record<string, unknown>;
  if (typeof name !== 'string' || !MODULE_NAME.test(name)) return `exports a module whose name ${JSON.stringify(name)} is not lowercase letters, digits, "." and "-"`;
  if (typeof point !== 'string' || !isExtensionPoint(point)) return `(module "${name}") extends ${JSON.stringify(point)}, which is no extension point; one of ${EXTENSION_POINT_NAMES.join(', ')}`;
  if (typeof create !== 'function') return `(module "${name}") has no create(options, context) function`;
  if (validate !== undefined && typeof validate !== 'function') return `(module "${name}") has a validate that is not a function`;
  return undefined;
}
