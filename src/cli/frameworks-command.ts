import * as path from 'node:path';
import { loadAuth } from '../common/auth';
import { natsAuthOptions } from '../common/nats-auth';
import { loadTls } from '../common/tls';
import { ConfigError, configToken } from '../common/config';
import { SystemClock } from '../common/clock';
import type { Logger } from '../common/logging';
import { pluginName, type FrameworksConfig } from '../frameworks/host/config';
import { FrameworkHost } from '../frameworks/host/host';
import { FileKeyValueStore, NatsKeyValueStore, type KeyValueStore } from '../frameworks/sdk/store';

/** The framework host's composition root for `berth frameworks`: starts it and returns its stopper. */
export async function runFrameworks(config: FrameworksConfig, logger: Logger): Promise<() => Promise<void>> {
  const running = await startFrameworks(config, logger);
  return () => running.stop();
}

/** A plugin's own token (`pluginTokenFiles.<name>`); a file that cannot be read is a configuration error naming it. */
function pluginToken(name: string, tokenFile: string): string {
  try {
    return configToken({ tokenFile })!; // a tokenFile given: a token or a ConfigError
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(err.problems.map((p) => ({ path: `pluginTokenFiles.${name}`, message: p.message.replace(/^tokenFile:/, `pluginTokenFiles.${name}:`) })));
  }
}

/** Builds the store and the host with its plugins, and serves their APIs (also used by `berth dev`). */
export async function startFrameworks(config: FrameworksConfig, logger: Logger): Promise<{ host: FrameworkHost; stop(): Promise<void> }> {
  // Every file the config names is checked before anything starts (exit 78 on a bad one).
  const { authenticator, authorizer } = loadAuth(config.auth, logger);
  const tlsServer = config.tls.certFile === undefined ? undefined : loadTls(config.tls, 'tls', 'server');
  const tlsClient = loadTls({ ...config.tls, clientCertificates: 'none' }, 'tls', 'client');
  let store: KeyValueStore;
  let closeStore = async (): Promise<void> => undefined;
  if (config.store === 'nats') {
    const nats = await NatsKeyValueStore.open({ servers: config.nats.servers, bucket: config.nats.bucket, replicas: config.nats.replicas, connectOptions: natsAuthOptions(config.nats, 'nats') });
    store = nats;
    closeStore = () => nats.close();
  } else {
    const files = new FileKeyValueStore(path.resolve(config.workDir));
    store = files;
    closeStore = () => files.close();
  }
  const options = JSON.parse(config.pluginOptions) as Record<string, Record<string, unknown>>;
  const tokenFiles = JSON.parse(config.pluginTokenFiles) as Record<string, string>;
  const tokens = new Map(Object.entries(tokenFiles).map(([name, tokenFile]) => [name, pluginToken(name, tokenFile)]));
  const host = new FrameworkHost({
    masters: config.masters,
    token: configToken(config),
    plugins: config.plugins.map((module) => {
      const name = pluginName(module);
      const token = tokens.get(name);
      return { name, module, options: options[name] ?? {}, ...(token !== undefined ? { token } : {}) };
    }),
    store,
    clock: new SystemClock(),
    grpc: { host: config.grpc.host, port: config.grpc.port },
    tls: {
      ...(tlsServer !== undefined ? { server: tlsServer } : {}),
      ...(tlsClient !== undefined ? { client: { caFile: config.tls.caFile, certFile: config.tls.certFile, keyFile: config.tls.keyFile } } : {}),
    },
    ...(authenticator !== undefined ? { authenticator, authorizer } : {}),
    logger,
  });
  try {
    await host.start();
  } catch (err) {
    await host.stop();
    await closeStore();
    throw err;
  }
  logger.info('framework host started', { plugins: config.plugins, api: host.grpcAddress, store: config.store });
  return {
    host,
    stop: async () => {
      await host.stop();
      await closeStore();
    },
  };
}
