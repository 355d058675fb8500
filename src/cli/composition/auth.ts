/**
 * Authentication and authorization as container parts, shared by the master and the framework host:
 * the `authenticator` point (built in: `bearer-file`, the tokens file) and the `authorizer` point
 * (built in: `acl-file`, the ACLs file). A module loaded for either replaces the built-in; with an
 * authenticator module no tokens file is needed. Both points are used only while `auth.enabled`:
 * a module loaded for them while it is off is refused (exit 78), since it would silently do nothing.
 */
import { ContainerModule, type ServiceIdentifier } from 'inversify';
import { Authorizer, loadAuth, type AccessPolicy, type AuthSetup, type CallerAuthenticator } from '../../common/auth';
import { ConfigError } from '../../common/config';
import type { Logger } from '../../common/logging';
import type { BerthModule, ExtensionRegistry } from '../../common/modules/extension-registry';
import { createModule } from '../../common/modules/extension-registry';
import { Extensions, ModuleContextId } from './extensions';

/** The process's authenticator and authorizer; `{}` while `auth.enabled` is false. */
export const AuthId: ServiceIdentifier<AuthSetup> = Symbol.for('berth.Auth');

type AuthSettings = Parameters<typeof loadAuth>[0];

/**
 * The built-ins of the two points (for the process's extension registry) and the container module
 * binding {@link AuthId}: resolving it creates the selected implementations, reading the tokens and
 * ACLs files only as the built-ins need them (a bad file or module: ConfigError, exit 78).
 */
export function authComposition(auth: AuthSettings, logger: Logger): { builtIns: BerthModule[]; module: ContainerModule } {
  let custom: CallerAuthenticator | undefined;
  let setup: AuthSetup | undefined;
  // Loaded once, after a module's authenticator (if any) is made: then no tokens file is read.
  const files = (): AuthSetup => (setup ??= loadAuth(auth, logger, custom));
  const builtIns: BerthModule[] = [
    { name: 'bearer-file', extends: 'authenticator', create: () => files().authenticator },
    { name: 'acl-file', extends: 'authorizer', create: () => files().authorizer ?? new Authorizer([]) },
  ];
  const module = new ContainerModule(({ bind }) => {
    bind(AuthId).toResolvedValue(async (registry, context): Promise<AuthSetup> => {
      if (!auth.enabled) {
        refuseLoaded(registry);
        return {};
      }
      const chosen = registry.selectOne('authenticator', 'bearer-file');
      if (!chosen.builtIn) custom = await createModule<CallerAuthenticator>(chosen, context);
      const authenticator = custom ?? (await createModule<CallerAuthenticator>(chosen, context));
      const authorizer = await createModule<AccessPolicy>(registry.selectOne('authorizer', 'acl-file'), context);
      return { authenticator, authorizer };
    }, [Extensions, ModuleContextId]).inSingletonScope();
  });
  return { builtIns, module };
}

function refuseLoaded(registry: ExtensionRegistry): void {
  const loaded = [...registry.registered('authenticator'), ...registry.registered('authorizer')].filter((e) => !e.builtIn);
  if (loaded.length === 0) return;
  throw new ConfigError(loaded.map((e) => ({
    path: 'modules',
    message: `module "${e.module.name}" (${e.origin}) is loaded for extension point ${e.module.extends}, but auth.enabled is false: it would never be called; enable authentication or remove the module`,
  })));
}
