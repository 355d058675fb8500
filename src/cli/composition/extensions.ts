/**
 * What every process's composition shares: the extension registry with the built-ins and the
 * modules file loaded (validated before anything starts; exit 78), bound in the container, and the
 * one way a point's selected implementations are created.
 */
import { ContainerModule, type ServiceIdentifier } from 'inversify';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import { createModule, ExtensionRegistry, type BerthModule, type ModuleContext } from '../../common/modules/extension-registry';
import { loadModulesFile } from '../../common/modules/modules-file';
import { EXTENSION_POINTS, type BerthProcess, type ExtensionPointName } from '../../common/modules/points';

/** The registry of a process: built-ins registered, the modules file loaded. */
export const Extensions: ServiceIdentifier<ExtensionRegistry> = Symbol.for('berth.Extensions');
/** What the process's modules are created with. */
export const ModuleContextId: ServiceIdentifier<Omit<ModuleContext, 'logger'> & { readonly logger: Logger }> = Symbol.for('berth.ModuleContext');

/** Aborted by the composition root when the process stops (the modules' `context.signal`). */
export const ModulesStop: ServiceIdentifier<AbortController> = Symbol.for('berth.ModulesStop');

/** Binds the registry: `builtIns` first, then the modules of `modulesFile` (when given). */
export function extensionsModule(opts: { process: BerthProcess; builtIns: readonly BerthModule[]; modulesFile: string | undefined; clock: Clock; logger: Logger; workDir: string }): ContainerModule {
  return new ContainerModule(({ bind }) => {
    const registry = new ExtensionRegistry().builtIn(...opts.builtIns);
    if (opts.modulesFile !== undefined) {
      const loaded = loadModulesFile(opts.modulesFile, 'modules', registry);
      const here = loaded.filter((m) => (EXTENSION_POINTS[m.module.extends].processes as readonly string[]).includes(opts.process));
      opts.logger.info('modules loaded', { file: opts.modulesFile, modules: here.map((m) => `${m.module.name} (${m.module.extends})`).join(', ') || 'none for this process' });
    }
    bind(Extensions).toConstantValue(registry);
    const stop = new AbortController();
    bind(ModulesStop).toConstantValue(stop);
    bind(ModuleContextId).toConstantValue({ process: opts.process, clock: opts.clock, logger: opts.logger, workDir: opts.workDir, signal: stop.signal });
  });
}

/** The implementation a one-point uses, with its name. */
export async function createSelected<T>(registry: ExtensionRegistry, context: Omit<ModuleContext, 'logger'> & { readonly logger: Logger }, point: ExtensionPointName, fallback: string): Promise<{ name: string; impl: T }> {
  const entry = registry.selectOne(point, fallback);
  return { name: entry.module.name, impl: await createModule<T>(entry, context) };
}

/** Every implementation a many-point runs, in order, with their names. */
export async function createAll<T>(registry: ExtensionRegistry, context: Omit<ModuleContext, 'logger'> & { readonly logger: Logger }, point: ExtensionPointName): Promise<{ name: string; impl: T }[]> {
  const out: { name: string; impl: T }[] = [];
  for (const entry of registry.selectMany(point)) out.push({ name: entry.module.name, impl: await createModule<T>(entry, context) });
  return out;
}
