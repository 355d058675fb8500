/**
 * The commands that run daemons — `berth master`, `berth agent`, `berth frameworks`, `berth dev` — as
 * the command tree declares them. Their composition roots (master-command.ts, agent-command.ts,
 * frameworks-command.ts, dev-command.ts) and config schemas load only when one of them runs or
 * prints its help: gRPC, NATS, dockerode, winston and zod are not paid for by `berth --version`.
 */
import type { Command } from 'commander';
import type { CliOutput } from './io';
import { configProblems, registerDaemonCommand } from './daemon-command';
import { CliExit } from './io';
import { cliCommand, packagePath } from './invocation';

export function registerMasterCommand(program: Command, out: CliOutput): void {
  registerDaemonCommand(program, out, {
    name: 'master',
    description: 'run a master: the gRPC APIs for frameworks, agents and operators, the allocator, /metrics and health',
    examples: '  berth master --auth-enabled false                       # one master, file registry in ./berth-master\n  berth master --registry-kind nats --nats-servers nats://127.0.0.1:4222 --auth-tokens-file tokens.yaml',
    load: () => {
      const { describeConfig, masterConfigSchema } = require('../master/config') as typeof import('../master/config');
      return {
        schema: masterConfigSchema,
        describeConfig,
        logLevel: (config) => config.logLevel,
        run: (config, logger) => (require('./master-command') as typeof import('./master-command')).runMaster(config, logger),
      };
    },
  });
}

export function registerAgentCommand(program: Command, out: CliOutput): void {
  registerDaemonCommand(program, out, {
    name: 'agent',
    description: 'run an agent: registers with the master, runs the tasks it is sent, reports their states reliably; /metrics and health on its HTTP port',
    examples: '  berth agent --master 127.0.0.1:5050 --work-dir /var/lib/berth-agent\n  berth agent --master 10.0.0.1:5050 --resources "cpus:8;mem:16384" --attributes "rack:r1" --http-host 0.0.0.0',
    load: () => {
      const { agentConfigSchema, describeAgentConfig } = require('../agent/config') as typeof import('../agent/config');
      return {
        schema: agentConfigSchema,
        describeConfig: describeAgentConfig,
        logLevel: (config) => config.logLevel,
        run: async (config, logger, stopped) => {
          const running = await (require('./agent-command') as typeof import('./agent-command')).runAgent(config, logger, stopped);
          // SIGTERM leaves tasks running (for upgrades, as Mesos) unless asked to kill them.
          return () => running.stop({ killTasks: config.killTasksOnShutdown });
        },
      };
    },
  });
}

export function registerFrameworksCommand(program: Command, out: CliOutput): void {
  registerDaemonCommand(program, out, {
    name: 'frameworks',
    description: 'run framework plugins (the built-in services, jobs and batch, and your own) against the master, serving their APIs',
    examples: '  berth frameworks --masters 127.0.0.1:5050 --auth-enabled false     # services, jobs and batch, state in ./berth-frameworks, API open on 127.0.0.1\n  berth frameworks --plugins services,./examples/hello-framework --plugin-options \'{"hello-framework": {"count": 5}}\' --auth-enabled false\n  berth frameworks --store nats --nats-servers nats://10.0.0.1:4222 --masters 10.0.0.1:5050,10.0.0.2:5050 --auth-tokens-file /etc/berth/tokens.yaml --auth-acls-file /etc/berth/acls.yaml',
    load: () => {
      const { describeFrameworksConfig, frameworksConfigSchema } = require('../frameworks/host/config') as typeof import('../frameworks/host/config');
      return {
        schema: frameworksConfigSchema,
        describeConfig: describeFrameworksConfig,
        logLevel: (config) => config.logLevel,
        run: (config, logger) => (require('./frameworks-command') as typeof import('./frameworks-command')).runFrameworks(config, logger),
      };
    },
  });
}

