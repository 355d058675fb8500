/**
 * Child processes of a fault-injection cluster: each started from a fixed command line so it can be
 * killed (SIGKILL), paused (SIGSTOP/SIGCONT), stopped (SIGTERM) and started again exactly as before
 * (same ports, same directories). Output is kept (the tail) for failure messages. Every child is
 * SIGKILLed when the test process exits, whatever happened; `ProcessGroup.stopAll()` is the normal
 * end of a test.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const REGISTER_TS = path.join(__dirname, '../../support/register-ts.js');
const RUN_BERTH = path.join(__dirname, '../../support/run-berth.js');
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface ManagedProcessSpec {
  readonly name: string;
  /** `berth <args>` from the sources, a TypeScript module forked with an IPC channel, or any binary. */
  readonly kind: 'berth' | 'ts-module' | 'binary';
  /** For `ts-module`: the module path; for `binary`: the executable. */
  readonly file?: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** One restartable child process. */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<void> = Promise.resolve();
  private output = '';
  /** Exits the harness did not cause (the process died on its own). */
  readonly unexpectedExits: string[] = [];
  private expectingExit = false;
  /** IPC requests awaiting their answer, by id. */
  private readonly pending = new Map<number, (m: unknown) => void>();
  private nextId = 0;
  paused = false;
  starts = 0;

  constructor(readonly spec: ManagedProcessSpec) {}

  get name(): string {
    return this.spec.name;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
  /** The last 300 000 characters of stdout and stderr, across restarts. */
  log(): string {
    return this.output;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_')));
    const env = { ...clean, ...this.spec.env };
    const stdio: ('ignore' | 'pipe' | 'ipc')[] = ['ignore', 'pipe', 'pipe'];
    let child: ChildProcess;
    if (this.spec.kind === 'ts-module') {
      child = fork(this.spec.file!, [...this.spec.args], { execArgv: ['-r', REGISTER_TS], stdio: [...stdio, 'ipc'], env });
    } else if (this.spec.kind === 'berth') {
      child = spawn(process.execPath, [RUN_BERTH, ...this.spec.args], { stdio, env });
    } else {
      child = spawn(this.spec.file!, [...this.spec.args], { stdio, env });
    }
    this.child = child;
    this.starts++;
    this.paused = false;
    this.expectingExit = false;
    live.add(child);
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-300_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('message', (m: { id?: number }) => {
      const answer = m.id === undefined ? undefined : this.pending.get(m.id);
      if (answer !== undefined) {
        this.pending.delete(m.id!);
        answer(m);
      }
    });
    this.exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => {
      live.delete(child);
      if (!this.expectingExit) this.unexpectedExits.push(`${this.name} exited on its own (code ${code}, signal ${signal})`);
      resolve();
    }));
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }
  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    if (this.paused) this.resume();
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.signalAndWait('SIGTERM');
    clearTimeout(timer);
  }
  /** SIGSTOP: the process freezes, its sockets stay open. */
  pause(): void {
    if (!this.running) throw new Error(`${this.name} is not running`);
    this.child!.kill('SIGSTOP');
    this.paused = true;
  }
  /** SIGCONT. */
  resume(): void {
    if (!this.running) return;
    this.child!.kill('SIGCONT');
    this.paused = false;
  }
  async restart(): Promise<void> {
    await this.kill();
    this.start();
  }

  /**
   * Sends an IPC request (ts-module children only) and resolves with the answer carrying the same
   * `id`; rejects when the child is not running or does not answer within `ms`.
   */
  request<T>(message: object, ms = 5000): Promise<T> {
    const id = ++this.nextId;
    if (!this.running || this.child?.connected !== true) return Promise.reject(new Error(`${this.name} is not running`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} did not answer ${JSON.stringify(message)} within ${ms} ms`));
      }, ms);
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m as T);
      });
      this.child!.send({ ...message, id } as never);
    });
  }

  private async signalAndWait(sig: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.expectingExit = true;
    this.child!.kill(sig);
    await this.exitPromise;
  }
}

/** The processes of one cluster. */
export class ProcessGroup {
  readonly all: ManagedProcess[] = [];

  add(spec: ManagedProcessSpec): ManagedProcess {
    const p = new ManagedProcess(spec);
    this.all.push(p);
    return p;
  }

  /** Processes that died without the harness killing or stopping them. */
  unexpectedExits(): string[] {
    return this.all.flatMap((p) => p.unexpectedExits);
  }

  /** Logs of every process (tails), for a failure message. */
  logs(chars = 3000): string {
    return this.all.map((p) => `--- ${p.name} (pid ${p.pid ?? '-'})\n${p.log().slice(-chars)}`).join('\n');
  }

  /** Stops `first` groups in order (SIGTERM), then everything else. */
  async stopAll(order: readonly string[] = []): Promise<void> {
    for (const prefix of order) await Promise.all(this.all.filter((p) => p.name.startsWith(prefix)).map((p) => p.stop()));
    await Promise.all(this.all.map((p) => p.stop(2000)));
  }
}
