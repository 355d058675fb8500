import { Command, CommanderError } from 'commander';
import { CONFIG_EXIT_CODE, ConfigError } from '../common/config';
import { BerthError } from '../common/errors';
import { Resources } from '../common/resources';
import { formatMilli } from '../common/scalar';
import { CliExit, type CliOutput } from './io';
import { registerAgentCommand } from './agent-command';
import { registerMasterCommand } from './master-command';
import { registerTaskCommand } from './task-command';
import { registerFrameworksCommand } from './frameworks-command';
import { DevUsageError, registerDevCommand } from './dev-command';
import { registerAppCommands } from './app-command';
import { registerImportCommand } from './import-command';
import { registerJobCommands } from './job-command';
import { registerClusterCommands } from './cluster-command';
import { registerExtraCommands } from './extras-command';
import { packageVersion } from './version';

/** Exit codes of the `berth` command. */
export const EXIT = {
  ok: 0,
  /** A runtime failure. */
  failure: 1,
  /** Wrong usage or invalid input (a bad argument, unparsable resources). */
  usage: 2,
} as const;

const version = packageVersion();

/** Builds the `berth` command tree. Output goes through `out` so tests can capture it. */
export function buildProgram(out: CliOutput): Command {
  const program = new Command('berth')
    .description('Berth: a two-level, resource-offer cluster manager (master, agents, DRF allocator, frameworks).')
    .version(version, '-V, --version', 'print the Berth version')
    .configureOutput({ writeOut: out.stdout, writeErr: out.stderr })
    .exitOverride()
    .showHelpAfterError('(run "berth --help" for usage)');

  program
    .command('resources')
    .description('check a resource declaration (as given to an agent\'s --resources) and print it normalised')
    .argument('<resources>', 'text form such as "cpus:4;mem:8192;ports:[31000-32000];cpus(ads):2", or a JSON array')
    .option('--default-role <role>', 'reserve unqualified entries statically for this role (as an agent\'s --default-role)')
    .option('--json', 'print the Mesos-style JSON form instead of text')
    .addHelpText('after', '\nExamples:\n  berth resources "cpus:4;mem:8192;ports:[31000-32000]"\n  berth resources --json "cpus(eng/backend):2;disk:10240"')
    .action((text: string, opts: { defaultRole?: string; json?: boolean }) => {
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
  registerClusterCommands(program, out);
  registerExtraCommands(program, out);
  return program;
}

/** Runs the command line; resolves with the exit code (the bin script exits with it). */

const processOutput: CliOutput = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  // A dumb terminal cannot erase a line: it gets a line per change, as a pipe does.
  isTTY: () => process.stdout.isTTY === true && process.env['TERM'] !== 'dumb',
  columns: () => process.stdout.columns,
};

export async function main(argv: string[], io: CliOutput = processOutput): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CliExit) return err.exitCode;
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof DevUsageError) {
      io.stderr(`berth dev: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      // A bad setting or file found outside a daemon command's own handling (e.g. `berth dev`'s plugins).
      io.stderr(`berth: ${err.message}\n`);
      return CONFIG_EXIT_CODE;
    }
    if (err instanceof BerthError) {
      io.stderr(`berth: ${err.message}\n`);
      return err.code === 'INVALID_RESOURCES' || err.code === 'INVALID_ARGUMENT' ? EXIT.usage : EXIT.failure;
    }
    throw err;
  }
}
