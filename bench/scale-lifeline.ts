/**
 * Ties a child of `bench:scale` to the orchestrator's life: the child exits (and takes what it
 * started with it) as soon as its IPC channel to the orchestrator closes, whatever ended the
 * orchestrator — normal exit, an exception, a signal, even SIGKILL.
 *
 * Two uses:
 *   - as a preload of a Node child (`node -r dist/bench/scale-lifeline.js bin/berth.js master …`,
 *     started with `fork`): the master is the real `berth master`, plus one `disconnect` listener;
 *   - as a parent of a non-Node child (`node scale-lifeline.js --exec BINARY [--rm DIR] -- ARGS…`,
 *     started with `fork`): it spawns BINARY (a nats-server), forwards SIGTERM to it, SIGKILLs it
 *     when the orchestrator goes away, exits with it, and removes DIR (the store directories) when
 *     the orchestrator went away without cleaning up.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

function asParent(argv: string[]): void {
  const sep = argv.indexOf('--');
  const own = sep < 0 ? argv : argv.slice(0, sep);
  const args = sep < 0 ? [] : argv.slice(sep + 1);
  const binary = own[own.indexOf('--exec') + 1];
  const rmIndex = own.indexOf('--rm');
  const rmDir = rmIndex < 0 ? undefined : own[rmIndex + 1];
  if (binary === undefined) {
    process.stderr.write('scale-lifeline: --exec BINARY is required\n');
    process.exit(2);
  }
  // Output: the binary's stderr is the orchestrator's diagnostics (kept short by the caller's flags).
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  let orphaned = false;
  child.on('error', (err) => {
    process.stderr.write(`scale-lifeline: ${binary}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (orphaned && rmDir !== undefined) fs.rmSync(rmDir, { recursive: true, force: true });
    process.exit(code ?? (signal === null ? 1 : 128));
  });
  process.on('disconnect', () => {
    orphaned = true;
    child.kill('SIGKILL');
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
}

if (require.main === module) {
  asParent(process.argv.slice(2));
} else if (process.send !== undefined) {
  // Preloaded into a forked Node process: exit when the orchestrator's channel closes.
  process.on('disconnect', () => process.exit(1));
  // The channel must not keep a process alive that would otherwise end (it is a daemon anyway).
  process.channel?.unref();
}
