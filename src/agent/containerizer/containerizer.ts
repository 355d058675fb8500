/**
 * The one interface the agent uses to run a task's container, whatever the kind (`docker`, `process`,
 * or both behind a `CompositeContainerizer`). The agent turns a `TaskInfo` into a {@link LaunchSpec}, calls `launch`, then
 * `wait` and maps the {@link ContainerExit} to a terminal task status. Kill, log reads and recovery
 * after an agent restart go through the same interface, so the agent never knows which kind runs.
 *
 * Contract shared by every implementation:
 * - Task-level failures (command not found, sandbox not writable, image pull failure) never reject
 *   `launch`; they show as a `LAUNCH_FAILED` exit from `wait`. `launch` rejects only for caller errors
 *   (a container id already in use).
 * - A container stays known (for `wait` and `readLog`) after it exits, until `remove` is called.
 * - Every timer runs on the injected `Clock` (src/common/clock.ts).
 */
import { BerthError, type BerthErrorOptions } from '../../common/errors';
import type { TaskUser } from '../task-user';

/** Grace period between SIGTERM and SIGKILL when the task's KillPolicy gives none (Mesos's default). */
export const DEFAULT_KILL_GRACE_PERIOD_MS = 3_000;

/** What to run: `CommandInfo` without the environment (which is flattened into `LaunchSpec.env`). */
export interface LaunchCommand {
  /** With `shell`: the command line run as `/bin/sh -c value`. Without: the program to execute
   *  (empty: `arguments[0]`). */
  readonly value: string;
  /** Run `value` through /bin/sh. */
  readonly shell: boolean;
  /** Full argv (argv[0] first) when `shell` is false; ignored when `shell` is true. For DOCKER,
   *  an empty `value` and `arguments` run the image's own entrypoint and command. */
  readonly arguments: readonly string[];
}

/** The kinds of container (ContainerInfo.Type on the wire). */
export type ContainerType = 'DOCKER' | 'PROCESS';

/** A directory of the host mounted into the container. */
export interface VolumeMount {
  /** Absolute path on the host. */
  readonly hostPath: string;
  /** Absolute path inside the container. */
  readonly containerPath: string;
  readonly readOnly: boolean;
}

/** Everything a containerizer needs to start one task. Built by the agent from a `TaskInfo`. */
export interface LaunchSpec {
  /** Unique per agent, chosen by the agent (never reused, also across agent restarts). */
  readonly containerId: string;
  /** Which kind runs it: DOCKER needs `image`. */
  readonly type: ContainerType;
  /** The image of a DOCKER container; pulled when absent (or always with `forcePull`). */
  readonly image?: { readonly name: string; readonly forcePull: boolean };
  /** Host directories to mount (DOCKER only; the agent refuses volumes for PROCESS). */
  readonly volumes?: readonly VolumeMount[];
  readonly frameworkId: string;
  readonly taskId: string;
  readonly command: LaunchCommand;
  /** The task's environment (CommandInfo.environment); PORTn/PORTS are added by the containerizer. */
  readonly env: Readonly<Record<string, string>>;
  /** Host ports from the task's `ports` resources, exported as PORT0…PORTn and PORTS (comma-separated). */
  readonly ports: readonly number[];
  /** CPU share; enforced by containerizers that can (docker), informational for `process`. */
  readonly cpus: number;
  /** Memory limit in MiB; enforced by containerizers that can (docker), informational for `process`. */
  readonly memMib: number;
  /** The task's sandbox on the host, created when absent; logs and bookkeeping files live here. A
   *  PROCESS task runs in it; a DOCKER task keeps its image's working directory and finds the sandbox
   *  mounted at `BERTH_SANDBOX`. */
  readonly sandboxDir: string;
  /** TaskInfo.max_completion_time: killed with `MAX_COMPLETION_TIME_REACHED` this long after launch. */
  readonly maxCompletionMs?: number;
  /** KillPolicy.grace_period, used when the containerizer kills on its own (max completion time).
   *  @default DEFAULT_KILL_GRACE_PERIOD_MS */
  readonly killGracePeriodMs?: number;
  /** Free-form labels (agent id, task labels); kept with the container and returned by `recover`. */
  readonly labels: Readonly<Record<string, string>>;
  /** The Unix user to run as (uid, gid, supplementary groups), owner of the sandbox. Absent: the
   *  agent's own user (an agent that is not root cannot switch). */
  readonly user?: TaskUser;
  /** DOCKER: mount the image's root filesystem read-only (the sandbox stays writable). */
  readonly readOnlyRootfs?: boolean;
}

