import * as path from 'node:path';
import type { Command } from 'commander';
import { Agent } from '../agent/agent';
import { agentConfigSchema, agentResources, describeAgentConfig, parseAttributes, type AgentConfig } from '../agent/config';
import { SystemClock } from '../common/clock';
import { CONFIG_EXIT_CODE, ConfigError, configFields, formatSource, loadConfigWithSources } from '../common/config';
import { createLogger, type Logger } from '../common/logging';
import { CliExit, type CliOutput } from './io';
import { addConfigOptions } from './master-command';
import { packageVersion } from './version';

export function registerAgentCommand(program: Command, out: CliOutput): void {
  const cmd = program
    .command('agent')
    .description('run an agent: registers with the master, runs the tasks it is sent, reports their states reliably')
    .option('--help-config', 'list every setting with its flag, environment variable and default')
    .addHelpText('after', '\nExamples:\n  berth agent --master 127.0.0.1:5050 --work-dir /var/lib/berth-agent\n  berth agent --master 10.0.0.1:5050 --resources "cpus:8;mem:16384" --attributes "rack:r1"');
  addConfigOptions(cmd, configFields(agentConfigSchema));
  cmd.action(async (opts: Record<string, unknown>) => {
    if (opts['helpConfig'] === true) {
      out.stdout(describeAgentConfig());
      return;
    }
    let config: AgentConfig;
    let sources: string;
    try {
      const loaded = loadConfigWithSources({ schema: agentConfigSchema, flags: opts });
      config = loaded.config;
      sources = [...loaded.sources].filter(([, s]) => s.kind !== 'default').map(([k, s]) => `${k} (${formatSource(s)})`).join(', ');
    } catch (err) {
      if (err instanceof ConfigError) {
        out.stderr(`berth agent: invalid configuration:\n${err.problems.map((p) => `  ${p.message}`).join('\n')}\n`);
        throw new CliExit(CONFIG_EXIT_CODE);
      }
      throw err;
    }
    const logger = createLogger({ component: 'agent', level: config.logLevel });
    logger.info('configuration loaded', { set: sources });
    await new Promise<void>((resolve, reject) => {
      let agent: Agent | undefined;
      const onSignal = (signal: string) => {
        logger.info('shutting down', { signal, killTasks: config.killTasksOnShutdown });
        void (agent?.stop({ killTasks: config.killTasksOnShutdown }) ?? Promise.resolve()).then(resolve, resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
      runAgent(config, logger, () => resolve()).then((a) => (agent = a), reject);
    });
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
    onShutdown,
    logger,
  });
  await agent.start();
  logger.info('agent started', { master: config.master, workDir: path.resolve(config.workDir), agentId: agent.agentId });
  return agent;
}
