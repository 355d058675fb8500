/**
 * Wrong usage caught before a command runs, with a message that says what to do: an unknown command
 * (also with `--help`, which commander would answer with the parent's help and exit 0), and a port
 * that is already taken.
 */
import type { Command } from 'commander';
import { cliCommand } from './invocation';

/** A bad argument of `berth <command>`: printed as `berth <command>: message`, exit 2. */
export class UsageError extends Error {
  constructor(
    /** The command words, e.g. `dev` or `app deploy`; empty for `berth` itself. */
    readonly command: string,
    message: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Edit distance (insert, delete, substitute, swap two neighbours), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate nearest to `word` (prefixes first, then by edit distance), or undefined if none is close. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const prefixed = candidates.filter((c) => c.startsWith(word) || word.startsWith(c));
  if (prefixed.length > 0) return [...prefixed].sort((x, y) => Math.abs(x.length - word.length) - Math.abs(y.length - word.length))[0];
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const dist = distance(word, c);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

const names = (cmd: Command): string[] => cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);

/**
 * Checks the command words at the start of `args` (argv without node and the script) against the
 * tree: every word before the first option names a subcommand of the one before it, as long as that
 * one takes no arguments of its own (`berth help WORD` is checked too).
 * @throws UsageError naming the unknown word, the nearest command and how to list them
 */
export function checkCommandWords(program: Command, args: readonly string[]): void {
  let cmd = program;
  const path: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (word.startsWith('-') || cmd.commands.length === 0 || cmd.registeredArguments.length > 0) return;
    if (cmd === program && word === 'help' && path.length === 0) {
      path.push('help');
      continue;
    }
    const next = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (next === undefined) {
      const where = path.filter((p) => p !== 'help');
      const parent = where.length === 0 ? '' : ` ${where.join(' ')}`;
      const suggestion = nearest(word, names(cmd).filter((n) => n !== 'help'));
      const cli = cliCommand();
      throw new UsageError(where.join(' '), `unknown command "${word}"${suggestion !== undefined ? ` — did you mean "${cli}${parent} ${suggestion}"?` : ''} (${cli}${parent} --help lists the commands)`);
    }
    path.push(word);
    cmd = next;
  }
}

/** The `host:port` a failed listen or bind names when the address was already in use. */
export function addressInUse(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as Error & { cause?: unknown }).cause, depth++) {
    const text = e.message;
    const m = /EADDRINUSE:? (?:address already in use )?(\[?[0-9a-fA-F.:]+\]?:\d+)/.exec(text) ?? /address already in use ([^\s\]]+)/.exec(text);
    if (m !== null) return m[1];
    const errno = e as NodeJS.ErrnoException & { address?: string; port?: number };
    if (errno.code === 'EADDRINUSE' && errno.address !== undefined && errno.port !== undefined) return `${errno.address}:${errno.port}`;
  }
  return undefined;
}
