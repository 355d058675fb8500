import type { Command } from 'commander';
import type { z } from 'zod';
import { CONFIG_EXIT_CODE, ConfigError, configFields, formatSource, loadConfigWithSources } from '../common/config';
import { createLogger, type Logger } from '../common/logging';
import { CliExit, type CliOutput } from './io';

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

/** What a daemon command (`berth master`, `berth agent`) declares; the plumbing is shared. */
export interface DaemonCommandSpec<S extends z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly examples: string;
  readonly schema: S;
  /** The `--help-config` table. */
  readonly describeConfig: () => string;
  readonly logLevel: (config: z.output<S>) => 'error' | 'warn' | 'info' | 'debug';
  /** Starts the daemon; resolves with how to stop it (on SIGTERM/SIGINT) once it runs. */
  readonly run: (config: z.output<S>, logger: Logger, stopped: () => void) => Promise<() => Promise<void>>;
}

/**
 * Registers a daemon command: config from flags, `BERTH_*` env and a file (every bad value listed
 * with its source, exit 78), `--help-config`, a JSON logger, and a graceful stop on SIGTERM/SIGINT.
 */
export function registerDaemonCommand<S extends z.ZodType>(program: Command, out: CliOutput, spec: DaemonCommandSpec<S>): void {
  const cmd = program
    .command(spec.name)
    .description(spec.description)
    .option('--help-config', 'list every setting with its flag, environment variable and default')
    .addHelpText('after', `\nExamples:\n${spec.examples}`);
  addConfigOptions(cmd, configFields(spec.schema));
  cmd.action(async (opts: Record<string, unknown>) => {
    if (opts['helpConfig'] === true) {
      out.stdout(spec.describeConfig());
      return;
    }
    let config: z.output<S>;
    let sources: string;
    try {
      const loaded = loadConfigWithSources({ schema: spec.schema, flags: opts });
      config = loaded.config;
      sources = [...loaded.sources].filter(([, s]) => s.kind !== 'default').map(([k, s]) => `${k} (${formatSource(s)})`).join(', ');
    } catch (err) {
      if (err instanceof ConfigError) {
        out.stderr(`berth ${spec.name}: invalid configuration:\n${err.problems.map((p) => `  ${p.message}`).join('\n')}\n`);
        throw new CliExit(CONFIG_EXIT_CODE);
      }
      throw err;
    }
    const logger = createLogger({ component: spec.name, level: spec.logLevel(config) });
    logger.info('configuration loaded', { set: sources });
    await new Promise<void>((resolve, reject) => {
      let stop: (() => Promise<void>) | undefined;
      const onSignal = (signal: string) => {
        logger.info('shutting down', { signal });
        void (stop?.() ?? Promise.resolve()).then(resolve, resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
      spec.run(config, logger, resolve).then((s) => (stop = s), reject);
    }).catch((err: unknown) => {
      // Files the config names (tokens, ACLs, certificates) are checked as the daemon starts: their
      // problems are configuration errors too, and exit 78 so a service manager does not restart-loop.
      if (err instanceof ConfigError) {
        out.stderr(`berth ${spec.name}: invalid configuration:\n${err.problems.map((p) => `  ${p.message}`).join('\n')}\n`);
        throw new CliExit(CONFIG_EXIT_CODE);
      }
      throw err;
    });
  });
}
