import * as path from 'node:path';
import type { Command } from 'commander';
import { Agent } from '../agent/agent';
import { agentConfigSchema, agentResources, agentToken, describeAgentConfig, parseAttributes, type AgentConfig } from '../agent/config';
import { SystemClock } from '../common/clock';
import type { Logger } from '../common/logging';
import { registerDaemonCommand } from './daemon-command';
import type { CliOutput } from './io';
import { packageVersion } from './version';

export function registerAgentCommand(program: Command, out: CliOutput): void {
  registerDaemonCommand(program, out, {
    name: 'agent',
    description: 'run an agent: registers with the master, runs the tasks it is sent, reports their states reliably',
    examples: '  berth agent --master 127.0.0.1:5050 --work-dir /var/lib/berth-agent\n  berth agent --master 10.0.0.1:5050 --resources "cpus:8;mem:16384" --attributes "rack:r1"',
    schema: agentConfigSchema,
    describeConfig: describeAgentConfig,
    logLevel: (config) => config.logLevel,
    run: async (config, logger, stopped) => {
      const agent = await runAgent(config, logger, stopped);
      // SIGTERM leaves tasks running (for upgrades, as Mesos) unless asked to kill them.
      return () => agent.stop({ killTasks: config.killTasksOnShutdown });
    },
  });
}

/** The agent's composition root: builds the Agent from the config and starts it. */
export async function runAgent(config: AgentConfig, logger: Logger, onShutdown: () => void): Promise<Agent> {
  const agent = new Agent({
    master: config.master,
    hostname: config.hostname,
    resources: agentResources(config.resources),
    attributes: parseAttributes(config.attributes),
    workDir: path.resolve(config.workDir),
    clock: new SystemClock(),
    version: packageVersion(),
    reconnectMaxMs: config.reconnectMaxMs,
    token: agentToken(config),
    onShutdown,
    logger,
  });
  await agent.start();
  logger.info('agent started', { master: config.master, workDir: path.resolve(config.workDir), agentId: agent.agentId });
  return agent;
}
