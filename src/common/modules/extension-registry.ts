/**
 * One registry of the implementations of every extension point (./points.ts), built in or loaded
 * from a modules file (./modules-file.ts). It refuses a second implementation under a name already
 * taken on the same point, and a second loaded module for a point that takes one implementation, so
 * what runs is never decided by load order. A composition root registers its built-ins, loads the
 * modules file, then asks for what each point uses: `selectOne` or `selectMany`.
 */
import type { Clock } from '../clock';
import { ConfigError, type ConfigProblem } from '../config';
import type { Logger } from '../logging';
import { EXTENSION_POINTS, MODULE_NAME, type BerthProcess, type ExtensionPointName } from './points';

/** What a module's `create` is given. */
export interface ModuleContext {
  /** The process that creates it. */
  readonly process: BerthProcess;
  /** A child logger of the daemon's, with `module: <name>`. */
  readonly logger: Logger;
  readonly clock: Clock;
  /** The daemon's work directory (absolute), where a module may keep files of its own. */
  readonly workDir: string;
  /** Aborted when the daemon stops: clear timers, close watchers and files then. */
  readonly signal: AbortSignal;
}

/** An option a module refuses: `field` is a path inside its options (`maxBytes`, `rules[2].action`). */
export interface ModuleProblem {
  readonly field: string;
  readonly message: string;
}

/**
 * A module: an implementation of one extension point. Third-party modules export one as
 * `berthModule` (or as the default export); built-ins are registered in the same shape.
 */
export interface BerthModule<T = unknown> {
  /** Unique on its point: lowercase letters, digits, `.` and `-`. */
  readonly name: string;
  /** The extension point it implements. */
  readonly extends: ExtensionPointName;
  /** Checks the options (called once, as the daemon starts); every problem names its field. */
  validate?(options: Readonly<Record<string, unknown>>): readonly ModuleProblem[] | undefined;
  /** Builds the implementation (called once per process that hosts the point). */
  create(options: Readonly<Record<string, unknown>>, context: ModuleContext): T | Promise<T>;
}

/** A registered implementation. */
export interface RegisteredModule {
  readonly module: BerthModule;
  readonly options: Readonly<Record<string, unknown>>;
  /** `built-in`, or where it came from: `modules[2] (./loggers/rotate.js in file mods.yaml)`. */
  readonly origin: string;
  readonly builtIn: boolean;
}

export class ExtensionRegistry {
  private readonly byPoint = new Map<ExtensionPointName, RegisteredModule[]>();

  /** Registers built-in implementations (their options are the daemon's own config). */
  builtIn(...modules: BerthModule[]): this {
    for (const module of modules) {
      const problem = this.register({ module, options: {}, origin: 'built-in', builtIn: true });
      if (problem !== undefined) throw new Error(problem); // a programming error: two built-ins share a name
    }
    return this;
  }

  /**
   * Registers a loaded module.
   * @returns what is wrong (a name taken on the point, a second module for a one-implementation
   *   point), or undefined when it was registered.
   */
  register(entry: RegisteredModule): string | undefined {
    const { name, extends: point } = entry.module;
    if (!MODULE_NAME.test(name)) return `module name ${JSON.stringify(name)} must be lowercase letters, digits, "." and "-"`;
    const list = this.byPoint.get(point) ?? [];
    const taken = list.find((e) => e.module.name === name);
    if (taken !== undefined) return `the name "${name}" is already registered on extension point ${point} (by ${taken.origin}); give the module another name`;
    const loaded = list.find((e) => !e.builtIn);
    if (!entry.builtIn && loaded !== undefined && EXTENSION_POINTS[point].arity === 'one') {
      return `extension point ${point} takes one module, and "${loaded.module.name}" (${loaded.origin}) is already loaded for it; remove one of them`;
    }
    list.push(entry);
    this.byPoint.set(point, list);
    return undefined;
  }

  /** Every implementation registered on the point, built-ins first, then modules in file order. */
  registered(point: ExtensionPointName): readonly RegisteredModule[] {
    const list = this.byPoint.get(point) ?? [];
    return [...list.filter((e) => e.builtIn), ...list.filter((e) => !e.builtIn)];
  }

  /** What a one-implementation point uses: the module loaded for it, else the built-in named `fallback`. */
  selectOne(point: ExtensionPointName, fallback: string): RegisteredModule {
    const list = this.byPoint.get(point) ?? [];
    const chosen = list.find((e) => !e.builtIn) ?? list.find((e) => e.module.name === fallback);
    if (chosen === undefined) throw new Error(`extension point ${point} has no implementation named "${fallback}"`);
    return chosen;
  }

  /** What a many-implementation point runs, in order (empty when nothing is registered). */
  selectMany(point: ExtensionPointName): readonly RegisteredModule[] {
    return this.registered(point);
  }

  /** Which module a one-point uses, and which a many-point runs, for the startup log. */
  describe(points: readonly ExtensionPointName[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of points) {
      const loaded = this.registered(p).filter((e) => !e.builtIn);
      if (loaded.length > 0) out[p] = loaded.map((e) => e.module.name).join(',');
    }
    return out;
  }
}

/**
 * Builds a registered module's implementation for this process. A module that throws as it is
 * created is a configuration error (exit 78) naming it; a built-in that throws passes as it is.
 */
export async function createModule<T>(entry: RegisteredModule, context: Omit<ModuleContext, 'logger'> & { readonly logger: Logger }): Promise<T> {
  const logger = context.logger.child({ module: entry.module.name });
  try {
    return (await entry.module.create(entry.options, { ...context, logger })) as T;
  } catch (err) {
    if (entry.builtIn || err instanceof ConfigError) throw err;
    const problem: ConfigProblem = { path: 'modules', message: `module "${entry.module.name}" (${entry.origin}) could not be created for extension point ${entry.module.extends}: ${(err as Error).message}` };
    throw new ConfigError([problem]);
  }
}
