/**
 * Reliable, ordered delivery of task status updates (DESIGN §8; Mesos's status update manager).
 *
 * - Every update gets a `uuid` (if it has none), a `timestamp` and, when known, the `agent_id`.
 * - It is checkpointed (`meta/frameworks/<f>/tasks/<t>/updates.json`) BEFORE it is sent, so an update
 *   the framework may have seen is never forgotten by a crash.
 * - Per task, updates form a queue; only the head is sent. The head is resent with capped exponential
 *   backoff (10 s, 20 s, 40 s … 10 min by default) until the framework acknowledges its uuid; then the
 *   next one is sent at once. Tasks are independent of each other.
 * - An update whose uuid the stream already holds (queued or acknowledged) is dropped; an ack that does
 *   not name the head is ignored (a duplicate or a stale ack).
 * - After a terminal update the stream takes no further update; once that terminal update is
 *   acknowledged the stream is closed and its checkpoint file removed.
 *
 * Connection handling belongs to the agent: `pause()` when the master link drops, `flush()` after
 * (re)registration (resends every head at once). On restart: `recover()` before registering (it loads
 * the queues without sending), `pending()` for REREGISTER's `unacknowledged_updates`, then `flush()`.
 *
 * Synchronous by design: the checkpoint must be on disk before `send` is called, and the queues must
 * never be observed half-updated. A failed checkpoint write throws and leaves memory unchanged.
 */
import { randomUUID } from 'node:crypto';

import type { Clock, TimerHandle } from '../common/clock';
import { BerthError } from '../common/errors';
import { nullLogger, type Logger } from '../common/logging';
import type { StatusUpdate } from '../generated/berth/v1/StatusUpdate';
import { TaskState as TaskStateEnum } from '../generated/berth/v1/TaskState';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import { Checkpoint, CheckpointCorruptError, layout } from './checkpoint';

/** A task state by name (the form the agent checkpoints and sends). */
export type TaskStateName = keyof typeof TaskStateEnum;

const STATE_NAMES = Object.keys(TaskStateEnum) as TaskStateName[];

const TERMINAL = new Set<TaskStateName>([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR',
]);

/** Whether an agent-side task state is terminal. */
export function isTerminalState(state: TaskStateName): boolean {
  return TERMINAL.has(state);
}

/** Mesos's STATUS_UPDATE_RETRY_INTERVAL_MIN. */
export const DEFAULT_RETRY_MIN_MS = 10_000;
/** Mesos's STATUS_UPDATE_RETRY_INTERVAL_MAX. */
export const DEFAULT_RETRY_MAX_MS = 600_000;
/** How many acknowledged uuids a stream remembers to drop late duplicates. */
const REMEMBERED_ACKS = 1024;

/** Options of {@link StatusUpdateManager}. */
export interface StatusUpdateManagerOptions {
  /** The agent's work directory (or an existing {@link Checkpoint} over it). */
  readonly checkpoint: Checkpoint | string;
  /** Time and timers; tests pass a `FakeClock`. */
  readonly clock: Clock;
  /**
   * Sends one update to the master (AgentMessage.STATUS_UPDATE). May throw (e.g. no connection): the
   * update stays queued and is resent on the backoff schedule or at `flush()`.
   */
  readonly send: (update: StatusUpdate) => void;
  /** First resend delay. @default 10_000 */
  readonly retryMinMs?: number;
  /** Cap of the resend delay. @default 600_000 */
  readonly retryMaxMs?: number;
  /** The agent id to stamp on updates that have none (undefined before registration). */
  readonly agentId?: () => string | undefined;
  /** @default nullLogger */
  readonly logger?: Logger;
}

/** What {@link StatusUpdateManager.update} did. */
export interface UpdateResult {
  /** The update's uuid (16 bytes), assigned if the status had none. */
  readonly uuid: Buffer;
  /** False when the update was dropped: a duplicate uuid, or the task's stream already ended. */
  readonly accepted: boolean;
}

