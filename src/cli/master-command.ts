import * as path from 'node:path';
import { channelCredentials, loadTls, serverCredentials } from '../common/tls';
import { SystemClock } from '../common/clock';
import type { Logger } from '../common/logging';
import { loadAuth } from '../common/auth';
import { authorizeView, dashboardApiFor } from '../master/dashboard-api';
import { dashboardAssets } from '../master/dashboard-assets';
import { parseMinAllocatable, type MasterConfig } from '../master/config';
import { MasterDaemon } from '../master/daemon';
import { startHttpServer } from '../common/http-server';
import { MasterMetrics, metricKey } from '../master/metrics';
import { FileRegistry } from '../master/registry/file-registry';
import { SoloLeadership } from '../master/registry/solo-election';
import type { BusEvent } from '../master/event-bus';
import type { LeaderElection, Registry } from '../master/registry/registry';
import { RandomSorter } from '../allocator/random-sorter';
import type { SorterFactory } from '../allocator/sorter';
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
  const metrics = new MasterMetrics();
  const { authenticator, authorizer } = loadAuth(config.auth, logger);
  const tls = loadTls(config.tls, 'tls', 'server');
  const closers: (() => Promise<void>)[] = [];
  let election: LeaderElection;
  let openRegistry: (term: number) => Promise<Registry>;
  let publishEvent: ((event: BusEvent) => void) | undefined;
  const httpAddress = `${config.http.host}:${config.http.port}`;
  if (config.registry.kind === 'nats') {
    // NATS's client and the JetStream parts load only for a master that uses them.
    const nats = await (require('./master-nats') as typeof import('./master-nats')).natsParts(config, logger, clock, httpAddress);
    closers.push(...nats.closers);
    ({ election, openRegistry, publishEvent } = nats);
  } else {
    election = new SoloLeadership();
    openRegistry = async () => FileRegistry.open({ dir: path.resolve(config.workDir, 'registry') });
  }
  const sorter = (kind: 'drf' | 'random'): SorterFactory | undefined => (kind === 'random' ? (pool, random) => new RandomSorter(pool, random) : undefined);
  const daemon = new MasterDaemon({
    core: {
      masterId: config.masterId,
      version: packageVersion(),
      allocationIntervalMs: config.allocationIntervalMs,
      offerTimeoutMs: config.offerTimeoutMs,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      agentPingTimeoutMs: config.agentPingTimeoutMs,
      maxAgentPingTimeouts: config.maxAgentPingTimeouts,
      agentReregisterTimeoutMs: config.agentReregisterTimeoutMs,
      maxCompletedTasksPerFramework: config.maxCompletedTasksPerFramework,
      maxCompletedFrameworks: config.maxCompletedFrameworks,
      maxPendingReconciliationsPerFramework: config.maxPendingReconciliationsPerFramework,
      defaultFailoverTimeoutMs: config.frameworkFailoverTimeoutDefaultMs,
      maxFrameworkBufferBytes: config.maxFrameworkBufferBytes,
      region: config.region,
      zone: config.zone,
      httpAddress,
    },
    grpcHost: config.grpc.host,
    grpcPort: config.grpc.port,
    grpcCredentials: serverCredentials(tls),
    maxMessageBytes: config.maxMessageBytes,
    allocator: {
      minAllocatableResources: parseMinAllocatable(config.minAllocatableResources),
      fairnessExcludedResourceNames: config.fairnessExcludedResourceNames,
      roleSorter: sorter(config.roleSorter),
      frameworkSorter: sorter(config.frameworkSorter),
      gangHoldMs: config.gangHoldMs,
    },
    clock,
    logger,
    metrics,
    election,
    openRegistry,
    publishEvent,
    authenticate: authenticator === undefined ? undefined : (md, certificate) => authenticator.authenticate(md, certificate),
    authorizer,
    metricsSnapshot: async () => (await metrics.snapshot()).map((s) => ({ name: metricKey(s), value: s.value })),
  });
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
