/**
 * The master process as inversify container modules: the extension registry (./extensions.ts),
 * authentication and the selected authorizer, the registry and election (file and solo, or NATS),
 * the allocator, role sorter and task-label hooks, the metrics and the MasterDaemon. Only
 * `startMaster` (../master-command.ts) resolves them; bench/master-child.ts and the tests build the
 * MasterDaemon by hand, with fakes where they need them.
 */
import * as path from 'node:path';
import { Container, ContainerModule, type ServiceIdentifier } from 'inversify';
import { HierarchicalAllocator } from '../../allocator/hierarchical-allocator';
import { RandomSorter } from '../../allocator/random-sorter';
import type { SorterFactory } from '../../allocator/sorter';
import { Authorizer, loadAuth, type AccessPolicy, type AuthSetup } from '../../common/auth';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { BerthModule } from '../../common/modules/extension-registry';
import type { TlsMaterial } from '../../common/tls';
import { serverCredentials } from '../../common/tls';
import { parseMinAllocatable, type MasterConfig } from '../../master/config';
import { MasterDaemon } from '../../master/daemon';
import type { BusEvent } from '../../master/event-bus';
import type { AllocatorFactory, TaskLabelDecorator } from '../../master/extensions';
import { MasterMetrics, metricKey } from '../../master/metrics';
import { FileRegistry } from '../../master/registry/file-registry';
import type { LeaderElection, Registry } from '../../master/registry/registry';
import { SoloLeadership } from '../../master/registry/solo-election';
import { packageVersion } from '../version';
import { createAll, createSelected, Extensions, extensionsModule, ModuleContextId } from './extensions';

/** The election, the registry opener and the event mirror, with what closes them. */
export interface RegistryParts {
  readonly election: LeaderElection;
  readonly openRegistry: (term: number) => Promise<Registry>;
  readonly publishEvent?: (event: BusEvent) => void;
  readonly closers: (() => Promise<void>)[];
}

export const MasterAuth: ServiceIdentifier<AuthSetup> = Symbol.for('berth.master.Auth');
export const MasterRegistryParts: ServiceIdentifier<RegistryParts> = Symbol.for('berth.master.RegistryParts');
export const MasterMetricsId: ServiceIdentifier<MasterMetrics> = Symbol.for('berth.master.Metrics');
export const MasterDaemonId: ServiceIdentifier<MasterDaemon> = Symbol.for('berth.master.Daemon');

/** What the composition root made before the container: the process's clock and logger, TLS, the HTTP address. */
export interface MasterParts {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly tls: TlsMaterial | undefined;
  readonly httpAddress: string;
}

const random: SorterFactory = (pool, rng) => new RandomSorter(pool, rng);

/** The master's built-ins: the hierarchical allocator, the drf and random role sorters, the ACLs-file authorizer. */
function builtIns(auth: () => AuthSetup): BerthModule[] {
  return [
    { name: 'hierarchical', extends: 'allocator', create: (): AllocatorFactory => (options) => new HierarchicalAllocator(options) },
    // undefined: the allocator's own default (DRF).
    { name: 'drf', extends: 'roleSorter', create: () => undefined },
    { name: 'random', extends: 'roleSorter', create: () => random },
    { name: 'acl-file', extends: 'authorizer', create: () => auth().authorizer ?? new Authorizer([]) },
  ];
}

function masterModule(config: MasterConfig, auth: () => AuthSetup, parts: MasterParts): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(MasterMetricsId).toConstantValue(new MasterMetrics());
    bind(MasterAuth).toResolvedValue(async (registry, context) => {
      // Checked as the master starts: a bad tokens or ACLs file is a configuration error (exit 78).
      const { authenticator } = auth();
      if (authenticator === undefined) return {};
      const authorizer = await createSelected<AccessPolicy>(registry, context, 'authorizer', 'acl-file');
      return { authenticator, authorizer: authorizer.impl };
    }, [Extensions, ModuleContextId]).inSingletonScope();
    bind(MasterRegistryParts).toResolvedValue(async (): Promise<RegistryParts> => {
      if (config.registry.kind === 'nats') {
        // NATS's client and the JetStream parts load only for a master that uses them.
        return (require('../master-nats') as typeof import('../master-nats')).natsParts(config, parts.logger, parts.clock, parts.httpAddress);
      }
      return { election: new SoloLeadership(), openRegistry: async () => FileRegistry.open({ dir: path.resolve(config.workDir, 'registry') }), closers: [] };
    }).inSingletonScope();
    bind(MasterDaemonId).toResolvedValue(async (registry, context, auth, registryParts, metrics) => {
      const createAllocator = (await createSelected<AllocatorFactory>(registry, context, 'allocator', 'hierarchical')).impl;
      const roleSorter = (await createSelected<SorterFactory | undefined>(registry, context, 'roleSorter', config.roleSorter)).impl;
      const taskLabelDecorators = await createAll<TaskLabelDecorator>(registry, context, 'taskLabelDecorator');
      const { authenticator, authorizer } = auth;
      return new MasterDaemon({
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
          httpAddress: parts.httpAddress,
        },
        grpcHost: config.grpc.host,
        grpcPort: config.grpc.port,
        grpcCredentials: serverCredentials(parts.tls),
        maxMessageBytes: config.maxMessageBytes,
        allocator: {
          minAllocatableResources: parseMinAllocatable(config.minAllocatableResources),
          fairnessExcludedResourceNames: config.fairnessExcludedResourceNames,
          gangHoldMs: config.gangHoldMs,
          roleSorter,
          frameworkSorter: config.frameworkSorter === 'random' ? random : undefined,
        },
        createAllocator,
        taskLabelDecorators,
        clock: parts.clock,
        logger: parts.logger,
        metrics,
        election: registryParts.election,
        openRegistry: registryParts.openRegistry,
        publishEvent: registryParts.publishEvent,
        authenticate: authenticator === undefined ? undefined : (md, certificate) => authenticator.authenticate(md, certificate),
        authorizer,
        metricsSnapshot: async () => (await metrics.snapshot()).map((s) => ({ name: metricKey(s), value: s.value })),
      });
    }, [Extensions, ModuleContextId, MasterAuth, MasterRegistryParts, MasterMetricsId]).inSingletonScope();
  });
}

/**
 * The master's container. Loading it reads the modules file (a bad one throws ConfigError: exit
 * 78); `getAsync(MasterDaemonId)` builds the auth, the registry parts and the daemon.
 */
export function masterContainer(config: MasterConfig, parts: MasterParts): Container {
  let setup: AuthSetup | undefined;
  const auth = (): AuthSetup => (setup ??= loadAuth(config.auth, parts.logger));
  const container = new Container();
  container.load(
    extensionsModule({ process: 'master', builtIns: builtIns(auth), modulesFile: config.modules, clock: parts.clock, logger: parts.logger, workDir: path.resolve(config.workDir) }),
    masterModule(config, auth, parts),
  );
  return container;
}
