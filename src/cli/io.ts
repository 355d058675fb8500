/** Where a command writes (so tests can capture it). */
export interface CliOutput {
  stdout(s: string): void;
  stderr(s: string): void;
}

/** Ends the command with an exit code after it has already said why (e.g. 78 for bad config). */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
