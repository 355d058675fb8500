import * as path from 'node:path';
import type { Command } from 'commander';
import { SystemClock } from '../common/clock';
import { CONFIG_EXIT_CODE, ConfigError, configFields, loadConfigWithSources, formatSource } from '../common/config';
import { createLogger, type Logger } from '../common/logging';
import { loadAuth } from '../master/auth';
import { describeConfig, masterConfigSchema, parseMinAllocatable, type MasterConfig } from '../master/config';
import { MasterDaemon } from '../master/daemon';
import { startHttpServer } from '../master/http-server';
import { MasterMetrics, metricKey } from '../master/metrics';
import { FileRegistry } from '../master/registry/file-registry';
import { JetStreamRegistry } from '../master/registry/jetstream-registry';
import { NatsLeaderElection } from '../master/registry/nats-election';
import { SoloLeadership } from '../master/registry/solo-election';
import { NatsEventMirror } from '../master/registry/nats-mirror';
import type { BusEvent } from '../master/event-bus';
import type { LeaderElection, Registry } from '../master/registry/registry';
import { RandomSorter } from '../allocator/random-sorter';
import type { SorterFactory } from '../allocator/sorter';
import { connect } from '@nats-io/transport-node';
import { CliExit, type CliOutput } from './io';
import { packageVersion } from './version';

/** Adds every config field as a flag (`--grpc-port`), so flags, `BERTH_*` env and a file all work. */
export function addConfigOptions(cmd: Command, fields: ReturnType<typeof configFields>): Command {
  cmd.option('--config <file>', 'YAML or JSON config file (also BERTH_CONFIG)');
  for (const f of fields) {
    const text = `${f.description} [env ${f.env}; default ${f.defaultText}]`;
    if (f.kind === 'boolean') cmd.option(`${f.flag} [bool]`, text);
    else cmd.option(`${f.flag} <value>`, text);
  }
  return cmd;
}

export function registerMasterCommand(program: Command, out: CliOutput): void {
  const cmd = program
    .command('master')
    .description('run a master: the gRPC APIs for frameworks, agents and operators, the allocator, /metrics and health')
    .option('--help-config', 'list every setting with its flag, environment variable and default')
    .addHelpText('after', '\nExamples:\n  berth master --auth-enabled false                       # one master, file registry in ./berth-master\n  berth master --registry-kind nats --nats-servers nats://127.0.0.1:4222 --auth-tokens-file tokens.yaml');
  addConfigOptions(cmd, configFields(masterConfigSchema));
  cmd.action(async (opts: Record<string, unknown>) => {
    if (opts['helpConfig'] === true) {
      out.stdout(describeConfig());
      return;
    }
    let config: MasterConfig;
    let sources: string;
    try {
      const loaded = loadConfigWithSources({ schema: masterConfigSchema, flags: opts });
      config = loaded.config;
      sources = [...loaded.sources].filter(([, s]) => s.kind !== 'default').map(([k, s]) => `${k} (${formatSource(s)})`).join(', ');
    } catch (err) {
      if (err instanceof ConfigError) {
        out.stderr(`berth master: invalid configuration:\n${err.problems.map((p) => `  ${p.message}`).join('\n')}\n`);
        throw new CliExit(CONFIG_EXIT_CODE);
      }
      throw err;
    }
    const logger = createLogger({ component: 'master', level: config.logLevel });
    logger.info('configuration loaded', { set: sources });
    const stop = await runMaster(config, logger);
    await new Promise<void>((resolve) => {
      const onSignal = (signal: string) => {
        logger.info('shutting down', { signal });
        void stop().then(resolve, resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
    });
  });
}

/** The master's composition root: builds every part from the config and starts them. Returns a stopper. */
export async function runMaster(config: MasterConfig, logger: Logger): Promise<() => Promise<void>> {
  const clock = new SystemClock();
  const metrics = new MasterMetrics();
  const { authenticator, authorizer } = loadAuth(config.auth, logger);
  const closers: (() => Promise<void>)[] = [];
  let election: LeaderElection;
  let openRegistry: (term: number) => Promise<Registry>;
  let publishEvent: ((event: BusEvent) => void) | undefined;
  const httpAddress = `${config.http.host}:${config.http.port}`;
  if (config.registry.kind === 'nats') {
    const nc = await connect({ servers: config.nats.servers, name: `berth-master ${config.masterId}`, maxReconnectAttempts: -1 });
    closers.push(async () => void (await nc.close()));
    election = new NatsLeaderElection({ nc, bucket: config.nats.electionBucket, replicas: config.nats.replicas, leaseMs: config.nats.leaseMs, self: { id: config.masterId, grpcAddress: `${config.grpc.host}:${config.grpc.port}`, httpAddress }, clock, logger: logger.child({ component: 'election' }) });
    openRegistry = (term) => JetStreamRegistry.open({ nc, bucket: config.nats.registryBucket, replicas: config.nats.replicas, term, leaderId: config.masterId });
    // Cluster events also go to NATS (berth.events.<kind> and the BERTH_EVENTS stream).
    const mirror = await NatsEventMirror.create({ nc, replicas: config.nats.replicas, logger: logger.child({ component: 'event-mirror' }) });
    closers.unshift(() => mirror.close());
    publishEvent = (event) => mirror.publish(event);
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
      defaultFailoverTimeoutMs: config.frameworkFailoverTimeoutDefaultMs,
      maxFrameworkBufferBytes: 64 << 20,
      region: config.region,
      zone: config.zone,
      httpAddress,
    },
    grpcHost: config.grpc.host,
    grpcPort: config.grpc.port,
    maxMessageBytes: config.maxMessageBytes,
    allocator: {
      minAllocatableResources: parseMinAllocatable(config.minAllocatableResources),
      fairnessExcludedResourceNames: config.fairnessExcludedResourceNames,
      roleSorter: sorter(config.roleSorter),
      frameworkSorter: sorter(config.frameworkSorter),
    },
    clock,
    logger,
    metrics,
    election,
    openRegistry,
    publishEvent,
    authenticate: authenticator === undefined ? undefined : (md) => authenticator.authenticate(md),
    authorizer,
    metricsSnapshot: async () => (await metrics.snapshot()).map((s) => ({ name: metricKey(s), value: s.value })),
  });
  await daemon.start();
  const http = await startHttpServer({
    host: config.http.host,
    port: config.http.port,
    metrics,
    ready: () => (daemon.core !== undefined ? { ready: true } : { ready: false, reason: 'not the leader' }),
    leader: () => election.leader(),
    logger,
  });
  logger.info('master serving', { grpc: daemon.grpcAddress, http: http.address });
  return async () => {
    await http.close();
    await daemon.stop();
    for (const close of closers) await close();
  };
}