/** Content of a task's `updates.json`. */
interface StreamRecord {
  readonly version: 1;
  readonly frameworkId: string;
  readonly taskId: string;
  /** A terminal update has been queued; nothing more is accepted. */
  readonly terminated: boolean;
  /** Unacknowledged updates, oldest (the head) first. */
  readonly updates: TaskStatus[];
  /** Hex uuids of recently acknowledged updates, oldest first (bounded). */
  readonly acknowledged: string[];
}

interface Stream {
  readonly frameworkId: string;
  readonly taskId: string;
  queue: TaskStatus[];
  acknowledged: string[];
  terminated: boolean;
  timer: TimerHandle | undefined;
  /** Delay before the next resend of the head. */
  backoffMs: number;
}

/** Hex form of a uuid given as bytes (or base64 text, protobufjs's `bytes: String` form). */
export function uuidHex(uuid: Uint8Array | string | undefined | null): string {
  if (uuid === undefined || uuid === null) return '';
  return (typeof uuid === 'string' ? Buffer.from(uuid, 'base64') : Buffer.from(uuid)).toString('hex');
}

function newUuid(): Buffer {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
}

function stateName(state: TaskStatus['state']): TaskStateName | undefined {
  if (typeof state === 'number') return STATE_NAMES[state];
  if (typeof state === 'string' && (STATE_NAMES as string[]).includes(state)) return state as TaskStateName;
  return undefined;
}

function keyOf(frameworkId: string, taskId: string): string {
  return JSON.stringify([frameworkId, taskId]);
}

/** Per-task ordered, checkpointed, acknowledged delivery of status updates. */
export class StatusUpdateManager {
  private readonly checkpoint: Checkpoint;
  private readonly clock: Clock;
  private readonly sendFn: (update: StatusUpdate) => void;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly agentId: () => string | undefined;
  private readonly logger: Logger;
  private readonly streams = new Map<string, Stream>();
  /** Streams closed by this process (bounded, oldest dropped first): late retries for them are dropped. */
  private readonly closed = new Set<string>();
  private paused = false;

  constructor(options: StatusUpdateManagerOptions) {
    this.checkpoint = typeof options.checkpoint === 'string' ? new Checkpoint(options.checkpoint) : options.checkpoint;
    this.clock = options.clock;
    this.sendFn = options.send;
    this.retryMinMs = options.retryMinMs ?? DEFAULT_RETRY_MIN_MS;
    this.retryMaxMs = options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
    if (!(this.retryMinMs > 0) || !(this.retryMaxMs >= this.retryMinMs)) {
      throw new BerthError('INVALID_ARGUMENT', `status update retry interval must satisfy 0 < min (${this.retryMinMs}) <= max (${this.retryMaxMs})`);
    }
    this.agentId = options.agentId ?? (() => undefined);
    this.logger = (options.logger ?? nullLogger).child({ component: 'status-update-manager' });
  }

  /**
   * Accepts a status update for `frameworkId`'s task: stamps it, checkpoints it, queues it, and sends
   * it at once if it is the head of the task's queue (and the manager is not paused).
   */
  update(frameworkId: string, status: TaskStatus): UpdateResult {
    const taskId = status.task_id?.value;
    if (frameworkId === '' || typeof taskId !== 'string' || taskId === '') {
      throw new BerthError('INVALID_STATUS_UPDATE', 'a status update needs a framework id and status.task_id.value');
    }
    const state = stateName(status.state);
    if (state === undefined || state === 'TASK_STATE_UNSPECIFIED') {
      throw new BerthError('INVALID_STATUS_UPDATE', `status update for task ${taskId} has no valid state (${String(status.state)})`);
    }
    const given = uuidHex(status.uuid);
    const uuid = given === '' ? newUuid() : Buffer.from(given, 'hex');
    const agentId = status.agent_id ?? (this.agentId() !== undefined ? { value: this.agentId() } : undefined);
    const stamped: TaskStatus = {
      ...status,
      state,
      uuid,
      timestamp: status.timestamp ?? this.clock.now() / 1000,
      ...(agentId !== undefined ? { agent_id: agentId } : {}),
    };

    const key = keyOf(frameworkId, taskId);
    if (this.closed.has(key)) {
      this.logger.warn('status update for a closed stream dropped', { frameworkId, taskId, uuid: uuid.toString('hex'), state });
      return { uuid, accepted: false };
    }
    const stream = this.streams.get(key) ?? {
      frameworkId, taskId, queue: [], acknowledged: [], terminated: false, timer: undefined, backoffMs: this.retryMinMs,
    };
    const hex = uuid.toString('hex');
    if (stream.acknowledged.includes(hex) || stream.queue.some((u) => uuidHex(u.uuid) === hex)) {
      this.logger.debug('duplicate status update dropped', { frameworkId, taskId, uuid: hex, state });
      return { uuid, accepted: false };
    }
    if (stream.terminated) {
      this.logger.warn('status update after a terminal update dropped', { frameworkId, taskId, uuid: hex, state });
      return { uuid, accepted: false };
    }

    const queue = [...stream.queue, stamped];
    const terminated = isTerminalState(state);
    this.persist(stream, queue, stream.acknowledged, terminated); // before anything is sent
    stream.queue = queue;
    stream.terminated = terminated;
    this.streams.set(key, stream);
    if (queue.length === 1) this.sendHead(stream);
    return { uuid, accepted: true };
  }