/** What `berth dev` prints once the cluster runs: where everything is, and commands to paste next. */
export function devBanner(cluster: { masterGrpc: string; masterHttp: string; frameworksGrpc: string | undefined; frameworksHttp?: string; containerizers: readonly string[] }): string {
  const docker = cluster.containerizers.includes('DOCKER');
  const processes = cluster.containerizers.includes('PROCESS');
  const runs = docker && processes ? 'Docker containers and processes' : docker ? 'Docker containers only (process tasks are refused)' : 'plain processes only (DOCKER tasks are refused)';
  const cli = cliCommand();
  return [
    'Berth dev cluster is running (Ctrl-C stops it; tasks stop with it).',
    `  master       ${cluster.masterGrpc} (gRPC)   dashboard: http://${cluster.masterHttp}/`,
    `  agent        localhost, ${runs}`,
    `  frameworks   services, jobs and batch, APIs on ${cluster.frameworksGrpc}${cluster.frameworksHttp === undefined ? '' : `   metrics: http://${cluster.frameworksHttp}/metrics`}`,
    '',
    'Next: deploy an example app, run the example plugin, or look at what runs (in another terminal):',
    // The examples run on the local Docker image (examples/README.md).
    ...(docker ? [`  ${cli} app deploy ${packagePath('examples/apps/web.yaml')} --frameworks ${cluster.frameworksGrpc}`] : []),
    `  ${cli} frameworks --masters ${cluster.masterGrpc} --plugins ${packagePath('examples/hello-framework')} --grpc-port 0 --auth-enabled false`,
    `  ${cli} task logs hello-0 --master ${cluster.masterGrpc}`,
    `  ${cli} agent list --master ${cluster.masterGrpc}`,
    '',
  ].join('\n');
}

export function registerDevCommand(program: Command, out: CliOutput): void {
  program
    .command('dev')
    .description('run a whole single-node cluster in one process: master, one agent, the services, jobs and batch frameworks (127.0.0.1 only, no authentication)')
    .option('--work-dir <dir>', 'where the cluster keeps its state', './berth-dev')
    .option('--grpc-port <port>', 'the master\'s gRPC port (frameworks, agents, operators, the CLI)', '5050')
    .option('--http-port <port>', 'the master\'s HTTP port (dashboard, metrics, health)', '5051')
    .option('--agent-http-port <port>', 'the agent\'s HTTP port (metrics, health)', '5052')
    .option('--frameworks-port <port>', 'the gRPC port of the frameworks\' APIs (berth.v1.Services, berth.v1.Jobs, berth.v1.Batch)', '5060')
    .option('--frameworks-http-port <port>', 'the framework host\'s HTTP port (metrics, health)', '5061')
    .option('--plugins <list>', 'more framework plugins to run, comma-separated paths or packages')
    .option('--plugin-options <json>', 'options per plugin name, JSON', '{}')
    .option('--containerizers <kind>', 'auto (Docker when an engine answers), docker,process, docker or process', 'auto')
    .option('--resources <text>', 'the agent\'s resources (default: detected)')
    .option('--modules <file>', 'modules file (YAML or JSON) for the extension points of the master, the agent and the framework host (docs/modules.md)')
    .option('--log-level <level>', 'error, warn, info or debug', 'warn')
    .addHelpText('after', '\nExamples:\n  berth dev\n  berth dev --plugins ./examples/hello-framework --plugin-options \'{"hello-framework": {"count": 3}}\'\n  berth dev --containerizers process --work-dir /tmp/berth-dev')
    .action(async (opts: import('./dev-command').DevOptions) => {
      const { DevUsageError, startDev } = require('./dev-command') as typeof import('./dev-command');
      const level = opts.logLevel as 'error' | 'warn' | 'info' | 'debug';
      if (!['error', 'warn', 'info', 'debug'].includes(level)) throw new DevUsageError(`--log-level must be error, warn, info or debug, got "${opts.logLevel}"`);
      const { ConfigError, CONFIG_EXIT_CODE } = require('../common/config') as typeof import('../common/config');
      const cluster = await startDev(opts, level).catch((err: unknown) => {
        // A bad file it was given (the modules file, a plugin's options): exit 78, as the daemons.
        if (!(err instanceof ConfigError)) throw err;
        out.stderr(`berth dev: invalid configuration:\n${configProblems(err)}\n`);
        throw new CliExit(CONFIG_EXIT_CODE);
      });
      out.stdout(devBanner(cluster));
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          out.stdout('stopping the dev cluster…\n');
          void cluster.stop().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
