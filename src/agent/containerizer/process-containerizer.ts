/**
 * `ProcessContainerizer`: each task is a plain child process (for hosts without Docker and `berth dev`).
 *
 * - Runs `/bin/sh -c value` (shell) or the argv, detached in its own process group, so signals sent to
 *   the group (`kill -- -pid`) reach every process the task forked.
 * - stdout/stderr go to `stdout` and `stderr` files in the sandbox; the environment is PATH, the task's
 *   env, PORT0…PORTn/PORTS and BERTH_* ids.
 * - With `cgroups` (a root agent on Linux, see cgroups.ts), the task's `mem` is a hard memory limit
 *   (an OOM kill is reported as such) and its `cpus` a CPU share and quota; the task's first process
 *   joins its cgroups before it execs the command. Without, cpus and mem are not enforced.
 * - With `spec.user` (a root agent), the sandbox and its log files belong to that user and the task
 *   runs as it: `setpriv` (util-linux) sets uid, gid and the user's supplementary groups before it
 *   execs the command; without setpriv, Node's spawn sets uid and gid and drops every supplementary
 *   group. Health-check commands run as the same user.
 * - Bookkeeping for recovery: `<sandbox>/berth-container.json` (the pid file: pid, its /proc start time,
 *   the spec's ids and labels, and the exit once seen) plus a pointer `<runtimeDir>/<containerId>` holding
 *   the sandbox path. `recover()` on a new instance (after an agent restart) reads the pointers, checks
 *   `/proc/<pid>` and the start time (a reused pid has another start time), re-attaches to the living by
 *   polling `/proc` and reports the dead as exited with an unknown code.
 * - When the main process ends, what is left of its process group is SIGKILLed.
 * - Linux only (/proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp, openSync, closeSync, readFileSync, writeFileSync, renameSync, mkdirSync, fchownSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { lastLine, readFileSlice } from './log-file';
import type { Clock } from '../../common/clock';
import {
  ContainerizerError,
  DEFAULT_KILL_GRACE_PERIOD_MS,
  checkLogRead,
  EXEC_OUTPUT_LIMIT,
  commandArgv,
  portEnv,
  type ExecResult,
  type LaunchCommand,
  type ContainerExit,
  type ContainerHandle,
  type Containerizer,
  type LaunchSpec,
  type LogChunk,
  type LogStream,
  type RecoveredContainer,
} from './containerizer';
import { ContainerLife, ContainerTable } from './lifecycle';
import { prepareSandbox, type TaskUser } from '../task-user';
import { joiningCgroups, type Cgroups, type CommandLine, type TaskCgroups } from './cgroups';

/** Name of the pid file in each sandbox. */
export const PID_FILE = 'berth-container.json';
/** The agent's own copy of a record, `<runtimeDir>/<containerId>.json` (see writeRecord). */
const RECORD_SUFFIX = '.json';

export interface ProcessContainerizerOptions {
  /** The agent's own directory for container pointers (one per agent, e.g. `<workDir>/containers`). */
  readonly runtimeDir: string;
  readonly clock: Clock;
  /** How often a recovered (not our child) process is checked for liveness. @default 1000 */
  readonly pollIntervalMs?: number;
  /** PATH given to tasks. @default the agent's PATH */
  readonly path?: string;
  /** Per-task cgroups with the task's limits (detectCgroups()). @default none: limits not enforced */
  readonly cgroups?: Cgroups;
}

/** Contents of the pid file. */
interface ContainerRecord {
  containerId: string;
  frameworkId: string;
  taskId: string;
  sandboxDir: string;
  labels: Record<string, string>;
  /** The task's environment (for `exec`). */
  env: Record<string, string>;
  /** The user the task runs as (for `exec`); absent: the agent's. */
  user?: TaskUser;
  pid: number | undefined;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  startTime: string | undefined;
  startedAt: number;
  exit?: ContainerExit;
}

interface Container {
  record: ContainerRecord;
  child: ChildProcess | undefined;
  readonly life: ContainerLife;
  /** Stops polling a re-attached process (set by `watch`). */
  unwatch?: () => void;
  /** The task's cgroups, when the host has them. */
  cgroups?: TaskCgroups;
}

export class ProcessContainerizer extends ContainerTable<Container> implements Containerizer {
  readonly types = ['PROCESS'] as const;
  private readonly clock: Clock;
  private readonly runtimeDir: string;
  private readonly pollIntervalMs: number;
  private readonly pathEnv: string;
  private readonly cgroups: Cgroups | undefined;

