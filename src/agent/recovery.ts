/**
 * The agent's restart (DESIGN §8): rebuilds the {@link TaskRunner}'s tasks from the {@link Checkpoint}
 * and the unacknowledged updates of the {@link StatusUpdateManager}, then asks the containerizer to
 * `recover`: live containers are re-attached (their tasks go in REREGISTER), dead ones get their
 * terminal update, containers the checkpoint does not know are killed. Also `recover: 'cleanup'`:
 * kill every container and move the checkpoint aside.
 */
import { BerthError } from '../common/errors';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logging';
import type { FrameworkInfo } from '../generated/berth/v1/FrameworkInfo';
import type { TaskInfo } from '../generated/berth/v1/TaskInfo';
import { layout, type Checkpoint } from './checkpoint';
import type { Containerizer, RecoveredContainer } from './containerizer/containerizer';
import { healthCheckFromWire } from './health-checker';
import { taskPorts } from './task-mapping';
import { isTerminalState, uuidHex, type StatusUpdateManager, type TaskStateName } from './status-update-manager';
import { keyOf, newTask, type TaskRecord, type TaskRunner } from './task-runner';

/** What recovery works on. */
export interface RecoveryContext {
  readonly checkpoint: Checkpoint;
  readonly containerizer: Containerizer;
  readonly updates: StatusUpdateManager;
  readonly runner: TaskRunner;
  readonly clock: Clock;
  readonly logger: Logger;
}

function isDockerTask(task: TaskInfo): boolean {
  const c = task.container;
  return c?.type === 'DOCKER' || ((c?.type === undefined || c?.type === 'TYPE_UNSPECIFIED') && !!c?.docker);
}

/** `recover: 'cleanup'`: kills every container and moves the checkpoint aside. */
export async function cleanup(ctx: Pick<RecoveryContext, 'checkpoint' | 'containerizer' | 'clock' | 'logger'>): Promise<void> {
  const containers = await ctx.containerizer.recover();
  await Promise.all(containers.map(async (c) => {
    await ctx.containerizer.kill(c.containerId, 0);
    await ctx.containerizer.remove(c.containerId);
  }));
  const aside = ctx.checkpoint.discard(ctx.clock.now());
  ctx.logger.warn('recover=cleanup: containers killed and the checkpoint moved aside; registering as a new agent', { containers: containers.length, checkpoint: aside });
}

/**
 * Recovers the tasks of the checkpoint into the runner and reconciles them with the containers the
 * containerizer finds. `agentId` is the checkpointed agent id (for the log only).
 */
export async function recover(ctx: RecoveryContext, agentId: string | undefined): Promise<void> {
  const { checkpoint, containerizer, updates, runner, logger } = ctx;
  const tasks = runner.tasks;
  /** Containers of tasks forgotten here (removed, not killed as orphans: they have ended). */
  const forgotten = new Set<string>();
  updates.recover();
  const pending = updates.pending();
  for (const frameworkId of checkpoint.frameworkIds()) {
    const fw = checkpoint.readJson<FrameworkInfo>(layout.frameworkInfo(frameworkId));
    if (fw !== undefined) runner.frameworks.set(frameworkId, fw);
    for (const taskId of checkpoint.taskIds(frameworkId)) {
      const record = checkpoint.readJson<TaskRecord>(layout.taskInfo(frameworkId, taskId));
      if (record === undefined) continue;
      const mine = pending.filter((u) => u.framework_id?.value === frameworkId && u.status?.task_id?.value === taskId);
      const last = mine[mine.length - 1]?.status ?? undefined;
      const terminal = mine.find((u) => isTerminalState(u.status!.state as TaskStateName));
      if (mine.length === 0 && isTerminalState(record.state)) {
        // Its terminal update was acknowledged just before the agent went down: finish forgetting it.
        checkpoint.remove(layout.taskDir(frameworkId, taskId));
        forgotten.add(record.containerId);
        continue;
      }
      const t = newTask({ ...record, state: (last?.state as TaskStateName | undefined) ?? record.state });
      t.latest = last;
      t.healthy = last?.healthy ?? undefined;
      t.terminalUuid = terminal === undefined ? undefined : uuidHex(terminal.status!.uuid);
      tasks.set(keyOf(frameworkId, taskId), t);
    }
  }
  const docker = [...tasks.values()].filter((t) => t.terminalUuid === undefined && !isTerminalState(t.record.state) && isDockerTask(t.record.task));
  if (docker.length > 0 && !containerizer.types.includes('DOCKER')) {
    // Failing them would start their work again elsewhere while their containers run on, unwatched.
    throw new BerthError('DOCKER_UNAVAILABLE', `the checkpoint holds ${docker.length} running DOCKER task(s) (e.g. ${docker[0]!.record.task.task_id?.value}) but this agent has no Docker engine: start dockerd (or wait for it) and restart the agent, or restart it with --recover=cleanup to discard them`);
  }

  const containers = await containerizer.recover();
  const byId = new Map<string, RecoveredContainer>(containers.map((c) => [c.containerId, c]));
  for (const t of tasks.values()) {
    const c = byId.get(t.record.containerId);
    byId.delete(t.record.containerId);
    if (t.terminalUuid !== undefined || isTerminalState(t.record.state)) continue; // its end is already reported
    if (c === undefined) {
      runner.issue(t, { state: 'TASK_FAILED', reason: 'REASON_AGENT_RESTARTED', message: 'the task\'s container was not found after the agent restarted', source: 'SOURCE_AGENT' });
      continue;
    }
    logger.info(c.alive ? 'task container re-attached' : 'task container ended while the agent was down', {
      frameworkId: t.record.frameworkId, taskId: t.record.task.task_id?.value, containerId: c.containerId,
    });
    runner.attach(t);
    // Started while the agent went down, before TASK_RUNNING went out: say it now (the master must
    // not see the task go back to STAGING in the re-registration).
    if (c.alive && (t.record.state === 'TASK_STAGING' || t.record.state === 'TASK_STARTING')) runner.issue(t, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR' });
    if (c.alive && t.record.task.health_check) {
      // Checks start over (delay, grace period) with the new agent process; the verdict so far stands.
      try {
        runner.startHealthCheck(t, healthCheckFromWire(t.record.task.health_check, taskPorts(t.record.task)));
      } catch (err) {
        logger.warn('health check of a recovered task not restarted', { taskId: t.record.task.task_id?.value, err: (err as Error).message });
      }
    }
  }
  // A group with a member that ended badly while the agent was down goes down with it.
  for (const t of tasks.values()) {
    if (t.record.groupId === undefined || !isTerminalState(t.record.state) || t.record.state === 'TASK_FINISHED') continue;
    for (const mate of runner.groupMates(t)) runner.killGroupMember(mate, `task ${t.record.task.task_id?.value} of its group ended with ${t.record.state} while the agent was down`);
  }
  for (const id of forgotten) {
    byId.delete(id);
    void containerizer.remove(id).catch(() => undefined);
  }
  // Containers nobody knows (their checkpoint is gone): kill and forget them.
  for (const orphan of byId.values()) {
    logger.warn('orphan container killed', { containerId: orphan.containerId, taskId: orphan.taskId });
    void containerizer
      .kill(orphan.containerId, 0)
      .then(() => containerizer.remove(orphan.containerId))
      .catch((err: unknown) => logger.warn('cleaning up an orphan container failed', { containerId: orphan.containerId, err }));
  }
  logger.info('agent state recovered', { agentId, tasks: tasks.size, pendingUpdates: pending.length, containers: containers.length });
}
