/**
 * The framework host's composition root (`berth frameworks`, and the frameworks of `berth dev`):
 * resolves the container (./composition/frameworks.ts), starts the host and its HTTP port
 * (`/metrics` with the plugins' own metrics, `/health/live`, `/health/ready`).
 */
import { authorizeView } from '../common/auth';
import { SystemClock } from '../common/clock';
import { startHttpServer } from '../common/http-server';
import type { Logger } from '../common/logging';
import type { FrameworksConfig } from '../frameworks/host/config';
import type { FrameworkHost } from '../frameworks/host/host';
import { AuthId } from './composition/auth';
import { ModulesStop } from './composition/extensions';
import { FrameworkHostId, frameworksContainer, FrameworksFilesId, FrameworksMetricsId, FrameworksStoreId } from './composition/frameworks';

/** The framework host's composition root for `berth frameworks`: starts it and returns its stopper. */
export async function runFrameworks(config: FrameworksConfig, logger: Logger): Promise<() => Promise<void>> {
  const running = await startFrameworks(config, logger);
  return () => running.stop();
}

/** A started framework host, as {@link startFrameworks} returns it. */
export interface RunningFrameworks {
  readonly host: FrameworkHost;
  /** The bound HTTP address (`/metrics`, health). */
  readonly httpAddress: string;
  stop(): Promise<void>;
}

/** Builds the store and the host with its plugins, and serves their APIs and the HTTP port (also used by `berth dev`). */
export async function startFrameworks(config: FrameworksConfig, logger: Logger): Promise<RunningFrameworks> {
  const container = frameworksContainer(config, { clock: new SystemClock(), logger });
  const modulesStop = container.get(ModulesStop);
  const closers: (() => Promise<void>)[] = [async () => modulesStop.abort()];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0)) await close().catch((err: unknown) => logger.warn('stopping a part of the framework host failed', { err }));
  };
  try {
    // Every file the config names is checked before the store is opened (exit 78 on a bad one).
    const auth = await container.getAsync(AuthId);
    const { tls } = await container.getAsync(FrameworksFilesId);
    const store = await container.getAsync(FrameworksStoreId);
    closers.unshift(() => store.close());
    const host = await container.getAsync(FrameworkHostId);
    closers.unshift(() => host.stop());
    await host.start();
    const http = await startHttpServer({
      ...(tls.server !== undefined ? { tls: tls.server } : {}),
      host: config.http.host,
      port: config.http.port,
      metrics: container.get(FrameworksMetricsId),
      ready: () => host.readiness(),
      // With authentication on, /metrics needs a token whose principal may view the cluster.
      authorizeMetrics: auth.authenticator === undefined ? undefined : authorizeView(auth.authenticator, auth.authorizer),
      logger,
    });
    closers.unshift(() => http.close());
    logger.info('framework host started', { plugins: config.plugins, api: host.grpcAddress, http: http.address, store: config.store });
    return { host, httpAddress: http.address, stop: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
