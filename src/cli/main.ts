/**
 * The `berth` command tree and its entry point. Building the tree loads commander and the command
 * files only: each command loads what it needs (gRPC, NATS, dockerode, zod schemas, …) in its action,
 * with a local `require`, so `berth --version` or `berth --help` answer in a blink
 * (`npm run bench:cli` measures it).
 */
import { Command, CommanderError } from 'commander';
import { BerthError } from '../common/errors';
import { CliExit, type CliOutput } from './io';
import { registerAgentCommand, registerDevCommand, registerFrameworksCommand, registerMasterCommand } from './daemons';
import { loadAllDaemonOptions } from './daemon-command';
import { registerTaskCommand } from './task-command';
import { registerAppCommands } from './app-command';
import { registerImportCommand } from './import-command';
import { registerBatchCommands } from './batch-command';
import { registerJobCommands } from './job-command';
import { registerClusterCommands } from './cluster-command';
import { registerExtraCommands } from './extras-command';
import { cliCommand } from './invocation';
import { checkCommandWords, UsageError } from './usage';
import { packageVersion } from './version';

/** Exit codes of the `berth` command. */
export const EXIT = {
  ok: 0,
  /** A runtime failure. */
  failure: 1,
  /** Wrong usage or invalid input (a bad argument, unparsable resources). */
  usage: 2,
} as const;

/** Options of {@link buildProgram}. */
export interface BuildOptions {
  /**
   * Leave the daemon commands' flags out until one of them runs (what `berth` itself does). The
   * default builds the whole tree, as the reference (docs/cli.md) and shell completion walk it.
   */
  readonly lazy?: boolean;
}

/** Builds the `berth` command tree. Output goes through `out` so tests can capture it. */
export function buildProgram(out: CliOutput, options: BuildOptions = {}): Command {
  const program = new Command('berth')
    .description('Berth: a two-level, resource-offer cluster manager (master, agents, DRF allocator, frameworks).')
    .version(packageVersion(), '-V, --version', 'print the Berth version')
    .configureOutput({ writeOut: out.stdout, writeErr: out.stderr })
    .exitOverride()
    .showHelpAfterError(`(run "${cliCommand()} --help" for usage)`);

  program
    .command('resources')
    .description('check a resource declaration (as given to an agent\'s --resources) and print it normalised')
    .argument('<resources>', 'text form such as "cpus:4;mem:8192;ports:[31000-32000];cpus(ads):2", or a JSON array')
    .option('--default-role <role>', 'reserve unqualified entries statically for this role (as an agent\'s --default-role)')
    .option('--json', 'print the Mesos-style JSON form instead of text')
    .addHelpText('after', '\nExamples:\n  berth resources "cpus:4;mem:8192;ports:[31000-32000]"\n  berth resources --json "cpus(eng/backend):2;disk:10240"')
    .action((text: string, opts: { defaultRole?: string; json?: boolean }) => {
      const { Resources } = require('../common/resources') as typeof import('../common/resources');
      const { formatMilli } = require('../common/scalar') as typeof import('../common/scalar');
      const r = Resources.parse(text, { defaultRole: opts.defaultRole });
      if (opts.json) {
        out.stdout(`${JSON.stringify(r.toJSON(), null, 2)}\n`);
        return;
      }
      out.stdout(`${r.toString()}\n`);
      for (const [name, milli] of r.quantities()) out.stdout(`  ${name}: ${formatMilli(milli)}\n`);
      for (const name of new Set(r.entries.filter((e) => e.kind === 'ranges').map((e) => e.name))) {
        out.stdout(`  ${name}: ${r.rangeCount(name)} values\n`);
      }
    });

  registerMasterCommand(program, out);
  registerAgentCommand(program, out);
  registerDevCommand(program, out);
  registerFrameworksCommand(program, out);
  registerTaskCommand(program, out);
  registerAppCommands(program, out);
  registerImportCommand(program, out);
  registerJobCommands(program, out);
  registerBatchCommands(program, out);
  registerClusterCommands(program, out);
  registerExtraCommands(program, out);
  if (options.lazy !== true) loadAllDaemonOptions(program);
  return program;
}

const processOutput: CliOutput = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  // A dumb terminal cannot erase a line: it gets a line per change, as a pipe does.
  isTTY: () => process.stdout.isTTY === true && process.env['TERM'] !== 'dumb',
  columns: () => process.stdout.columns,
};

/** Runs the command line; resolves with the exit code (the bin script exits with it). */
export async function main(argv: string[], io: CliOutput = processOutput): Promise<number> {
  const program = buildProgram(io, { lazy: true });
  try {
    checkCommandWords(program, argv.slice(2));
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CliExit) return err.exitCode;
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof UsageError) {
      io.stderr(`berth${err.command === '' ? '' : ` ${err.command}`}: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof BerthError) {
      io.stderr(`berth: ${err.message}\n`);
      return err.code === 'INVALID_RESOURCES' || err.code === 'INVALID_ARGUMENT' ? EXIT.usage : EXIT.failure;
    }
    // Loaded only now: the config module brings zod and yaml along.
    const { CONFIG_EXIT_CODE, ConfigError } = require('../common/config') as typeof import('../common/config');
    if (err instanceof ConfigError) {
      // A bad setting or file found outside a daemon command's own handling (e.g. `berth dev`'s plugins).
      io.stderr(`berth: ${err.message}\n`);
      return CONFIG_EXIT_CODE;
    }
    throw err;
  }
}

/**
 * What a stream of ours does when its reader has gone (`berth … | head -1`): the rest of the output
 * has nowhere to go, so the command ends at once and quietly — as a command killed by SIGPIPE would,
 * but with exit code 0 (the reader chose to stop) and without a stack trace.
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') exit(0);
    else throw err;
  });
}

/** The process entry point (bin/berth.js): runs {@link main} and sets the exit code. */
export function run(argv: string[] = process.argv): Promise<void> {
  exitQuietlyOnClosedPipe(process.stdout);
  exitQuietlyOnClosedPipe(process.stderr);
  return main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`berth: ${err instanceof Error && err.stack !== undefined ? err.stack : String(err)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
