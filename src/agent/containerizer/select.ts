/**
 * Builds the containerizer an agent runs with, from its `containerizers` setting: Docker (when asked
 * for, or with `auto` when an engine answers), the process containerizer, or both behind a
 * {@link CompositeContainerizer}. Used by the agent's composition root and by `berth dev`.
 */
import * as path from 'node:path';
import Dockerode from 'dockerode';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import { detectCgroups, type Cgroups } from './cgroups';
import { CompositeContainerizer } from './composite-containerizer';
import type { Containerizer } from './containerizer';
import { DockerContainerizer, type DockerHardening } from './docker-containerizer';
import { ProcessContainerizer } from './process-containerizer';

export type ContainerizersSetting = 'auto' | 'docker,process' | 'docker' | 'process';

export interface SelectContainerizerOptions {
  readonly setting: ContainerizersSetting;
  readonly dockerSocket: string;
  /** The agent's absolute work directory (process pointers live below it; Docker labels name it). */
  readonly workDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Hard CPU limits for Docker tasks (see DockerContainerizerOptions.cpuQuota). @default true */
  readonly cpuQuota?: boolean;
  /** What Docker task containers are denied. @default DEFAULT_DOCKER_HARDENING */
  readonly dockerHardening?: DockerHardening;
  /** Per-task cgroups for PROCESS tasks where the host allows them (else said once, in the log). @default true */
  readonly processCgroups?: boolean;
  /** How long to wait for the engine's answer. @default 3000 */
  readonly pingTimeoutMs?: number;
}

/** Whether the Docker engine on `socket` answers a ping in time. */
export async function dockerAnswers(docker: Dockerode, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      docker.ping().then(() => true, () => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The containerizer for the setting.
 * @throws Error when `docker` is asked for and no engine answers.
 */
export async function selectContainerizer(options: SelectContainerizerOptions): Promise<Containerizer> {
  const { setting, clock, logger } = options;
  let cgroups: Cgroups | undefined;
  if (options.processCgroups ?? true) {
    const found = (process.getuid?.() ?? 0) === 0 ? detectCgroups() : { unavailable: 'the agent is not root' };
    if ('unavailable' in found) logger.warn(`PROCESS tasks run without cpu and memory limits: ${found.unavailable}`);
    else cgroups = found;
  }
  const proc = (): ProcessContainerizer => new ProcessContainerizer({ runtimeDir: path.join(options.workDir, 'containers'), clock, ...(cgroups !== undefined ? { cgroups } : {}) });
  if (setting === 'process') return proc();
  const docker = new Dockerode({ socketPath: options.dockerSocket });
  const answers = await dockerAnswers(docker, options.pingTimeoutMs ?? 3000);
  if (!answers) {
    if (setting !== 'auto') throw new Error(`containerizers "${setting}": no Docker engine answers on ${options.dockerSocket} (start dockerd, or set containerizers to process)`);
    logger.warn('no Docker engine answers: tasks run as plain processes only (DOCKER tasks are refused)', { dockerSocket: options.dockerSocket });
    return proc();
  }
  const dockerCz = new DockerContainerizer({ docker, clock, scope: options.workDir, logger, cpuQuota: options.cpuQuota, hardening: options.dockerHardening });
  logger.info('Docker engine found', { dockerSocket: options.dockerSocket, containerizers: setting === 'docker' ? 'docker' : 'docker,process' });
  return setting === 'docker' ? dockerCz : new CompositeContainerizer([dockerCz, proc()]);
}