/** A started container. */
export interface ContainerHandle {
  readonly containerId: string;
  /** Whether it started; false when the launch failed (`wait` then gives `LAUNCH_FAILED`). */
  readonly started: boolean;
  /** The main process id on the host (process group leader for `process`), when known. */
  readonly pid: number | undefined;
  /** Epoch ms (Clock time) of the launch. */
  readonly startedAt: number;
}

/** Why a container ended. */
export type ContainerExitReason =
  /** The task's process ended on its own (its exit code or the signal that ended it is given). */
  | 'EXITED'
  /** Ended by `kill`. */
  | 'KILLED'
  /** Killed by the containerizer because `maxCompletionMs` elapsed. */
  | 'MAX_COMPLETION_TIME_REACHED'
  /** Never started (bad command, sandbox not writable, image missing). */
  | 'LAUNCH_FAILED'
  /** Killed by the kernel for exceeding its memory limit (containerizers with limits only). */
  | 'OOM';

/** How a container ended. */
export interface ContainerExit {
  /** Exit status when the process exited normally; absent when a signal ended it or unknown. */
  readonly exitCode?: number;
  /** Signal name (e.g. `SIGKILL`) when a signal ended the process. */
  readonly signal?: string;
  readonly reason: ContainerExitReason;
  /** For people: what happened, shown in the task status message. */
  readonly message: string;
  /** The last line the task wrote to stderr, when it exited with a non-zero code (the usual why). */
  readonly detail?: string;
}

/** A container of this agent found by `recover`. */
export interface RecoveredContainer {
  readonly containerId: string;
  readonly frameworkId: string;
  readonly taskId: string;
  readonly sandboxDir: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly pid: number | undefined;
  /** True when still running: `wait`, `kill` and `readLog` work on it as if launched by this instance. */
  readonly alive: boolean;
  /** Set when not alive: how it ended (exit code unknown when it died while no agent watched it). */
  readonly exit?: ContainerExit;
}

/** How a command run by `exec` ended. */
export interface ExecResult {
  readonly exitCode: number | undefined;
  readonly output: string;
}

/** Most output kept from an `exec`. */
export const EXEC_OUTPUT_LIMIT = 4096;

/** A slice of a task log. */
export interface LogChunk {
  /** The bytes read (at most `length`, fewer at the end of the file). */
  readonly data: Buffer;
  /** The file's total size in bytes at the time of the read (for tailing). */
  readonly size: number;
}

export type LogStream = 'stdout' | 'stderr';

/** Runs task containers on this agent. */
export interface Containerizer {
  /** The kinds of container it can launch (reported to the master at registration). */
  readonly types: readonly ContainerType[];

  /**
   * Starts a container. Called by the agent for each task it is told to run (RunTask), after the
   * task's checkpoint is written. NOT idempotent: a second call with a known `containerId` rejects
   * with `CONTAINER_EXISTS`. Resolves once the process was started (or failed to start: then `wait`
   * gives `LAUNCH_FAILED`).
   */
  launch(spec: LaunchSpec): Promise<ContainerHandle>;

  /**
   * Stops a container: SIGTERM to all its processes, then SIGKILL after `gracePeriodMs` (default
   * {@link DEFAULT_KILL_GRACE_PERIOD_MS}). Called by the agent for KillTask, health-check failures,
   * orphan cleanup and shutdown with --kill-tasks-on-shutdown. Idempotent: killing a container already
   * being killed or already ended does nothing more (the first grace period stands). Resolves when the
   * container has ended. Rejects with `UNKNOWN_CONTAINER` for an id never launched nor recovered.
   */
  kill(containerId: string, gracePeriodMs?: number): Promise<void>;