  /**
   * The framework acknowledged `uuid` for the task. Returns true when it acknowledged the head (which
   * is then dropped, and the next update sent); false for an unknown task, a duplicate or a stale ack.
   */
  acknowledge(frameworkId: string, taskId: string, uuid: Uint8Array | string): boolean {
    const hex = uuidHex(uuid);
    const stream = this.streams.get(keyOf(frameworkId, taskId));
    if (stream === undefined) {
      this.logger.debug('acknowledgement for an unknown or closed stream ignored', { frameworkId, taskId, uuid: hex });
      return false;
    }
    const head = stream.queue[0];
    if (head === undefined || uuidHex(head.uuid) !== hex) {
      const duplicate = stream.acknowledged.includes(hex);
      this.logger[duplicate ? 'debug' : 'warn'](duplicate ? 'duplicate acknowledgement ignored' : 'acknowledgement of an update that is not the head ignored', {
        frameworkId, taskId, uuid: hex, head: head === undefined ? undefined : uuidHex(head.uuid),
      });
      return false;
    }

    const queue = stream.queue.slice(1);
    if (stream.terminated && queue.length === 0) {
      this.checkpoint.remove(layout.taskUpdates(frameworkId, taskId));
      this.clock.clearTimeout(stream.timer);
      this.streams.delete(keyOf(frameworkId, taskId));
      this.closed.add(keyOf(frameworkId, taskId));
      if (this.closed.size > REMEMBERED_ACKS) this.closed.delete(this.closed.values().next().value!);
      this.logger.debug('status update stream closed', { frameworkId, taskId });
      return true;
    }
    const acknowledged = [...stream.acknowledged, hex].slice(-REMEMBERED_ACKS);
    this.persist(stream, queue, acknowledged, stream.terminated);
    stream.queue = queue;
    stream.acknowledged = acknowledged;
    this.clock.clearTimeout(stream.timer);
    stream.timer = undefined;
    stream.backoffMs = this.retryMinMs;
    this.sendHead(stream);
    return true;
  }

  /** Stops sending (the master link is down). Updates are still accepted and checkpointed. */
  pause(): void {
    this.paused = true;
    for (const stream of this.streams.values()) {
      this.clock.clearTimeout(stream.timer);
      stream.timer = undefined;
    }
  }

  /** Resumes sending and resends the head of every task's queue now, with the backoff reset. */
  flush(): void {
    this.paused = false;
    for (const stream of this.streams.values()) {
      stream.backoffMs = this.retryMinMs;
      this.sendHead(stream);
    }
  }

