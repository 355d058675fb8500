/**
 * The named extension points of Berth: where a module (built in, or loaded from a modules file) may
 * plug in. The contracts (the TypeScript interfaces a module's `create` returns) live with the
 * process that calls them — `src/master/extensions.ts`, `src/agent/extensions.ts`, and
 * `src/common/auth.ts` for the authenticator and authorizer, which the framework host uses too.
 * docs/modules.md says, for each, who calls it, when, on which path, and whether it must be
 * idempotent.
 *
 * `one`: the process uses exactly one implementation (the built-in default unless a module is
 * loaded for the point; two modules for one such point are refused). `many`: every module loaded
 * for the point runs, in the order of the modules file, after the built-ins.
 */
export const EXTENSION_POINTS = {
  allocator: { arity: 'one', processes: ['master'] },
  roleSorter: { arity: 'one', processes: ['master'] },
  authenticator: { arity: 'one', processes: ['master', 'frameworks'] },
  authorizer: { arity: 'one', processes: ['master', 'frameworks'] },
  registryBackend: { arity: 'one', processes: ['master'] },
  taskLabelDecorator: { arity: 'many', processes: ['master'] },
  containerizer: { arity: 'one', processes: ['agent'] },
  isolator: { arity: 'many', processes: ['agent'] },
  containerLogger: { arity: 'one', processes: ['agent'] },
  environmentDecorator: { arity: 'many', processes: ['agent'] },
} as const satisfies Record<string, { arity: 'one' | 'many'; processes: readonly BerthProcess[] }>;

/** The daemons that host extension points (`berth dev` hosts all of them, one process each). */
export type BerthProcess = 'master' | 'agent' | 'frameworks';

export type ExtensionPointName = keyof typeof EXTENSION_POINTS;

export const EXTENSION_POINT_NAMES = Object.keys(EXTENSION_POINTS) as ExtensionPointName[];

export function isExtensionPoint(name: string): name is ExtensionPointName {
  return Object.prototype.hasOwnProperty.call(EXTENSION_POINTS, name);
}

/** Module names: what logs, errors and the registry call an implementation. */
export const MODULE_NAME = /^[a-z0-9][a-z0-9.-]*$/;
