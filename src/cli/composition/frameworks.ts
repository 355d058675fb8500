/**
 * The framework host process as inversify container modules: the extension registry
 * (./extensions.ts) with the host's points (`authenticator`, `authorizer`: ./auth.ts), the plugins'
 * store (files under workDir, or a NATS JetStream KV bucket), the host's and plugins' metrics, and
 * the FrameworkHost with its plugins. Only `startFrameworks` (../frameworks-command.ts) resolves
 * them; tests build a FrameworkHost by hand.
 */
import * as path from 'node:path';
import { Container, ContainerModule, type ServiceIdentifier } from 'inversify';
import type { Clock } from '../../common/clock';
import { ConfigError, configToken } from '../../common/config';
import type { Logger } from '../../common/logging';
import { natsAuthOptions } from '../../common/nats-auth';
import { loadTls } from '../../common/tls';
import { pluginName, type FrameworksConfig } from '../../frameworks/host/config';
import { FrameworkHost, type FrameworkHostOptions } from '../../frameworks/host/host';
import { FrameworkHostMetrics } from '../../frameworks/host/host-metrics';
import { FileKeyValueStore, NatsKeyValueStore, type KeyValueStore } from '../../frameworks/sdk/store';
import { AuthId, authComposition } from './auth';
import { extensionsModule } from './extensions';

/** The plugins' store and what closes it. */
export interface FrameworksStore {
  readonly store: KeyValueStore;
  close(): Promise<void>;
}

export const FrameworksStoreId: ServiceIdentifier<FrameworksStore> = Symbol.for('berth.frameworks.Store');
export const FrameworksMetricsId: ServiceIdentifier<FrameworkHostMetrics> = Symbol.for('berth.frameworks.Metrics');
export const FrameworkHostId: ServiceIdentifier<FrameworkHost> = Symbol.for('berth.frameworks.Host');

/** What the config's other files hold: TLS material and the plugins' own tokens. */
interface FrameworksFiles {
  readonly tls: NonNullable<FrameworkHostOptions['tls']>;
  readonly tokens: ReadonlyMap<string, string>;
}
export const FrameworksFilesId: ServiceIdentifier<FrameworksFiles> = Symbol.for('berth.frameworks.Files');

/** A plugin's own token (`pluginTokenFiles.<name>`); a file that cannot be read is a configuration error naming it. */
function pluginToken(name: string, tokenFile: string): string {
  try {
    return configToken({ tokenFile })!; // a tokenFile given: a token or a ConfigError
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(err.problems.map((p) => ({ path: `pluginTokenFiles.${name}`, message: p.message.replace(/^tokenFile:/, `pluginTokenFiles.${name}:`) })));
  }
}

function hostModule(config: FrameworksConfig, clock: Clock, logger: Logger): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(FrameworksMetricsId).toConstantValue(new FrameworkHostMetrics());
    bind(FrameworksStoreId).toResolvedValue(async (): Promise<FrameworksStore> => {
      if (config.store === 'nats') {
        const nats = await NatsKeyValueStore.open({ servers: config.nats.servers, bucket: config.nats.bucket, replicas: config.nats.replicas, connectOptions: natsAuthOptions(config.nats, 'nats') });
        return { store: nats, close: () => nats.close() };
      }
      const files = new FileKeyValueStore(path.resolve(config.workDir));
      return { store: files, close: () => files.close() };
    }).inSingletonScope();
    bind(FrameworksFilesId).toResolvedValue((): FrameworksFiles => {
      const tlsServer = config.tls.certFile === undefined ? undefined : loadTls(config.tls, 'tls', 'server');
      const tlsClient = loadTls({ ...config.tls, clientCertificates: 'none' }, 'tls', 'client');
      const tokenFiles = JSON.parse(config.pluginTokenFiles) as Record<string, string>;
      return {
        tls: {
          ...(tlsServer !== undefined ? { server: tlsServer } : {}),
          ...(tlsClient !== undefined ? { client: { caFile: config.tls.caFile, certFile: config.tls.certFile, keyFile: config.tls.keyFile } } : {}),
        },
        tokens: new Map(Object.entries(tokenFiles).map(([name, tokenFile]) => [name, pluginToken(name, tokenFile)])),
      };
    }).inSingletonScope();
    bind(FrameworkHostId).toResolvedValue((auth, files, store, metrics) => {
      const options = JSON.parse(config.pluginOptions) as Record<string, Record<string, unknown>>;
      return new FrameworkHost({
        masters: config.masters,
        token: configToken(config),
        plugins: config.plugins.map((module) => {
          const name = pluginName(module);
          const token = files.tokens.get(name);
          return { name, module, options: options[name] ?? {}, ...(token !== undefined ? { token } : {}) };
        }),
        store: store.store,
        clock,
        grpc: { host: config.grpc.host, port: config.grpc.port },
        tls: files.tls,
        ...(auth.authenticator !== undefined ? { authenticator: auth.authenticator, authorizer: auth.authorizer } : {}),
        metrics,
        logger,
      });
    }, [AuthId, FrameworksFilesId, FrameworksStoreId, FrameworksMetricsId]).inSingletonScope();
  });
}

/**
 * The host's container. Loading it reads the modules file (a bad one throws ConfigError: exit 78);
 * `getAsync(AuthId)` and `getAsync(FrameworksFilesId)` read every file the config names,
 * `getAsync(FrameworksStoreId)` opens the store (NATS when configured), `getAsync(FrameworkHostId)`
 * builds the host.
 */
export function frameworksContainer(config: FrameworksConfig, parts: { readonly clock: Clock; readonly logger: Logger }): Container {
  const auth = authComposition(config.auth, parts.logger);
  const container = new Container();
  container.load(
    extensionsModule({ process: 'frameworks', builtIns: auth.builtIns, modulesFile: config.modules, clock: parts.clock, logger: parts.logger, workDir: path.resolve(config.workDir) }),
    auth.module,
    hostModule(config, parts.clock, parts.logger),
  );
  return container;
}