  /**
   * Loads the queues checkpointed by a previous run. Sends nothing: the agent calls `flush()` once it
   * has (re)registered. Must be called before any `update()`. Returns how many updates are pending.
   * A checkpoint file that cannot be read throws {@link CheckpointCorruptError}.
   */
  recover(): number {
    if (this.streams.size > 0) throw new BerthError('INVALID_STATE', 'recover() must run before any status update is accepted');
    let count = 0;
    for (const frameworkId of this.checkpoint.frameworkIds()) {
      for (const taskId of this.checkpoint.taskIds(frameworkId)) {
        const rel = layout.taskUpdates(frameworkId, taskId);
        const record = this.checkpoint.readJson<StreamRecord>(rel);
        if (record === undefined) continue;
        const problem = checkRecord(record, frameworkId, taskId);
        if (problem !== undefined) throw new CheckpointCorruptError(this.checkpoint.resolve(rel), problem);
        if (record.updates.length === 0) {
          if (record.terminated) this.checkpoint.remove(rel);
          continue;
        }
        this.streams.set(keyOf(frameworkId, taskId), {
          frameworkId, taskId, queue: record.updates, acknowledged: record.acknowledged, terminated: record.terminated,
          timer: undefined, backoffMs: this.retryMinMs,
        });
        count += record.updates.length;
      }
    }
    this.logger.info('status updates recovered', { streams: this.streams.size, updates: count });
    return count;
  }

  /** Every unacknowledged update, oldest first per task (for REREGISTER's `unacknowledged_updates`). */
  pending(): StatusUpdate[] {
    const out: StatusUpdate[] = [];
    for (const stream of this.streams.values()) for (const status of stream.queue) out.push(this.toUpdate(stream, status));
    return out;
  }

  /** Stops every timer (agent shutdown). The checkpoint keeps what is still pending. */
  close(): void {
    this.pause();
  }

  private sendHead(stream: Stream): void {
    const head = stream.queue[0];
    if (this.paused || head === undefined) return;
    this.clock.clearTimeout(stream.timer);
    stream.timer = this.clock.setTimeout(() => {
      stream.timer = undefined;
      stream.backoffMs = Math.min(stream.backoffMs * 2, this.retryMaxMs);
      this.sendHead(stream);
    }, stream.backoffMs);
    try {
      this.sendFn(this.toUpdate(stream, head));
    } catch (err) {
      this.logger.warn('sending a status update failed; it will be resent', {
        frameworkId: stream.frameworkId, taskId: stream.taskId, uuid: uuidHex(head.uuid), retryInMs: stream.backoffMs,
        error: (err as Error).message,
      });
    }
  }

  private toUpdate(stream: Stream, status: TaskStatus): StatusUpdate {
    const latest = stream.queue[stream.queue.length - 1] ?? status;
    return { framework_id: { value: stream.frameworkId }, status, latest_state: latest.state };
  }

  private persist(stream: Stream, updates: TaskStatus[], acknowledged: string[], terminated: boolean): void {
    const record: StreamRecord = { version: 1, frameworkId: stream.frameworkId, taskId: stream.taskId, terminated, updates, acknowledged };
    this.checkpoint.writeJson(layout.taskUpdates(stream.frameworkId, stream.taskId), record);
  }
}

/** Why a stream record is unusable, or undefined when it is fine. */
function checkRecord(record: StreamRecord, frameworkId: string, taskId: string): string | undefined {
  if (typeof record !== 'object' || record === null) return 'not a JSON object';
  if (record.version !== 1) return `unknown version ${JSON.stringify(record.version)}`;
  if (record.frameworkId !== frameworkId || record.taskId !== taskId) return `names framework ${record.frameworkId} task ${record.taskId}, not its directory's`;
  if (!Array.isArray(record.updates) || !Array.isArray(record.acknowledged) || typeof record.terminated !== 'boolean') return 'missing updates, acknowledged or terminated';
  for (const [i, u] of record.updates.entries()) {
    if (typeof u !== 'object' || u === null || u.task_id?.value !== taskId) return `update ${i} is not about task ${taskId}`;
    if (!(u.uuid instanceof Uint8Array) || u.uuid.length === 0) return `update ${i} has no uuid`;
    if (stateName(u.state) === undefined) return `update ${i} has no valid state`;
  }
  return undefined;
}
