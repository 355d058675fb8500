/**
 * The plumbing of the daemon commands (`berth master`, `berth agent`, `berth frameworks`): config from
 * flags, `BERTH_*` env and a file, `--help-config`, a JSON logger, a graceful stop on SIGTERM/SIGINT,
 * and one-line errors for what an operator can fix (a bad setting: exit 78; a taken port: exit 1).
 *
 * Cheap to register: a daemon's config schema (zod) and its code are loaded only when that command
 * runs or prints its help, so `berth --version` or `berth agent list` never load them.
 */
import { Command } from 'commander';
import type { z } from 'zod';
import type { configFields } from '../common/config';
import type { Logger } from '../common/logging';
import { CliExit, type CliOutput } from './io';
import { addressInUse } from './usage';

type ConfigFields = ReturnType<typeof configFields>;

/** Adds every config field as a flag (`--grpc-port`), so flags, `BERTH_*` env and a file all work. */
export function addConfigOptions(cmd: Command, fields: ConfigFields): Command {
  cmd.option('--config <file>', 'YAML or JSON config file (also BERTH_CONFIG)');
  for (const f of fields) {
    const text = `${f.description} [env ${f.env}; default ${f.defaultText}]`;
    if (f.kind === 'boolean') cmd.option(`${f.flag} [bool]`, text);
    else cmd.option(`${f.flag} <value>`, text);
  }
  return cmd;
}

/** What a daemon is made of, loaded when its command runs (see {@link DaemonCommandSpec.load}). */
export interface DaemonImpl<S extends z.ZodType> {
  readonly schema: S;
  /** The `--help-config` table. */
  readonly describeConfig: () => string;
  readonly logLevel: (config: z.output<S>) => 'error' | 'warn' | 'info' | 'debug';
  /** Starts the daemon; resolves with how to stop it (on SIGTERM/SIGINT) once it runs. */
  readonly run: (config: z.output<S>, logger: Logger, stopped: () => void) => Promise<() => Promise<void>>;
}

/** What a daemon command declares; the plumbing is shared. */
export interface DaemonCommandSpec<S extends z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly examples: string;
  /** Loads the daemon's schema and code (a local `require`, so that other commands do not pay for them). */
  readonly load: () => DaemonImpl<S>;
}

/** Daemon commands whose flags are not added yet, with the function that adds them. */
const pending = new WeakMap<Command, () => void>();

/** Adds the flags of a daemon command (idempotent; a no-op for other commands). */
export function loadDaemonOptions(cmd: Command): void {
  const add = pending.get(cmd);
  pending.delete(cmd);
  add?.();
}

/** Adds the flags of every daemon command in the tree (for the reference and shell completion). */
export function loadAllDaemonOptions(cmd: Command): void {
  loadDaemonOptions(cmd);
  for (const c of cmd.commands) loadAllDaemonOptions(c);
}

/** A command whose help lists its flags even when they are added late (`berth help master`). */
class DaemonCommand extends Command {
  override helpInformation(context?: Parameters<Command['helpInformation']>[0]): string {
    loadDaemonOptions(this);
    return super.helpInformation(context);
  }
}

export const configProblems = (err: { problems: readonly { message: string }[] }): string => err.problems.map((p) => `  ${p.message}`).join('\n');

/**
 * Registers a daemon command: config from flags, `BERTH_*` env and a file (every bad value listed
 * with its source, exit 78), `--help-config`, a JSON logger, and a graceful stop on SIGTERM/SIGINT.
 * Its flags are added just before the command is parsed (a `preSubcommand` hook of `program`) —
 * except when a subcommand of it is what runs (`berth agent list`).
 */
