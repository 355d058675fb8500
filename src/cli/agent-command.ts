import * as path from 'node:path';
import { unreachableAbove } from '../agent/task-user';
import { loadTls } from '../common/tls';
import type { Agent } from '../agent/agent';
import { agentResources, parseAttributes, splitList, type AgentConfig } from '../agent/config';
import { agentContainer, AgentDaemon } from './composition/agent';
import { ModulesStop } from './composition/extensions';
import { AgentMetrics, type AgentStatsSource } from '../agent/metrics';
import { SystemClock } from '../common/clock';
import { configToken } from '../common/config';
import { startHttpServer, type HttpServerHandle } from '../common/http-server';
import type { Logger } from '../common/logging';
import { packageVersion } from './version';

/** A started agent and its HTTP port, as {@link runAgent} returns it. */
export interface RunningAgent {
  readonly agent: Agent;
  readonly metrics: AgentMetrics;
  /** The HTTP port (`/metrics`, `/health/live`, `/health/ready`) as bound. */
  readonly http: HttpServerHandle;
  /** Closes the HTTP port, then stops the agent; tasks keep running unless `killTasks`. Idempotent. */
  stop(opts?: { killTasks?: boolean }): Promise<void>;
}

/** What the agent's scrape-time gauges read. */
function agentStatsSource(agent: Agent): AgentStatsSource {
  return {
    tasksByState: () => agent.stats().tasksByState,
    pendingStatusUpdates: () => agent.pendingUpdates(),
    registered: () => agent.registered,
    containers: () => agent.stats().containers,
  };
}

/**
 * The agent's composition root: builds the Agent and its metrics from the config, opens the HTTP
 * port, then starts the agent (recovery, then dialling the master). `/health/ready` answers 200 only
 * while the agent is registered with the master.
 */
export async function runAgent(config: AgentConfig, logger: Logger, onShutdown: () => void): Promise<RunningAgent> {
  const metrics = new AgentMetrics();
  let http: HttpServerHandle | undefined;
  let shuttingDown = false;
  let httpClosed: Promise<void> | undefined;
  const closeHttp = (): Promise<void> => (httpClosed ??= http?.close() ?? Promise.resolve());
  const workDir = path.resolve(config.workDir);
  const clock = new SystemClock();
  // Checked before anything starts: a bad certificate stops the agent with exit 78.
  const tlsClient = loadTls(config.tls, 'tls', 'client');
  const tlsServer = config.tls.certFile === undefined ? undefined : loadTls(config.tls, 'tls', 'server');
  const [region, zone] = config.domain?.split('/') ?? [];
  // The composition (./composition/agent.ts): loading it checks the modules file; resolving builds
  // the containerizer (with the loaded modules around it) and the agent.
  const container = agentContainer(config, {
    master: config.master,
    hostname: config.hostname,
    resources: agentResources(config.resources),
    attributes: parseAttributes(config.attributes),
    workDir,
    clock,
    recover: config.recover,
    allowedHostPaths: splitList(config.allowedHostPaths),
    taskUser: config.taskUser,
    ...(tlsClient !== undefined ? { tls: tlsClient } : {}),
    ...(region !== undefined && zone !== undefined ? { domain: { region, zone } } : {}),
    metrics,
    version: packageVersion(),
    reconnectMaxMs: config.reconnectMaxMs,
    sandboxGc: { gcDelayMs: config.gcDelayMs, gcDiskHeadroom: config.gcDiskHeadroom, diskWatchIntervalMs: config.diskWatchIntervalMs },
    token: configToken(config),
    // The master told the agent to shut down (it has killed its tasks and stopped): close the HTTP
    // port too, or it would keep the process alive.
    onShutdown: () => {
      shuttingDown = true;
      void closeHttp().then(onShutdown);
    },
    logger,
  });
  const modulesStop = container.get(ModulesStop);
  const agent = await container.getAsync(AgentDaemon).catch((err: unknown) => {
    modulesStop.abort();
    throw err;
  });
  const containerizer = agent.containerizer;
  metrics.setStatsSource(agentStatsSource(agent));
  // Bind before starting the agent: a taken port fails the start before any master or task is touched.
  const server = await startHttpServer({
    ...(tlsServer !== undefined ? { tls: { ...tlsServer, clientCertificates: 'none' as const } } : {}),
    host: config.http.host,
    port: config.http.port,
    metrics,
    ready: () => {
      if (shuttingDown) return { ready: false, reason: 'shutting down' };
      return agent.registered ? { ready: true } : { ready: false, reason: 'not registered with the master' };
    },
    logger,
  });
  http = server;
  try {
    await agent.start();
  } catch (err) {
    await closeHttp();
    modulesStop.abort();
    throw err;
  }
  const blocked = (process.getuid?.() ?? 0) === 0 ? unreachableAbove(workDir) : undefined;
  if (blocked !== undefined) logger.warn(`tasks run as other users cannot reach their sandboxes: ${blocked} is closed to others; choose a work dir under a directory others may enter (chmod o+x ${blocked}), e.g. /var/lib/berth-agent`, { workDir });
  logger.info('agent started', { master: config.master, workDir, agentId: agent.agentId, containerizers: containerizer.types.join(','), http: `http://${server.address}` });
  let stopped: Promise<void> | undefined;
  return {
    agent,
    metrics,
    http: server,
    stop: (opts = {}) => {
      shuttingDown = true;
      stopped ??= closeHttp().then(() => agent.stop(opts)).finally(() => modulesStop.abort());
      return stopped;
    },
  };
}
