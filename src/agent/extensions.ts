/**
 * The agent's extension points (src/common/modules/points.ts): the contracts a module's `create`
 * returns. The agent's composition root (src/cli/composition/agent.ts) puts the selected ones
 * around its containerizer with a {@link ModularContainerizer}; docs/modules.md says who calls
 * each method, when, and what must be idempotent.
 */
import type { Containerizer, LaunchSpec } from './containerizer/containerizer';

export type { Containerizer };

/** A container as the container logger and the isolators see it. */
export interface ExtensionContainer {
  readonly containerId: string;
  readonly frameworkId: string;
  readonly taskId: string;
  /** The task's sandbox: a PROCESS task's `stdout` and `stderr` files are here. */
  readonly sandboxDir: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * `containerLogger`: owns the task's log files over the container's life (rotation, shipping).
 * The containerizer still writes them (`<sandbox>/stdout`, `<sandbox>/stderr`, opened for append)
 * and `readLog` reads the current file.
 */
export interface ContainerLogger {
  /** Before each launch, awaited on the launch path; a throw fails the launch (LAUNCH_FAILED). */
  prepare(container: ExtensionContainer): void | Promise<void>;
  /** At agent start, once for each container still running (the agent restarted under it). */
  recover?(container: ExtensionContainer): void | Promise<void>;
  /** Once the container ended (also after a failed launch). Idempotent. */
  cleanup(containerId: string): void | Promise<void>;
  /** The agent stops (containers keep running): stop timers and watchers. Idempotent. */
  close?(): void | Promise<void>;
}

/**
 * `isolator`: prepares, isolates and cleans up around each container (Mesos's isolator). Every
 * isolator runs, in the modules file's order; cleanup in reverse order.
 */
export interface Isolator {
  /** Before launch, awaited; a throw fails the launch (LAUNCH_FAILED naming the isolator). */
  prepare?(spec: LaunchSpec): void | Promise<void>;
  /** Right after the container started, with its host pid (when the containerizer knows it). */
  isolate?(containerId: string, pid: number | undefined): void | Promise<void>;
  /** At agent start, once for each container still running. */
  recover?(container: ExtensionContainer): void | Promise<void>;
  /** Once the container ended (also after a failed launch or prepare). Idempotent. */
  cleanup?(containerId: string): void | Promise<void>;
}

/** What an environment decorator is asked about: the task about to launch. */
export interface DecoratedTask {
  readonly frameworkId: string;
  readonly taskId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The environment so far (the task's own, and earlier decorators'). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * `environmentDecorator` (a hook, Mesos's slaveExecutorEnvironmentDecorator): variables added to
 * every task's environment before launch. Must be quick and side-effect free: it runs on the
 * launch path of every task. A variable it returns replaces the task's own of the same name.
 */
export interface EnvironmentDecorator {
  decorate(task: DecoratedTask): Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>;
}