export function registerDaemonCommand<S extends z.ZodType>(program: Command, out: CliOutput, spec: DaemonCommandSpec<S>): Command {
  let impl: DaemonImpl<S> | undefined;
  const load = (): DaemonImpl<S> => (impl ??= spec.load());
  const cmd = new DaemonCommand(spec.name)
    .copyInheritedSettings(program)
    .description(spec.description)
    .option('--help-config', 'list every setting with its flag, environment variable and default')
    .addHelpText('after', `\nExamples:\n${spec.examples}`);
  program.addCommand(cmd);
  let fields: ConfigFields = [];
  pending.set(cmd, () => {
    const { configFields: fieldsOf } = require('../common/config') as typeof import('../common/config');
    fields = fieldsOf(load().schema);
    addConfigOptions(cmd, fields);
  });
  program.hook('preSubcommand', (_program, sub) => {
    const next = program.args[1];
    if (sub === cmd && !cmd.commands.some((c) => c.name() === next || c.aliases().includes(next ?? ''))) loadDaemonOptions(cmd);
  });
  cmd.action(async (opts: Record<string, unknown>) => {
    const daemon = load();
    if (opts['helpConfig'] === true) {
      out.stdout(daemon.describeConfig());
      return;
    }
    const { ConfigError, CONFIG_EXIT_CODE, formatSource, loadConfigWithSources } = require('../common/config') as typeof import('../common/config');
    let config: z.output<S>;
    let sources: string;
    try {
      const loaded = loadConfigWithSources({ schema: daemon.schema, flags: opts });
      config = loaded.config;
      sources = [...loaded.sources].filter(([, s]) => s.kind !== 'default').map(([k, s]) => `${k} (${formatSource(s)})`).join(', ');
    } catch (err) {
      if (err instanceof ConfigError) {
        out.stderr(`berth ${spec.name}: invalid configuration:\n${configProblems(err)}\n`);
        throw new CliExit(CONFIG_EXIT_CODE);
      }
      throw err;
    }
    const { createLogger } = require('../common/logging') as typeof import('../common/logging');
    const logger = createLogger({ component: spec.name, level: daemon.logLevel(config) });
    logger.info('configuration loaded', { set: sources });
    quietGrpcBindError();
    await new Promise<void>((resolve, reject) => {
      let stop: (() => Promise<void>) | undefined;
      const onSignal = (signal: string) => {
        logger.info('shutting down', { signal });
        void (stop?.() ?? Promise.resolve()).then(resolve, resolve);
      };
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      process.once('SIGINT', () => onSignal('SIGINT'));
      daemon.run(config, logger, resolve).then((s) => (stop = s), reject);
    }).catch((err: unknown) => {
      // Files the config names (tokens, ACLs, certificates) are checked as the daemon starts: their
      // problems are configuration errors too, and exit 78 so a service manager does not restart-loop.
      if (err instanceof ConfigError) {
        out.stderr(`berth ${spec.name}: invalid configuration:\n${configProblems(err)}\n`);
        throw new CliExit(CONFIG_EXIT_CODE);
      }
      const taken = addressInUse(err);
      if (taken !== undefined) {
        out.stderr(`berth ${spec.name}: ${taken} is already in use (another Berth daemon or program listens there); stop it, or choose another port with ${portFlags(fields, config, taken)} (0 picks a free one)\n`);
        throw new CliExit(1);
      }
      throw err;
    });
  });
  return cmd;
}

/**
 * grpc-js logs "No address added out of total N resolved" on stderr when a port is taken, before the
 * bind fails; the daemon says it in one line of its own (naming the option), so that line is dropped.
 */
function quietGrpcBindError(): void {
  const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  grpc.setLogger({
    debug: (...args: unknown[]) => console.debug(...args),
    info: (...args: unknown[]) => console.info(...args),
    error: (...args: unknown[]) => {
      if (!args.some((a) => typeof a === 'string' && a.includes('No address added out of total'))) console.error(...args);
    },
  });
}

/** The flags of the port settings that hold the port of `address` (all port flags when none does). */
function portFlags(fields: ConfigFields, config: unknown, address: string): string {
  const port = Number(/:(\d+)$/.exec(address)?.[1]);
  const ports = fields.filter((f) => /(^|\.)port$/.test(f.path));
  const valueOf = (p: string): unknown => p.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], config);
  const matching = ports.filter((f) => valueOf(f.path) === port);
  return (matching.length > 0 ? matching : ports).map((f) => f.flag).join(' or ') || 'its port setting';
}
