/**
 * Puts the agent's loaded extensions around its containerizer: environment decorators and isolators'
 * `prepare` before each launch, the container logger's `prepare`, the isolators' `isolate` right
 * after, and `cleanup` of both once the container ends. Built only when a module is loaded for one of
 * these points: an agent without modules runs its containerizer bare, at no cost.
 *
 * A decorator, isolator or logger that throws before launch fails the launch the way the
 * Containerizer contract says task-level failures do: `launch` resolves with `started: false` and
 * `wait` gives `LAUNCH_FAILED` naming the module.
 */
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { ContainerLogger, EnvironmentDecorator, ExtensionContainer, Isolator } from '../extensions';
import {
  ContainerizerError,
  type ContainerExit,
  type ContainerHandle,
  type Containerizer,
  type ExecResult,
  type LaunchCommand,
  type LaunchSpec,
  type LogChunk,
  type LogStream,
  type RecoveredContainer,
} from './containerizer';

/** An extension with the name it was registered under (for messages). */
export interface Named<T> {
  readonly name: string;
  readonly impl: T;
}

export interface ModularContainerizerOptions {
  readonly environmentDecorators?: readonly Named<EnvironmentDecorator>[];
  readonly isolators?: readonly Named<Isolator>[];
  readonly containerLogger?: Named<ContainerLogger>;
  readonly clock: Clock;
  readonly logger: Logger;
}

const of = (spec: Pick<LaunchSpec, 'containerId' | 'frameworkId' | 'taskId' | 'sandboxDir' | 'labels'>): ExtensionContainer => ({
  containerId: spec.containerId, frameworkId: spec.frameworkId, taskId: spec.taskId, sandboxDir: spec.sandboxDir, labels: spec.labels,
});

export class ModularContainerizer implements Containerizer {
  readonly types: Containerizer['types'];
  /** Launches a module refused: the containerizer never saw them. */
  private readonly refused = new Map<string, ContainerExit>();
  /** Containers whose cleanup has run or is running. */
  private readonly cleaned = new Map<string, Promise<void>>();
  private readonly decorators: readonly Named<EnvironmentDecorator>[];
  private readonly isolators: readonly Named<Isolator>[];

  constructor(private readonly inner: Containerizer, private readonly options: ModularContainerizerOptions) {
    this.types = inner.types;
    this.decorators = options.environmentDecorators ?? [];
    this.isolators = options.isolators ?? [];
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.refused.has(spec.containerId)) throw new ContainerizerError('CONTAINER_EXISTS', `container ${spec.containerId} already exists`);
    let current = spec;
    let step = '';
    try {
      for (const d of this.decorators) {
        step = `environment decorator "${d.name}"`;
        const added = await d.impl.decorate({ frameworkId: spec.frameworkId, taskId: spec.taskId, labels: spec.labels, env: current.env });
        current = { ...current, env: { ...current.env, ...added } };
      }
      for (const i of this.isolators) {
        step = `isolator "${i.name}"`;
        await i.impl.prepare?.(current);
      }
      const cl = this.options.containerLogger;
      if (cl !== undefined) {
        step = `container logger "${cl.name}"`;
        await cl.impl.prepare(of(current));
      }
    } catch (err) {
      const message = `${step} refused the launch: ${(err as Error).message}`;
      this.options.logger.warn('launch refused by a module', { containerId: spec.containerId, taskId: spec.taskId, err: (err as Error).message });
      this.refused.set(spec.containerId, { reason: 'LAUNCH_FAILED', message });
      void this.cleanup(spec.containerId);
      return { containerId: spec.containerId, started: false, pid: undefined, startedAt: this.options.clock.now() };
    }
    const handle = await this.inner.launch(current);
    if (!handle.started) {
      void this.cleanup(spec.containerId);
      return handle;
    }
    for (const i of this.isolators) {
      try {
        await i.impl.isolate?.(spec.containerId, handle.pid);
      } catch (err) {
        // Started but not isolated: it must not run unconfined. Killed; wait gives how it ended.
        this.options.logger.error('isolate failed: killing the container', { isolator: i.name, containerId: spec.containerId, err: (err as Error).message });
        void this.inner.kill(spec.containerId, 0).catch(() => undefined);
      }
    }
    this.cleanupAtEnd(spec.containerId);
    return handle;
  }

  kill(containerId: string, gracePeriodMs?: number): Promise<void> {
    return this.refused.has(containerId) ? Promise.resolve() : this.inner.kill(containerId, gracePeriodMs);
  }

  wait(containerId: string): Promise<ContainerExit> {
    const exit = this.refused.get(containerId);
    return exit !== undefined ? Promise.resolve(exit) : this.inner.wait(containerId);
  }

  async recover(): Promise<RecoveredContainer[]> {
    const found = await this.inner.recover();
    for (const c of found.filter((r) => r.alive)) {
      for (const m of [...this.isolators, ...(this.options.containerLogger !== undefined ? [this.options.containerLogger] : [])]) {
        await Promise.resolve(m.impl.recover?.(of(c))).catch((err: unknown) => this.options.logger.warn('module recover failed', { module: m.name, containerId: c.containerId, err: (err as Error).message }));
      }
      this.cleanupAtEnd(c.containerId);
    }
    return found;
  }

  readLog(containerId: string, stream: LogStream, offset: number, length: number): Promise<LogChunk> {
    if (this.refused.has(containerId)) return Promise.resolve({ data: Buffer.alloc(0), size: 0 });
    return this.inner.readLog(containerId, stream, offset, length);
  }

  async remove(containerId: string): Promise<void> {
    if (this.refused.delete(containerId)) return;
    await this.inner.remove(containerId);
    this.cleaned.delete(containerId);
  }

  exec(containerId: string, command: LaunchCommand, timeoutMs: number): Promise<ExecResult> {
    if (this.refused.has(containerId)) return Promise.reject(new ContainerizerError('CONTAINER_NOT_RUNNING', `container ${containerId} never started`));
    return this.inner.exec(containerId, command, timeoutMs);
  }

  async close(): Promise<void> {
    await this.inner.close();
    await Promise.resolve(this.options.containerLogger?.impl.close?.()).catch(() => undefined);
  }

  private cleanupAtEnd(containerId: string): void {
    void this.inner.wait(containerId).then(() => this.cleanup(containerId), () => undefined);
  }

  /** Runs every module's cleanup for the container once: the logger first, isolators in reverse. */
  private cleanup(containerId: string): Promise<void> {
    const running = this.cleaned.get(containerId);
    if (running !== undefined) return running;
    const done = (async () => {
      const steps: Named<{ cleanup?(id: string): void | Promise<void> }>[] = [
        ...(this.options.containerLogger !== undefined ? [this.options.containerLogger] : []),
        ...[...this.isolators].reverse(),
      ];
      for (const m of steps) {
        try {
          await m.impl.cleanup?.(containerId);
        } catch (err) {
          this.options.logger.warn('module cleanup failed', { module: m.name, containerId, err: (err as Error).message });
        }
      }
    })();
    this.cleaned.set(containerId, done);
    return done;
  }
}
