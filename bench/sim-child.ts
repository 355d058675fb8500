/**
 * What the benchmark orchestrators (bench/master.ts, bench/scale.ts) share about their simulator
 * children: a forked child and its IPC messages awaited by type, and the simulated agents' size.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The node flags of bin/berth.js's `#!/usr/bin/env -S node …` line: how `berth` runs a daemon. */
export function berthNodeFlags(): string[] {
  const first = fs.readFileSync(path.join(__dirname, '..', '..', 'bin', 'berth.js'), 'utf8').split('\n', 1)[0] ?? '';
  return first.replace(/^#!.*?\bnode\b/, '').split(' ').filter((f) => f !== '');
}

/** Each agent's resources: room for ceil(slack × tasks / agents) tasks of cpus:0.01;mem:1. */
export function agentRoom(slack: number, tasks: number, agents: number): string {
  const room = Math.ceil((slack * tasks) / agents);
  return `cpus:${(room * 0.01).toFixed(2)};mem:${room};ports:[31000-32000]`;
}

/** A child process and its IPC messages, awaited by type. */
export class Child {
  readonly proc: ChildProcess;
  private readonly waiters: { type: string; resolve: (m: never) => void }[] = [];
  private readonly buffered: { type: string }[] = [];
  readonly exited: Promise<void>;
  private exitedNow = false;
  stopping = false;

  constructor(readonly name: string, script: string, config: unknown, execArgv: string[], onFatal: (err: Error) => void) {
    this.proc = fork(path.join(__dirname, script), [JSON.stringify(config)], {
      execArgv,
      serialization: 'advanced',
      // Children write nothing but diagnostics: their stdout goes to our stderr, so stdout stays JSON.
      stdio: ['ignore', 2, 'inherit', 'ipc'],
    });
    this.proc.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'failed') return onFatal(new Error(m.message));
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m as never);
      else this.buffered.push(m);
    });
    this.proc.on('error', (err) => onFatal(new Error(`${name}: ${err.message}`)));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => {
      this.exitedNow = true;
      if (!this.stopping) onFatal(new Error(`${name} exited unexpectedly (${signal ?? `code ${code}`})`));
      resolve();
    }));
  }

  get alive(): boolean {
    return !this.exitedNow;
  }

  send(message: { type: string } & Record<string, unknown>): void {
    if (this.alive && this.proc.connected) this.proc.send(message);
  }

  next<T>(type: string): Promise<T> {
    const i = this.buffered.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.buffered.splice(i, 1)[0] as T);
    return new Promise<T>((resolve) => this.waiters.push({ type, resolve: resolve as (m: never) => void }));
  }

  request<T>(message: { type: string } & Record<string, unknown>, reply: string): Promise<T> {
    const p = this.next<T>(reply);
    this.send(message);
    return p;
  }

  /** Asks the child to stop; kills it if it has not exited within `ms`. */
  async stop(ms: number): Promise<void> {
    this.stopping = true;
    if (!this.alive) return;
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.stopping = true;
    if (this.alive) this.proc.kill('SIGKILL');
  }
}

/**
 * The bookkeeping of one benchmark run: its children, a failure that every wait races (a child
 * failing, a deadline), the phase it is in (for the message when it fails), progress lines on
 * stderr unless the output is JSON.
 */
export abstract class BenchRun {
  protected readonly children: Child[] = [];
  private failure: ((err: Error) => void) | undefined;
  /** Rejects when a child fails or the deadline passes; every wait races it. */
  protected readonly failed: Promise<never>;
  protected phase = 'starting';

  constructor(private readonly label: string, private readonly quiet: boolean) {
    this.failed = new Promise<never>((_, reject) => (this.failure = reject));
    this.failed.catch(() => undefined);
  }

  fail(err: Error): void {
    this.failure?.(err);
  }

  protected log(message: string): void {
    if (!this.quiet) process.stderr.write(`${this.label}: ${message}\n`);
  }

  protected wait<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.failed]);
  }

  protected spawn(name: string, script: string, config: unknown, execArgv: string[] = []): Child {
    const child = new Child(name, script, config, execArgv, (err) => this.fail(err));
    this.children.push(child);
    return child;
  }
}

/** VmRSS and VmHWM of a process, MiB, from /proc (0 where /proc is not there). */
export function procMemory(pid: number): { rssMb: number; hwmMb: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rssMb: Math.round(kb('VmRSS') / 1024), hwmMb: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return { rssMb: 0, hwmMb: 0 };
  }
}