  constructor(options: ProcessContainerizerOptions) {
    super();
    this.cgroups = options.cgroups;
    this.clock = options.clock;
    this.runtimeDir = options.runtimeDir;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.pathEnv = options.path ?? process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin';
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.containers.has(spec.containerId)) {
      throw new ContainerizerError('CONTAINER_EXISTS', `container ${spec.containerId} already exists`);
    }
    const startedAt = this.clock.now();
    const record: ContainerRecord = {
      containerId: spec.containerId,
      frameworkId: spec.frameworkId,
      taskId: spec.taskId,
      sandboxDir: spec.sandboxDir,
      labels: { ...spec.labels },
      env: { ...spec.env, ...portEnv(spec.ports) },
      ...(spec.user !== undefined ? { user: spec.user } : {}),
      pid: undefined,
      startTime: undefined,
      startedAt,
    };
    const c = this.track(record);

    let child: ChildProcess;
    let spawnSwitchesUser = false;
    try {
      prepareSandbox(spec.sandboxDir, spec.user, path.dirname(this.runtimeDir));
      mkdirSync(this.runtimeDir, { recursive: true, mode: 0o700 });
      const out = openSync(path.join(spec.sandboxDir, 'stdout'), 'a');
      const err = openSync(path.join(spec.sandboxDir, 'stderr'), 'a');
      if (spec.user !== undefined) {
        fchownSync(out, spec.user.uid, spec.user.gid);
        fchownSync(err, spec.user.uid, spec.user.gid);
      }
      const env: Record<string, string> = {
        PATH: this.pathEnv,
        ...spec.env,
        ...portEnv(spec.ports),
        BERTH_SANDBOX: spec.sandboxDir,
        BERTH_CONTAINER_ID: spec.containerId,
        BERTH_FRAMEWORK_ID: spec.frameworkId,
        BERTH_TASK_ID: spec.taskId,
      };
      if (spec.user !== undefined) Object.assign(env, { USER: spec.user.name, LOGNAME: spec.user.name });
      const asTaskUser = asUser(commandLine(spec), spec.user);
      c.cgroups = this.cgroups?.create(spec.containerId, { cpus: spec.cpus, memMib: spec.memMib });
      // The cgroups are joined by a root shell before the user switch; when spawn itself switches
      // (no setpriv), the pid is moved in right after the spawn instead.
      spawnSwitchesUser = asTaskUser.ids.uid !== undefined;
      const joinFirst = c.cgroups !== undefined && !spawnSwitchesUser;
      const { file, args, argv0 } = joinFirst ? joiningCgroups(asTaskUser, c.cgroups!.procsFiles) : asTaskUser;
      try {
        child = spawn(file, args, {
          argv0,
          cwd: spec.sandboxDir,
          env,
          detached: true,
          stdio: ['ignore', out, err],
          ...asTaskUser.ids,
        });
      } finally {
        closeSync(out);
        closeSync(err);
      }
    } catch (e) {
      this.finish(c, { reason: 'LAUNCH_FAILED', message: `launch failed: ${(e as Error).message}` });
      return { containerId: spec.containerId, started: false, pid: undefined, startedAt };
    }

