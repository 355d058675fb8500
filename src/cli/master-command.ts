import { channelCredentials, loadTls } from '../common/tls';
import { SystemClock } from '../common/clock';
import type { Logger } from '../common/logging';
import { dashboardApiFor } from '../master/dashboard-api';
import { authorizeView } from '../common/auth';
import { dashboardAssets } from '../master/dashboard-assets';
import type { MasterConfig } from '../master/config';
import type { MasterDaemon } from '../master/daemon';
import type { AuthSetup } from '../common/auth';
import { startHttpServer } from '../common/http-server';
import { HeapTrimmer } from '../common/heap-trim';
import { ModulesStop } from './composition/extensions';
import { AuthId } from './composition/auth';
import { masterContainer, MasterDaemonId, MasterMetricsId, MasterRegistryBackend } from './composition/master';
import { packageVersion } from './version';

/** A started master, as {@link startMaster} returns it. */
export interface RunningMaster {
  /** The bound gRPC address (the real port when 0 was configured). */
  readonly grpcAddress: string;
  /** The bound HTTP address. */
  readonly httpAddress: string;
  stop(): Promise<void>;
}

/** The master's composition root for `berth master`: starts it and returns its stopper. */
export async function runMaster(config: MasterConfig, logger: Logger): Promise<() => Promise<void>> {
  const master = await startMaster(config, logger);
  return () => master.stop();
}

/** Builds every part of a master from the config and starts them (also used by `berth dev`). */
export async function startMaster(config: MasterConfig, logger: Logger): Promise<RunningMaster> {
  const clock = new SystemClock();
  const tls = loadTls(config.tls, 'tls', 'server');
  const httpAddress = `${config.http.host}:${config.http.port}`;
  // The composition (./composition/master.ts): loading it checks the modules file; resolving reads
  // the auth files, opens the registry side (NATS when configured) and builds the daemon.
  const container = masterContainer(config, { clock, logger, tls, httpAddress });
  const modulesStop = container.get(ModulesStop);
  const closers: (() => Promise<void>)[] = [async () => modulesStop.abort()];
  let built: { auth: AuthSetup; daemon: MasterDaemon };
  try {
    // Auth first: a bad tokens or ACLs file, or a module's, stops the master before NATS is dialled.
    const auth = await container.getAsync(AuthId);
    const backend = await container.getAsync(MasterRegistryBackend);
    if (backend.close !== undefined) closers.unshift(() => backend.close!());
    built = { auth, daemon: await container.getAsync(MasterDaemonId) };
  } catch (err) {
    for (const close of closers) await close().catch(() => undefined);
    throw err;
  }
  const { daemon, auth: { authenticator, authorizer } } = built;
  const metrics = container.get(MasterMetricsId);
  const assets = dashboardAssets(); // before starting anything: a broken install fails here
  await daemon.start();
  // The dashboard: static files, vendored libraries, and /api/* read in-process from the daemon.
  const dashboard = dashboardApiFor(daemon, {
    authenticate: authenticator === undefined ? undefined : (md, certificate) => authenticator.authenticate(md, certificate),
    leader: () => daemon.leader(),
    version: packageVersion(),
    frameworks: config.dashboard.frameworks,
    ...(tls !== undefined ? { frameworksCredentials: channelCredentials(tls) } : {}),
  });
  closers.unshift(async () => dashboard.close());
  // A taken HTTP port must not leave the started gRPC side running (the process would hang on).
  const http = await startHttpServer({
    ...(tls !== undefined ? { tls } : {}),
    host: config.http.host,
    port: config.http.port,
    metrics,
    ready: () => (daemon.core !== undefined ? { ready: true } : { ready: false, reason: 'not the leader' }),
    leader: () => daemon.leader(),
    staticDir: assets.staticDir,
    files: assets.files,
    api: dashboard.handle,
    // With authentication on, /metrics and /api/* need a token whose principal may view the cluster.
    authorizeMetrics: authenticator === undefined ? undefined : authorizeView(authenticator, authorizer),
    logger,
  }).catch(async (err: unknown) => {
    for (const close of closers) await close().catch(() => undefined);
    await daemon.stop();
    throw err;
  });
  if (config.heapTrim) {
    const trimmer = new HeapTrimmer({ clock, logger });
    trimmer.start();
    closers.unshift(async () => trimmer.stop());
  }
  logger.info('master serving', { grpc: daemon.grpcAddress, http: http.address });
  return {
    grpcAddress: daemon.grpcAddress,
    httpAddress: http.address,
    stop: async () => {
      await http.close();
      await daemon.stop();
      for (const close of closers) await close();
    },
  };
}
