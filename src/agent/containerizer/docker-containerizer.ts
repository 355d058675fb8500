/**
 * `DockerContainerizer`: each task is a container of the local Docker engine, driven through dockerode.
 *
 * - Host networking (tasks get host ports from offers, exported as PORT0…PORTn, the Mesos model; the
 *   engine runs with `--bridge=none`), `--init` so SIGTERM reaches the task's processes, CPU shares plus
 *   (unless `cpuQuota` is off) a CFS quota from `cpus`, a memory limit from `mem` with swap disabled (so a breach is an OOM kill,
 *   reported as `OOM`), the sandbox mounted at {@link SANDBOX_MOUNT}, the task's volumes as bind mounts.
 * - Labels tie each container to its agent (`io.berth.scope`, the agent's work directory) and task, so
 *   `recover()` after an agent restart finds them with one list call: running ones are re-attached,
 *   ended ones report their exit code and OOM flag from `docker inspect`.
 * - The image is pulled only when the engine does not have it (the create answers "no such image") or
 *   `forcePull` is set; a pull failure is a `LAUNCH_FAILED` exit naming the image and the engine's error.
 * - stdout/stderr are read from the engine's log (`docker logs`) while the container exists; `remove()`
 *   copies them into the sandbox (`stdout`, `stderr`) before deleting the container, so logs outlive it.
 * - The end of a container is noticed with a `wait` request per container (re-issued with backoff if the
 *   engine connection drops); a container deleted behind the agent's back ends with an unknown code.
 */
import { mkdirSync } from 'node:fs';
import { prepareSandbox } from '../task-user';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import type { Clock } from '../../common/clock';
import { nullLogger, type Logger } from '../../common/logging';
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
import { lastLine, readFileSlice, sliceOf, writeSandboxFile } from './log-file';

/** Where the task's sandbox appears inside its container (also in `BERTH_SANDBOX`). */
export const SANDBOX_MOUNT = '/mnt/berth/sandbox';
/** Smallest memory limit given to a container (the engine refuses less than 6 MiB). */
export const MIN_MEMORY_MIB = 8;

const LABEL = {
  scope: 'io.berth.scope',
  containerId: 'io.berth.container-id',
  frameworkId: 'io.berth.framework-id',
  taskId: 'io.berth.task-id',
  sandbox: 'io.berth.sandbox',
  startedAt: 'io.berth.started-at',
  /** Prefix of the spec's own labels. */
  user: 'io.berth.label.',
} as const;

export interface DockerContainerizerOptions {
  readonly docker: Dockerode;
  readonly clock: Clock;
  /**
   * Marks this agent's containers among all of the engine's (several agents may share an engine, as in
   * tests). Must be stable across restarts of the same agent: its absolute work directory.
   */
  readonly scope: string;
  /** Run `docker-init` as PID 1 so signals reach the task. @default true */
  readonly init?: boolean;
  /**
   * Enforce `cpus` as a hard CFS quota (Mesos's `--cgroups_enable_cfs`) on top of the CPU shares.
   * With it a task never uses more than its cpus, but a tiny share also slows its start (a
   * cpus:0.01 container needs ~3 s to start here, cpus:0.1 ~0.25 s). @default true
   */
  readonly cpuQuota?: boolean;
  /** First delay before re-asking the engine for a container's end after a failed wait. @default 1000 */
  readonly retryMinMs?: number;
  /** What every container is denied; see {@link DockerHardening}. @default DEFAULT_DOCKER_HARDENING */
  readonly hardening?: DockerHardening;
  readonly logger?: Logger;
}

/**
 * The limits every task container gets (agent settings relax them). Docker's defaults let a process
 * in a container gain privileges through setuid binaries, open raw sockets (spoofing on the host's
 * network, since tasks use host networking) and fork without bound.
 */
export interface DockerHardening {
  /** `no-new-privileges`: setuid/setcap binaries grant nothing. */
  readonly noNewPrivileges: boolean;
  /** Capabilities dropped from Docker's default set (`NET_RAW`, …); `ALL` drops every one. */
  readonly dropCapabilities: readonly string[];
  /** Most processes (and threads) a container may have; 0: no limit. */
  readonly pidsLimit: number;
}

