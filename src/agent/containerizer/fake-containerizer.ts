/**
 * `FakeContainerizer`: containers that exist only in memory — for tests and benchmarks that need many
 * agents and tasks where a real container adds nothing (scheduling, status flow, frameworks). Never
 * chosen by configuration: an agent gets it only when code passes it in.
 *
 * A container starts at once and runs until killed, unless `behaviour(spec)` says it ends on its own
 * (`exitAfterMs` on the injected clock, with `exitCode`) or fails to launch. Kill ends it at once
 * (grace periods are not simulated); logs are empty; `exec` succeeds unless `behaviour` says the
 * health check fails. State is per instance: a new instance recovers nothing (like a rebooted host).
 */
import type { Clock } from '../../common/clock';
import {
  checkLogRead,
  ContainerizerError,
  type ContainerHandle,
  type ContainerType,
  type Containerizer,
  type ExecResult,
  type LaunchSpec,
  type LogChunk,
  type LogStream,
  type RecoveredContainer,
} from './containerizer';
import { ContainerLife, ContainerTable } from './lifecycle';

/** How a fake container behaves. */
export interface FakeBehaviour {
  /** Ends on its own this long after the launch. @default never */
  readonly exitAfterMs?: number;
  /** Its exit code when it ends on its own. @default 0 */
  readonly exitCode?: number;
  /** Fails to launch with this message. */
  readonly launchFailure?: string;
  /** `exec` (COMMAND health checks) exits with this code. @default 0 */
  readonly execExitCode?: number;
}

interface FakeContainer {
  readonly spec: LaunchSpec;
  readonly life: ContainerLife;
}

export class FakeContainerizer extends ContainerTable<FakeContainer> implements Containerizer {
  readonly types: readonly ContainerType[] = ['DOCKER', 'PROCESS'];

  constructor(
    private readonly clock: Clock,
    private readonly behaviour: (spec: LaunchSpec) => FakeBehaviour = () => ({}),
  ) {
    super();
  }

  /** Containers launched and not yet removed. */
  get size(): number {
    return this.containers.size;
  }

  /** Task ids of the containers running now (a test's ground truth). */
  runningTaskIds(): string[] {
    return [...this.containers.values()].filter((c) => c.life.exit === undefined).map((c) => c.spec.taskId);
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.containers.has(spec.containerId)) throw new ContainerizerError('CONTAINER_EXISTS', `container ${spec.containerId} already exists`);
    const b = this.behaviour(spec);
    const life = new ContainerLife(this.clock, undefined);
    const c: FakeContainer = { spec, life };
    this.containers.set(spec.containerId, c);
    const startedAt = this.clock.now();
    if (b.launchFailure !== undefined) {
      life.finish({ reason: 'LAUNCH_FAILED', message: `launch failed: ${b.launchFailure}` });
      return { containerId: spec.containerId, started: false, pid: undefined, startedAt };
    }
    life.setSignal(() => life.finish(life.processExit(undefined, 'SIGKILL')));
    if (b.exitAfterMs !== undefined) {
      const t = this.clock.setTimeout(() => life.finish(life.processExit(b.exitCode ?? 0, undefined)), b.exitAfterMs);
      life.whenEnded(() => this.clock.clearTimeout(t));
    }
    if (spec.maxCompletionMs !== undefined) life.armMaxCompletion(spec.maxCompletionMs, 0);
    return { containerId: spec.containerId, started: true, pid: undefined, startedAt };
  }

  async recover(): Promise<RecoveredContainer[]> {
    return [...this.containers.values()].map(({ spec, life }) => ({
      containerId: spec.containerId, frameworkId: spec.frameworkId, taskId: spec.taskId, sandboxDir: spec.sandboxDir, labels: spec.labels,
      pid: undefined, alive: life.exit === undefined, ...(life.exit !== undefined ? { exit: life.exit } : {}),
    }));
  }

  async readLog(containerId: string, stream: LogStream, offset: number, length: number): Promise<LogChunk> {
    this.get(containerId);
    checkLogRead(stream, offset, length);
    return { data: Buffer.alloc(0), size: 0 };
  }

  async exec(containerId: string): Promise<ExecResult> {
    const c = this.get(containerId);
    if (c.life.exit !== undefined) throw new ContainerizerError('CONTAINER_NOT_RUNNING', `container ${containerId} has ended`);
    return { exitCode: this.behaviour(c.spec).execExitCode ?? 0, output: '' };
  }

  async remove(containerId: string): Promise<void> {
    const c = this.containers.get(containerId);
    if (c === undefined) return;
    if (c.life.exit === undefined) throw new ContainerizerError('CONTAINER_RUNNING', `container ${containerId} is still running`);
    this.containers.delete(containerId);
  }

  async close(): Promise<void> {
    // Nothing runs outside this object.
  }
}
