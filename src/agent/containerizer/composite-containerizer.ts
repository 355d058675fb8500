/**
 * Several containerizers behind one: `launch` goes to the first that runs the spec's `type`, every
 * other call to the one that launched (or recovered) the container. An agent on a host with Docker
 * runs `docker` and `process` side by side this way.
 */
import {
  ContainerizerError,
  type ContainerExit,
  type ContainerHandle,
  type ContainerType,
  type Containerizer,
  type ExecResult,
  type LaunchCommand,
  type LaunchSpec,
  type LogChunk,
  type LogStream,
  type RecoveredContainer,
} from './containerizer';

export class CompositeContainerizer implements Containerizer {
  readonly types: readonly ContainerType[];
  private readonly owner = new Map<string, Containerizer>();

  constructor(private readonly parts: readonly Containerizer[]) {
    this.types = [...new Set(parts.flatMap((p) => p.types))];
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    const part = this.parts.find((p) => p.types.includes(spec.type));
    if (part === undefined) throw new ContainerizerError('INVALID_ARGUMENT', `this agent cannot run ${spec.type} containers (it runs ${this.types.join(', ')})`);
    if (this.owner.has(spec.containerId)) throw new ContainerizerError('CONTAINER_EXISTS', `container ${spec.containerId} already exists`);
    this.owner.set(spec.containerId, part);
    return part.launch(spec);
  }

  kill(containerId: string, gracePeriodMs?: number): Promise<void> {
    return this.route(containerId, (p) => p.kill(containerId, gracePeriodMs));
  }

  wait(containerId: string): Promise<ContainerExit> {
    return this.route(containerId, (p) => p.wait(containerId));
  }

  readLog(containerId: string, stream: LogStream, offset: number, length: number): Promise<LogChunk> {
    return this.route(containerId, (p) => p.readLog(containerId, stream, offset, length));
  }

  exec(containerId: string, command: LaunchCommand, timeoutMs: number): Promise<ExecResult> {
    return this.route(containerId, (p) => p.exec(containerId, command, timeoutMs));
  }

  async remove(containerId: string): Promise<void> {
    const part = this.owner.get(containerId);
    if (part === undefined) return;
    await part.remove(containerId);
    this.owner.delete(containerId);
  }

  async recover(): Promise<RecoveredContainer[]> {
    const all: RecoveredContainer[] = [];
    for (const part of this.parts) {
      for (const c of await part.recover()) {
        this.owner.set(c.containerId, part);
        all.push(c);
      }
    }
    return all;
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.close()));
  }

  private route<T>(containerId: string, call: (part: Containerizer) => Promise<T>): Promise<T> {
    const part = this.owner.get(containerId);
    if (part === undefined) return Promise.reject(new ContainerizerError('UNKNOWN_CONTAINER', `unknown container ${containerId}`));
    return call(part);
  }
}