    c.child = child;
    if (child.pid === undefined) {
      // Spawn failed (e.g. ENOENT); the error event follows.
      await new Promise<void>((resolve) => {
        child.once('error', (e) => {
          this.finish(c, { reason: 'LAUNCH_FAILED', message: `launch failed: ${e.message}` });
          resolve();
        });
      });
      return { containerId: spec.containerId, started: false, pid: undefined, startedAt };
    }
    const pid = child.pid;
    record.pid = pid;
    if (c.cgroups !== undefined && spawnSwitchesUser) {
      for (const f of c.cgroups.procsFiles) writeFileSync(f, String(pid));
    }
    c.life.setSignal((signal) => this.killGroup(pid, signal));
    record.startTime = procStartTime(pid);
    child.unref();
    child.once('exit', (code, signal) => this.onExit(c, code ?? undefined, signal ?? undefined));
    child.once('error', () => undefined); // Signal errors after start: the exit event still comes.
    try {
      this.writeRecord(record);
      writeAtomic(path.join(this.runtimeDir, spec.containerId), spec.sandboxDir);
    } catch (e) {
      c.life.killReason = 'LAUNCH_FAILED';
      this.killGroup(pid, 'SIGKILL');
      return { containerId: spec.containerId, started: false, pid, startedAt };
    }
    if (spec.maxCompletionMs !== undefined) {
      c.life.armMaxCompletion(spec.maxCompletionMs, spec.killGracePeriodMs ?? DEFAULT_KILL_GRACE_PERIOD_MS);
    }
    return { containerId: spec.containerId, started: true, pid, startedAt };
  }

  async recover(): Promise<RecoveredContainer[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.runtimeDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const found: RecoveredContainer[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.') || name.includes('.tmp-')) continue; // leftovers of an interrupted atomic write
      if (name.endsWith(RECORD_SUFFIX)) continue; // the agent's copy of a record, read through its pointer
      const known = this.containers.get(name);
      if (known !== undefined) {
        found.push(describe(known));
        continue;
      }
      let record: ContainerRecord;
      try {
        record = this.readRecord(name);
      } catch {
        continue; // Pointer written but sandbox gone: nothing to recover or report.
      }
      const c = this.track(record);
      c.cgroups = this.cgroups?.create(record.containerId, { cpus: 0, memMib: 0 });
      if (record.exit !== undefined) {
        this.finish(c, record.exit);
      } else if (record.pid !== undefined && this.alive(record.pid, record.startTime)) {
        this.watch(c, record.pid, record.startTime);
      } else {
        this.finish(c, c.life.processExit(undefined, undefined));
      }
      found.push(describe(c));
    }
    return found;
  }

  async readLog(containerId: string, stream: LogStream, offset: number, length: number): Promise<LogChunk> {
    const c = this.get(containerId);
    checkLogRead(stream, offset, length);
    return readFileSlice(path.join(c.record.sandboxDir, stream), offset, length);
  }

  async remove(containerId: string): Promise<void> {
    const c = this.containers.get(containerId);
    if (c === undefined) return;
    if (c.life.exit === undefined) throw new ContainerizerError('CONTAINER_RUNNING', `container ${containerId} is still running`);
    this.containers.delete(containerId);
    await fsp.rm(path.join(this.runtimeDir, containerId), { force: true });
    await fsp.rm(path.join(this.runtimeDir, `${containerId}${RECORD_SUFFIX}`), { force: true });
  }

  async exec(containerId: string, command: LaunchCommand, timeoutMs: number): Promise<ExecResult> {
    const c = this.get(containerId);
    if (c.life.exit !== undefined) throw new ContainerizerError('CONTAINER_NOT_RUNNING', `container ${containerId} has ended`);
    const argv = commandArgv(command);
    if (argv.length === 0) throw new ContainerizerError('INVALID_ARGUMENT', 'exec of an empty command');
    return new Promise<ExecResult>((resolve) => {
      let output = '';
      const { file, args, ids } = asUser({ file: argv[0]!, args: argv.slice(1), argv0: argv[0]! }, c.record.user);
      const child = spawn(file, args, {
        cwd: c.record.sandboxDir,
        env: { PATH: this.pathEnv, ...c.record.env, BERTH_SANDBOX: c.record.sandboxDir },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        ...ids,
      });
      const take = (d: Buffer): void => {
        if (output.length < EXEC_OUTPUT_LIMIT) output += d.toString('utf8').slice(0, EXEC_OUTPUT_LIMIT - output.length);
      };
      child.stdout!.on('data', take);
      child.stderr!.on('data', take);
      const timer = this.clock.setTimeout(() => {
        if (child.pid !== undefined) this.killGroup(child.pid, 'SIGKILL');
      }, timeoutMs);
      child.once('error', (e) => {
        this.clock.clearTimeout(timer);
        resolve({ exitCode: undefined, output: e.message });
      });
      child.once('close', (code) => {
        this.clock.clearTimeout(timer);
        resolve({ exitCode: code ?? undefined, output });
      });
    });
  }

  async close(): Promise<void> {
    for (const c of this.containers.values()) c.unwatch?.();
  }

  // ---- internals ----

  private track(record: ContainerRecord): Container {
    const pid = record.pid;
    const life = new ContainerLife(this.clock, pid === undefined ? undefined : (signal) => this.killGroup(pid, signal));
    const c: Container = { record, child: undefined, life };
    this.containers.set(record.containerId, c);
    return c;
  }

  private killGroup(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  private onExit(c: Container, code: number | undefined, signal: string | undefined): void {
    if (c.record.pid !== undefined) this.killGroup(c.record.pid, 'SIGKILL'); // leftovers of the group
    const exit = c.life.processExit(code, signal, c.cgroups?.oomKilled() === true && c.life.killReason === undefined);
    if (exit.reason !== 'EXITED' || code === undefined || code === 0) {
      this.finish(c, exit);
      return;
    }
    // A failure: the last line of stderr usually says why.
    const stderr = path.join(c.record.sandboxDir, 'stderr');
    void fsp.stat(stderr)
      .then((st) => readFileSlice(stderr, Math.max(0, st.size - 4096), 4096))
      .then(({ data }) => lastLine(data), () => undefined)
      .then((detail) => this.finish(c, detail === undefined ? exit : { ...exit, detail }));
  }

  /** Records the end and persists it in the pid file (for a later `recover`). */
  private finish(c: Container, exit: ContainerExit): void {
    if (!c.life.finish(exit)) return;
    c.cgroups?.remove();
    c.record.exit = exit;
    try {
      this.writeRecord(c.record);
    } catch {
      // The sandbox may be gone; recover() then reports nothing for it.
    }
  }

  /** Re-attached (not our child): poll /proc until it is gone; its exit code cannot be known. */
  private watch(c: Container, pid: number, startTime: string | undefined): void {
    const poll = this.clock.setInterval(() => {
      if (this.alive(pid, startTime)) return;
      this.killGroup(pid, 'SIGKILL');
      this.finish(c, c.life.processExit(undefined, undefined));
    }, this.pollIntervalMs);
    c.unwatch = () => this.clock.clearInterval(poll);
    c.life.whenEnded(c.unwatch);
  }

  private alive(pid: number, startTime: string | undefined): boolean {
    const st = readStat(pid);
    if (st === undefined || st.state === 'Z' || st.state === 'X') return false;
    return startTime === undefined || st.startTime === startTime;
  }

  /**
   * The record is kept twice: in the sandbox (for people and tools) and in the agent's own runtime
   * directory, which recovery reads. A task owns its sandbox and could rewrite the copy there —
   * naming another process's pid for the agent to signal as root — so that copy is never trusted
   * when the agent's own exists (records written before it was kept fall back to the sandbox's).
   */
  private writeRecord(record: ContainerRecord): void {
    const text = JSON.stringify(record);
    writeAtomic(path.join(this.runtimeDir, `${record.containerId}${RECORD_SUFFIX}`), text);
    writeAtomic(path.join(record.sandboxDir, PID_FILE), text);
  }

  private readRecord(containerId: string): ContainerRecord {
    const own = path.join(this.runtimeDir, `${containerId}${RECORD_SUFFIX}`);
    if (existsSync(own)) return JSON.parse(readFileSync(own, 'utf8')) as ContainerRecord;
    const sandboxDir = readFileSync(path.join(this.runtimeDir, containerId), 'utf8');
    return JSON.parse(readFileSync(path.join(sandboxDir, PID_FILE), 'utf8')) as ContainerRecord;
  }
}