export const DEFAULT_DOCKER_HARDENING: DockerHardening = { noNewPrivileges: true, dropCapabilities: ['NET_RAW'], pidsLimit: 4096 };

interface Container {
  readonly containerId: string;
  readonly frameworkId: string;
  readonly taskId: string;
  readonly sandboxDir: string;
  readonly labels: Record<string, string>;
  readonly startedAt: number;
  readonly life: ContainerLife;
  /** The engine's container (by name until created, then by id). */
  handle: Dockerode.Container | undefined;
  pid: number | undefined;
  /** Aborts the pending wait request (on close). */
  abort: AbortController | undefined;
}

/** An engine error's HTTP status, when it has one. */
function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The engine's own words for an error, without dockerode's prefix. */
function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } }).json;
  if (json !== undefined && typeof json?.message === 'string') return json.message;
  return (err as Error).message ?? String(err);
}

export class DockerContainerizer extends ContainerTable<Container> implements Containerizer {
  readonly types = ['DOCKER'] as const;
  private readonly docker: Dockerode;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private closed = false;

  constructor(private readonly options: DockerContainerizerOptions) {
    super();
    this.docker = options.docker;
    this.clock = options.clock;
    this.logger = (options.logger ?? nullLogger).child({ component: 'docker-containerizer' });
  }

  async launch(spec: LaunchSpec): Promise<ContainerHandle> {
    if (this.containers.has(spec.containerId)) {
      throw new ContainerizerError('CONTAINER_EXISTS', `container ${spec.containerId} already exists`);
    }
    const startedAt = this.clock.now();
    const c = this.track({
      containerId: spec.containerId,
      frameworkId: spec.frameworkId,
      taskId: spec.taskId,
      sandboxDir: spec.sandboxDir,
      labels: { ...spec.labels },
      startedAt,
    });
    const failed = (message: string): ContainerHandle => {
      c.life.finish({ reason: 'LAUNCH_FAILED', message });
      return { containerId: spec.containerId, started: false, pid: undefined, startedAt };
    };
    const image = spec.image?.name;
    if (image === undefined || image === '') return failed('launch failed: a DOCKER container needs an image');
    try {
      prepareSandbox(spec.sandboxDir, spec.user, this.options.scope);
    } catch (e) {
      return failed(`launch failed: cannot create the sandbox: ${(e as Error).message}`);
    }

    const options = this.createOptions(spec, image, startedAt);
    try {
      if (spec.image?.forcePull === true) await this.pull(image);
      try {
        c.handle = await this.docker.createContainer(options);
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
        await this.pull(image); // "No such image": fetch it once, then create again
        c.handle = await this.docker.createContainer(options);
      }
    } catch (e) {
      return failed(`launch failed: ${(e as Error).message.startsWith('pulling') ? (e as Error).message : engineMessage(e)}`);
    }
    c.life.setSignal((signal) => this.signal(c, signal));
    try {
      await c.handle.start();
    } catch (e) {
      return failed(`launch failed: ${engineMessage(e)}`);
    }
    if (spec.maxCompletionMs !== undefined) {
      c.life.armMaxCompletion(spec.maxCompletionMs, spec.killGracePeriodMs ?? DEFAULT_KILL_GRACE_PERIOD_MS);
    }
    this.watchExit(c, this.options.retryMinMs ?? 1000);
    return { containerId: spec.containerId, started: true, pid: undefined, startedAt };
  }