  /**
   * Resolves with how the container ended, once it ends. Called by the agent right after `launch`
   * and after `recover` for each live container, to send the terminal status update. Idempotent: any
   * number of calls, before or after the end, give the same exit. Rejects with `UNKNOWN_CONTAINER`.
   */
  wait(containerId: string): Promise<ContainerExit>;

  /**
   * Finds the containers of this agent left by a previous agent process (from the containerizer's
   * own bookkeeping: pid files, Docker labels), re-attaches to the living and reports the dead.
   * Called once by the agent at startup, before it re-registers; it compares the result with its
   * checkpoint and kills orphans. Idempotent: containers already known to this instance are returned
   * as they are, not attached twice.
   */
  recover(): Promise<RecoveredContainer[]>;

  /**
   * Reads `length` bytes of the container's stdout or stderr from `offset`. Called by the operator
   * API (`ReadTaskLog`, `berth task logs`), also after the container ended. Read-only, idempotent.
   * Rejects with `UNKNOWN_CONTAINER`, or `INVALID_ARGUMENT` for a negative offset or length.
   */
  readLog(containerId: string, stream: LogStream, offset: number, length: number): Promise<LogChunk>;

  /**
   * Forgets an ended container: drops its bookkeeping (so `recover` no longer reports it) but keeps
   * the sandbox (garbage-collected separately). Called by the agent once the task's terminal status
   * update is acknowledged. Idempotent; rejects with `CONTAINER_RUNNING` for a live container.
   */
  remove(containerId: string): Promise<void>;

  /**
   * Runs a command inside a running container (a COMMAND health check) and resolves with its exit code
   * (undefined when it was killed or timed out) and up to 4 KiB of its combined output. Gives up after
   * `timeoutMs`. Rejects with `UNKNOWN_CONTAINER`, or `CONTAINER_NOT_RUNNING` when it has ended.
   */
  exec(containerId: string, command: LaunchCommand, timeoutMs: number): Promise<ExecResult>;

  /**
   * Lets go of every container without touching it (they keep running, for a later `recover`): stops
   * the watchers and polls this instance runs. Called by the agent when it stops. Idempotent.
   */
  close(): Promise<void>;
}

/** Codes of {@link ContainerizerError}. */
export type ContainerizerErrorCode = 'UNKNOWN_CONTAINER' | 'CONTAINER_EXISTS' | 'CONTAINER_RUNNING' | 'CONTAINER_NOT_RUNNING' | 'INVALID_ARGUMENT';

/** Thrown (rejected) by containerizers for caller errors; task failures are `ContainerExit`s instead. */
export class ContainerizerError extends BerthError {
  declare readonly code: ContainerizerErrorCode;

  constructor(code: ContainerizerErrorCode, message: string, options?: BerthErrorOptions) {
    super(code, message, options);
  }
}

/** The task environment entries for its ports: PORT0…PORTn and PORTS (comma-separated). */
export function portEnv(ports: readonly number[]): Record<string, string> {
  const env: Record<string, string> = {};
  ports.forEach((p, i) => {
    env[`PORT${i}`] = String(p);
  });
  if (ports.length > 0) env['PORTS'] = ports.join(',');
  return env;
}

/** The argv of a command: `/bin/sh -c value` with `shell`, else `arguments` (or `[value]`). */
export function commandArgv(cmd: LaunchCommand): string[] {
  if (cmd.shell) return ['/bin/sh', '-c', cmd.value];
  if (cmd.arguments.length > 0) return cmd.value !== '' ? [cmd.value, ...cmd.arguments.slice(1)] : [...cmd.arguments];
  return cmd.value !== '' ? [cmd.value] : [];
}

/** Checks `readLog`'s arguments (the same for every containerizer). */
export function checkLogRead(stream: LogStream, offset: number, length: number): void {
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(length) || length < 0) {
    throw new ContainerizerError('INVALID_ARGUMENT', `offset and length must be non-negative integers (got ${offset}, ${length})`);
  }
  if (stream !== 'stdout' && stream !== 'stderr') throw new ContainerizerError('INVALID_ARGUMENT', `unknown stream ${String(stream)}`);
}