function describe(c: Container): RecoveredContainer {
  const r = c.record;
  return {
    containerId: r.containerId,
    frameworkId: r.frameworkId,
    taskId: r.taskId,
    sandboxDir: r.sandboxDir,
    labels: r.labels,
    pid: r.pid,
    alive: c.life.exit === undefined,
    ...(c.life.exit !== undefined ? { exit: c.life.exit } : {}),
  };
}

function commandLine(spec: LaunchSpec): CommandLine {
  const cmd = spec.command;
  if (cmd.shell) return { file: '/bin/sh', args: ['-c', cmd.value], argv0: 'sh' };
  const argv = [...cmd.arguments];
  const file = cmd.value !== '' ? cmd.value : (argv[0] ?? '');
  if (file === '') throw new Error('no command: value and arguments are empty');
  return { file, args: argv.slice(1), argv0: argv[0] ?? file };
}

/** Where util-linux's setpriv is, when this host has it (checked once). */
let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath === undefined) setprivPath = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
  return setprivPath;
}

/**
 * The command line that runs `cmd` as `user`: through setpriv (uid, gid and the user's supplementary
 * groups, set before exec, so the process never runs as root), or with spawn's uid/gid (libuv then
 * drops all supplementary groups). Unchanged without a user.
 */
function asUser(cmd: CommandLine, user: TaskUser | undefined): CommandLine & { ids: { uid?: number; gid?: number } } {
  if (user === undefined) return { ...cmd, ids: {} };
  const wrapper = setpriv();
  if (wrapper === null) return { ...cmd, ids: { uid: user.uid, gid: user.gid } };
  const groups = user.groups.length > 0 ? ['--groups', user.groups.join(',')] : ['--clear-groups'];
  return { file: wrapper, args: ['--reuid', String(user.uid), '--regid', String(user.gid), ...groups, '--', cmd.file, ...cmd.args], argv0: 'setpriv', ids: {} };
}

/** Writes `text` to `file` by rename; 0600: a record holds the task's environment. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** State and start time (field 22) from /proc/<pid>/stat; undefined when the process is gone. */
function readStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: fields 3… follow the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', startTime: rest[19] ?? '' };
}

function procStartTime(pid: number): string | undefined {
  return readStat(pid)?.startTime;
}