  async recover(): Promise<RecoveredContainer[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.scope}=${this.options.scope}`] } });
    const found: RecoveredContainer[] = [];
    for (const summary of list) {
      const labels = summary.Labels ?? {};
      const containerId = labels[LABEL.containerId];
      if (containerId === undefined) continue;
      let c = this.containers.get(containerId);
      if (c === undefined) {
        const user: Record<string, string> = {};
        for (const [k, v] of Object.entries(labels)) if (k.startsWith(LABEL.user)) user[k.slice(LABEL.user.length)] = v;
        c = this.track({
          containerId,
          frameworkId: labels[LABEL.frameworkId] ?? '',
          taskId: labels[LABEL.taskId] ?? '',
          sandboxDir: labels[LABEL.sandbox] ?? '',
          labels: user,
          startedAt: Number(labels[LABEL.startedAt] ?? 0),
        });
        const handle = this.docker.getContainer(summary.Id);
        c.handle = handle;
        const life = c.life;
        const current = c;
        life.setSignal((signal) => this.signal(current, signal));
        if (summary.State === 'running' || summary.State === 'paused' || summary.State === 'restarting') {
          this.watchExit(c, this.options.retryMinMs ?? 1000);
        } else if (summary.State === 'created') {
          life.finish({ reason: 'LAUNCH_FAILED', message: 'launch failed: the container was created but never started (the agent stopped during the launch)' });
        } else {
          life.finish(await this.endOf(c));
        }
      }
      found.push(describe(c));
    }
    return found;
  }

  async readLog(containerId: string, stream: LogStream, offset: number, length: number): Promise<LogChunk> {
    const c = this.get(containerId);
    checkLogRead(stream, offset, length);
    const all = await this.engineLog(c, stream);
    return sliceOf(all, offset, length);
  }

  async remove(containerId: string): Promise<void> {
    const c = this.containers.get(containerId);
    if (c === undefined) return;
    if (c.life.exit === undefined) throw new ContainerizerError('CONTAINER_RUNNING', `container ${containerId} is still running`);
    if (c.handle !== undefined) {
      // Keep the logs with the sandbox: the engine's copy goes with the container.
      try {
        mkdirSync(c.sandboxDir, { recursive: true });
        for (const stream of ['stdout', 'stderr'] as const) await writeSandboxFile(path.join(c.sandboxDir, stream), await this.engineLog(c, stream));
      } catch (e) {
        if (statusOf(e) !== 404) this.logger.warn('saving a container log failed', { containerId, err: engineMessage(e) });
      }
      try {
        await c.handle.remove({ force: true, v: true });
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
    }
    this.containers.delete(containerId);
  }

  async exec(containerId: string, command: LaunchCommand, timeoutMs: number): Promise<ExecResult> {
    const c = this.get(containerId);
    if (c.life.exit !== undefined || c.handle === undefined) throw new ContainerizerError('CONTAINER_NOT_RUNNING', `container ${containerId} has ended`);
    const argv = commandArgv(command);
    if (argv.length === 0) throw new ContainerizerError('INVALID_ARGUMENT', 'exec of an empty command');
    const abort = new AbortController();
    const timer = this.clock.setTimeout(() => abort.abort(), timeoutMs);
    try {
      const ex = await c.handle.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true, abortSignal: abort.signal } as Dockerode.ExecCreateOptions);
      const stream = await ex.start({ hijack: true, stdin: false, abortSignal: abort.signal } as Dockerode.ExecStartOptions);
      const chunks: Buffer[] = [];
      let size = 0;
      await new Promise<void>((resolve) => {
        const done = (): void => resolve();
        stream.on('data', (d: Buffer) => {
          if (size < EXEC_OUTPUT_LIMIT + 8 * 16) chunks.push(d);
          size += d.length;
        });
        stream.once('end', done);
        stream.once('close', done);
        stream.once('error', done);
        abort.signal.addEventListener('abort', () => {
          stream.destroy();
          done();
        });
      });
      const output = demux(Buffer.concat(chunks)).subarray(0, EXEC_OUTPUT_LIMIT).toString('utf8');
      if (abort.signal.aborted) {
        // The engine cannot kill an exec: kill its process on the host, or it lingers in the container.
        const info = await ex.inspect().catch(() => undefined);
        if (info?.Running === true && typeof info.Pid === 'number' && info.Pid > 0) {
          try {
            process.kill(info.Pid, 'SIGKILL');
          } catch {
            // Ended meanwhile.
          }
        }
        return { exitCode: undefined, output: `${output}timed out after ${timeoutMs} ms` };
      }
      const info = await ex.inspect();
      return { exitCode: info.ExitCode ?? undefined, output };
    } catch (e) {
      return { exitCode: undefined, output: abort.signal.aborted ? `timed out after ${timeoutMs} ms` : engineMessage(e) };
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.containers.values()) c.abort?.abort();
  }

  // ---- internals ----

  private track(fields: Omit<Container, 'life' | 'handle' | 'pid' | 'abort'>): Container {
    const c: Container = { ...fields, life: new ContainerLife(this.clock, undefined), handle: undefined, pid: undefined, abort: undefined };
    this.containers.set(c.containerId, c);
    return c;
  }

  private createOptions(spec: LaunchSpec, image: string, startedAt: number): Dockerode.ContainerCreateOptions {
    const env: Record<string, string> = {
      ...spec.env,
      ...portEnv(spec.ports),
      BERTH_SANDBOX: SANDBOX_MOUNT,
      BERTH_CONTAINER_ID: spec.containerId,
      BERTH_FRAMEWORK_ID: spec.frameworkId,
      BERTH_TASK_ID: spec.taskId,
    };
    const labels: Record<string, string> = {
      [LABEL.scope]: this.options.scope,
      [LABEL.containerId]: spec.containerId,
      [LABEL.frameworkId]: spec.frameworkId,
      [LABEL.taskId]: spec.taskId,
      [LABEL.sandbox]: spec.sandboxDir,
      [LABEL.startedAt]: String(startedAt),
    };
    for (const [k, v] of Object.entries(spec.labels)) labels[LABEL.user + k] = v;
    const cmd = spec.command;
    let entrypoint: string[] | undefined;
    let command: string[] | undefined;
    if (cmd.shell) {
      entrypoint = ['/bin/sh', '-c'];
      command = [cmd.value];
    } else if (cmd.value !== '') {
      entrypoint = [cmd.value];
      command = cmd.arguments.slice(1);
    } else if (cmd.arguments.length > 0) {
      command = [...cmd.arguments]; // the image's entrypoint with these arguments
    }
    // No mem among the task's resources: no memory limit (rather than a tiny one that kills it).
    const memBytes = spec.memMib > 0 ? Math.max(MIN_MEMORY_MIB, Math.ceil(spec.memMib)) * 1024 * 1024 : undefined;
    const binds = [`${spec.sandboxDir}:${SANDBOX_MOUNT}:rw`, ...(spec.volumes ?? []).map((v) => `${v.hostPath}:${v.containerPath}:${v.readOnly ? 'ro' : 'rw'}`)];
    const hardening = this.options.hardening ?? DEFAULT_DOCKER_HARDENING;
    const user = spec.user;
    return {
      name: `berth-${spec.containerId}`,
      Image: image,
      // Numeric, resolved on the host: the image may have no /etc/passwd, or other ids for the name.
      ...(user !== undefined ? { User: `${user.uid}:${user.gid}` } : {}),
      ...(entrypoint !== undefined ? { Entrypoint: entrypoint } : {}),
      ...(command !== undefined ? { Cmd: command } : {}),
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: labels,
      HostConfig: {
        NetworkMode: 'host',
        Init: this.options.init ?? true,
        ...(memBytes !== undefined ? { Memory: memBytes, MemorySwap: memBytes } : {}),
        ...(spec.cpus > 0 ? { CpuShares: Math.max(2, Math.round(spec.cpus * 1024)) } : {}),
        ...(spec.cpus > 0 && (this.options.cpuQuota ?? true) ? { NanoCpus: Math.max(10_000_000, Math.round(spec.cpus * 1e9)) } : {}),
        Binds: binds,
        ...(user !== undefined && user.groups.length > 0 ? { GroupAdd: user.groups.map(String) } : {}),
        ...(hardening.noNewPrivileges ? { SecurityOpt: ['no-new-privileges'] } : {}),
        ...(hardening.dropCapabilities.length > 0 ? { CapDrop: [...hardening.dropCapabilities] } : {}),
        ...(hardening.pidsLimit > 0 ? { PidsLimit: hardening.pidsLimit } : {}),
        ...(spec.readOnlyRootfs === true ? { ReadonlyRootfs: true } : {}),
      },
    };
  }

  private async pull(image: string): Promise<void> {
    try {
      const stream = await this.docker.pull(image);
      const events = await new Promise<{ error?: string }[]>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => (err ? reject(err) : resolve(out)));
      });
      const bad = events.find((e) => typeof e.error === 'string');
      if (bad !== undefined) throw new Error(bad.error);
    } catch (e) {
      throw new Error(`pulling image ${image} failed: ${engineMessage(e)}`);
    }
  }

  /**
   * Signals the container; until it has ended, a failed signal (engine restarting, container paused)
   * is sent again every second — a kill must not be lost.
   */
  private signal(c: Container, signal: 'SIGTERM' | 'SIGKILL'): void {
    c.handle?.kill({ signal }).catch((e: unknown) => {
      if (statusOf(e) === 404 || c.life.exit !== undefined || this.closed) return; // gone: nothing to signal
      this.logger.warn('signalling a container failed; trying again', { containerId: c.containerId, signal, err: engineMessage(e) });
      this.clock.setTimeout(() => {
        if (c.life.exit === undefined && !this.closed) this.signal(c, signal);
      }, 1000);
    });
  }

  /** Asks the engine to tell when the container stops; on a dropped connection asks again, backing off. */
  private watchExit(c: Container, delayMs: number): void {
    if (this.closed || c.life.exit !== undefined || c.handle === undefined) return;
    const abort = new AbortController();
    c.abort = abort;
    c.handle.wait({ condition: 'not-running', abortSignal: abort.signal }).then(
      async () => {
        c.life.finish(await this.endOf(c));
      },
      (err: unknown) => {
        if (this.closed || abort.signal.aborted) return;
        if (statusOf(err) === 404) {
          c.life.finish(c.life.processExit(undefined, undefined));
          return;
        }
        this.logger.warn('waiting for a container failed; asking again', { containerId: c.containerId, err: engineMessage(err), retryMs: delayMs });
        this.clock.setTimeout(() => this.watchExit(c, Math.min(delayMs * 2, 30_000)), delayMs);
      },
    );
  }

  /** How a stopped container ended, from `docker inspect`. */
  private async endOf(c: Container): Promise<ContainerExit> {
    try {
      const info = await c.handle!.inspect();
      const state = info.State;
      if (state.Error !== undefined && state.Error !== '' && !state.Running && state.StartedAt.startsWith('0001')) {
        return { reason: 'LAUNCH_FAILED', message: `launch failed: ${state.Error}` };
      }
      const exit = c.life.processExit(state.ExitCode, undefined, state.OOMKilled);
      if (exit.reason !== 'EXITED' || exit.exitCode === 0) return exit;
      const detail = lastLine(await this.engineLog(c, 'stderr', 20));
      return detail === undefined ? exit : { ...exit, detail };
    } catch (e) {
      if (statusOf(e) !== 404) this.logger.warn('inspecting an ended container failed', { containerId: c.containerId, err: engineMessage(e) });
      return c.life.processExit(undefined, undefined);
    }
  }

  /** One stream of the container's log as the engine keeps it (demultiplexed). */
  private async engineLog(c: Container, stream: LogStream, tailLines?: number): Promise<Buffer> {
    if (c.handle === undefined) return Buffer.alloc(0);
    let raw: Buffer;
    try {
      raw = (await c.handle.logs({ follow: false, stdout: stream === 'stdout', stderr: stream === 'stderr', ...(tailLines !== undefined ? { tail: tailLines } : {}) })) as unknown as Buffer;
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      // Removed already: the copy in the sandbox is all there is.
      return (await readFileSlice(path.join(c.sandboxDir, stream), 0, Number.MAX_SAFE_INTEGER).catch(() => ({ data: Buffer.alloc(0) }))).data;
    }
    return demux(raw);
  }
}

/**
 * The payload of the engine's multiplexed log format (8-byte frame headers: stream, 0, 0, 0, size as
 * big-endian uint32) for a container without a TTY.
 */
export function demux(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, Math.min(raw.length, at + 8 + size)));
    at += 8 + size;
  }
  return Buffer.concat(parts);
}

function describe(c: Container): RecoveredContainer {
  return {
    containerId: c.containerId,
    frameworkId: c.frameworkId,
    taskId: c.taskId,
    sandboxDir: c.sandboxDir,
    labels: c.labels,
    pid: c.pid,
    alive: c.life.exit === undefined,
    ...(c.life.exit !== undefined ? { exit: c.life.exit } : {}),
  };
}
