/**
 * The master process as inversify container modules: the extension registry (./extensions.ts),
 * the selected authenticator and authorizer (./auth.ts), the registry backend (registry and
 * election: file and solo, NATS JetStream, or a module's), the allocator, role sorter and
 * task-label hooks, the metrics and the MasterDaemon. Only
 * `startMaster` (../master-command.ts) resolves them; bench/master-child.ts and the tests build the
 * MasterDaemon by hand, with fakes where they need them.
 */
import * as path from 'node:path';
import { Container, ContainerModule, type ServiceIdentifier } from 'inversify';
import { HierarchicalAllocator } from '../../allocator/hierarchical-allocator';
import { RandomSorter } from '../../allocator/random-sorter';
import type { SorterFactory } from '../../allocator/sorter';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { BerthModule } from '../../common/modules/extension-registry';
import type { TlsMaterial } from '../../common/tls';
import { serverCredentials } from '../../common/tls';
import { parseMinAllocatable, type MasterConfig } from '../../master/config';
import { MasterDaemon } from '../../master/daemon';
import type { AllocatorFactory, RegistryBackend, TaskLabelDecorator } from '../../master/extensions';
import { MasterMetrics, metricKey } from '../../master/metrics';
import { FileRegistry } from '../../master/registry/file-registry';
import { SoloLeadership } from '../../master/registry/solo-election';
import { packageVersion } from '../version';
import { AuthId, authComposition } from './auth';
import { createAll, createSelected, Extensions, extensionsModule, ModuleContextId } from './extensions';

export const MasterRegistryBackend: ServiceIdentifier<RegistryBackend> = Symbol.for('berth.master.RegistryBackend');
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

/**
 * The master's built-ins (besides the auth ones): the hierarchical allocator, the drf and random role
 * sorters, the file and jetstream registry backends.
 */
function builtIns(config: MasterConfig, parts: MasterParts): BerthModule[] {
  return [
    { name: 'hierarchical', extends: 'allocator', create: (): AllocatorFactory => (options) => new HierarchicalAllocator(options) },
    // undefined: the allocator's own default (DRF).
    { name: 'drf', extends: 'roleSorter', create: () => undefined },
    { name: 'random', extends: 'roleSorter', create: () => random },
    // No election: one master per registry directory (the daemon then leads alone).
    { name: 'file', extends: 'registryBackend', create: (): RegistryBackend => ({ openRegistry: async () => FileRegistry.open({ dir: path.resolve(config.workDir, 'registry') }) }) },
    // NATS's client and the JetStream parts load only for a master that uses them.
    { name: 'jetstream', extends: 'registryBackend', create: () => (require('../master-nats') as typeof import('../master-nats')).natsParts(config, parts.logger, parts.clock, parts.httpAddress) },
  ];
}

function masterModule(config: MasterConfig, parts: MasterParts): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(MasterMetricsId).toConstantValue(new MasterMetrics());
    bind(MasterRegistryBackend).toResolvedValue(async (registry, context) =>
      (await createSelected<RegistryBackend>(registry, context, 'registryBackend', config.registry.kind === 'nats' ? 'jetstream' : 'file')).impl,
    [Extensions, ModuleContextId]).inSingletonScope();
    bind(MasterDaemonId).toResolvedValue(async (registry, context, auth, backend, metrics) => {
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
          priorityClasses: config.priorityClasses,
          preemption: config.preemption,
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
        election: backend.election ?? new SoloLeadership(),
        openRegistry: (term) => backend.openRegistry(term),
        publishEvent: backend.publishEvent?.bind(backend),
        authenticate: authenticator === undefined ? undefined : (md, certificate) => authenticator.authenticate(md, certificate),
        authorizer,
        metricsSnapshot: async () => (await metrics.snapshot()).map((s) => ({ name: metricKey(s), value: s.value })),
      });
    }, [Extensions, ModuleContextId, AuthId, MasterRegistryBackend, MasterMetricsId]).inSingletonScope();
  });
}

/**
 * The master's container. Loading it reads the modules file (a bad one throws ConfigError: exit
 * 78); `getAsync(MasterDaemonId)` builds the auth, the registry backend and the daemon.
 */
export function masterContainer(config: MasterConfig, parts: MasterParts): Container {
  const auth = authComposition(config.auth, parts.logger);
  const container = new Container();
  container.load(
    extensionsModule({ process: 'master', builtIns: [...auth.builtIns, ...builtIns(config, parts)], modulesFile: config.modules, clock: parts.clock, logger: parts.logger, workDir: path.resolve(config.workDir) }),
    auth.module,
    masterModule(config, parts),
  );
  return container;
}
