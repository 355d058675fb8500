/**
 * The agent process as inversify container modules: the extension registry (./extensions.ts), the
 * containerizer (the built-in the `containerizers` setting names, or a module's, wrapped with the
 * loaded isolators, container logger and environment decorators) and the Agent itself. Only
 * `runAgent` (../agent-command.ts) resolves them.
 */
import * as path from 'node:path';
import { Container, ContainerModule, type ServiceIdentifier } from 'inversify';
import { Agent, type AgentOptions } from '../../agent/agent';
import type { AgentConfig } from '../../agent/config';
import type { Containerizer } from '../../agent/containerizer/containerizer';
import { ModularContainerizer } from '../../agent/containerizer/modular-containerizer';
import { selectContainerizer, type ContainerizersSetting } from '../../agent/containerizer/select';
import type { ContainerLogger, EnvironmentDecorator, Isolator } from '../../agent/extensions';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { BerthModule } from '../../common/modules/extension-registry';
import { splitList } from '../../agent/config';
import { createAll, createSelected, Extensions, extensionsModule, ModuleContextId } from './extensions';

export const AgentContainerizer: ServiceIdentifier<Containerizer> = Symbol.for('berth.agent.Containerizer');
export const AgentDaemon: ServiceIdentifier<Agent> = Symbol.for('berth.agent.Agent');

/** The built-in containerizers, one per value of the `containerizers` setting (`docker,process` as `docker-process`). */
function builtInContainerizers(config: AgentConfig, workDir: string): BerthModule<Containerizer>[] {
  const dockerHardening = { noNewPrivileges: config.dockerNoNewPrivileges, dropCapabilities: splitList(config.dockerDropCapabilities), pidsLimit: config.dockerPidsLimit };
  const names: ContainerizersSetting[] = ['auto', 'docker', 'process', 'docker,process'];
  return names.map((setting) => ({
    name: setting.replace(',', '-'),
    extends: 'containerizer',
    create: (_options, { clock, logger }) => selectContainerizer({ setting, dockerSocket: config.dockerSocket, cpuQuota: config.dockerCpuQuota, dockerHardening, processCgroups: config.processCgroups, workDir, clock, logger }),
  }));
}

/** The containerizer and the agent; `agent` is every Agent option but the containerizer. */
function agentModule(config: AgentConfig, agent: Omit<AgentOptions, 'containerizer'>): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(AgentContainerizer).toResolvedValue(async (registry, context) => {
      const base = await createSelected<Containerizer>(registry, context, 'containerizer', config.containerizers.replace(',', '-'));
      const isolators = await createAll<Isolator>(registry, context, 'isolator');
      const environmentDecorators = await createAll<EnvironmentDecorator>(registry, context, 'environmentDecorator');
      const loggers = await createAll<ContainerLogger>(registry, context, 'containerLogger');
      if (isolators.length === 0 && environmentDecorators.length === 0 && loggers.length === 0) return base.impl;
      return new ModularContainerizer(base.impl, { isolators, environmentDecorators, ...(loggers[0] !== undefined ? { containerLogger: loggers[0] } : {}), clock: context.clock, logger: context.logger.child({ component: 'modules' }) });
    }, [Extensions, ModuleContextId]).inSingletonScope();
    bind(AgentDaemon).toResolvedValue((containerizer) => new Agent({ ...agent, containerizer }), [AgentContainerizer]).inSingletonScope();
  });
}

/**
 * The agent's container. Loading it reads the modules file (a bad one throws ConfigError: exit 78);
 * `getAsync(AgentDaemon)` then builds the containerizer (pinging Docker) and the agent.
 */
export function agentContainer(config: AgentConfig, agent: Omit<AgentOptions, 'containerizer'> & { readonly clock: Clock; readonly logger: Logger }): Container {
  const workDir = path.resolve(config.workDir);
  const container = new Container();
  container.load(
    extensionsModule({ process: 'agent', builtIns: builtInContainerizers(config, workDir), modulesFile: config.modules, clock: agent.clock, logger: agent.logger, workDir }),
    agentModule(config, agent),
  );
  return container;
}
