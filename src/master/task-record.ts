import type { Resources } from '../common/resources';
import type { AgentID } from '../generated/berth/v1/AgentID';
import type { CommandInfo__Output } from '../generated/berth/v1/CommandInfo';
import type { TaskInfo__Output } from '../generated/berth/v1/TaskInfo';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';

/**
 * What a task record keeps of its TaskInfo, and how its statuses are kept: the master holds one
 * record per task (100,000 of them on a large cluster), so a record holds only what the master
 * reads back (the Task view, kills, the event mirror), never the decoded wire message whole.
 *
 * A decoded message (`defaults: true`) carries every field: a fresh Buffer for each empty `bytes`
 * field, an array for each empty list, an object for each id, and the non-empty `bytes` fields are
 * views into the gRPC frame they arrived in, which a kept view keeps alive whole. Its properties are
 * added one by one, so V8 keeps most of them in a separate property array; the record's objects are
 * literals of a fixed shape instead, which hold their fields inline (about 120 bytes a task less).
 */

/** The TaskInfo fields the master reads back; the rest (id, agent, resources, data) lives elsewhere or is the agent's. */
export type TaskRecordInfo = Pick<TaskInfo__Output, 'name' | 'command' | 'container' | 'health_check' | 'kill_policy' | 'max_completion_time' | 'labels' | 'discovery'>;

/** The record's copy of a TaskInfo: one object of a fixed shape, sharing the nested messages. */
export function recordInfo(task: Partial<TaskRecordInfo>): TaskRecordInfo {
  return {
    name: task.name ?? '',
    command: recordCommand(task.command),
    container: task.container ?? null,
    health_check: task.health_check ?? null,
    kill_policy: task.kill_policy ?? null,
    max_completion_time: task.max_completion_time ?? null,
    labels: task.labels ?? null,
    discovery: task.discovery ?? null,
  };
}

/** One empty list for every command without arguments or URIs (nothing in the master writes into a command). */
const NO_ITEMS: never[] = Object.freeze([]) as never[];

function recordCommand(command: CommandInfo__Output | null | undefined): CommandInfo__Output | null {
  if (command === null || command === undefined) return null;
  const { arguments: args, uris } = command;
  return {
    value: command.value,
    shell: command.shell,
    arguments: args === undefined || args.length === 0 ? NO_ITEMS : args,
    environment: command.environment,
    user: command.user,
    uris: uris === undefined || uris.length === 0 ? NO_ITEMS : uris,
  };
}

/** One empty buffer for every status whose `data` or `uuid` is empty (nothing writes into a buffer of length 0). */
const NO_BYTES = Buffer.alloc(0);

type Bytes = Uint8Array | string | null | undefined;

/**
 * The bytes a record keeps (a status's `uuid` and `data`) as base64 text; empty ones as one shared
 * buffer. protobufjs encodes the text as the bytes it stands for, and JSON shows it as proto3's JSON
 * mapping does. A copied Buffer was a slice of Node's 8 KiB allocation pool and kept the whole slab
 * alive: 100,000 running tasks' 16-byte uuids held ~30 MB of slabs, and 96 bytes of heap each.
 */
function ownBytes(bytes: Bytes): Buffer | string {
  if (bytes === null || bytes === undefined || bytes.length === 0) return NO_BYTES;
  const view = typeof bytes === 'string' ? Buffer.from(bytes, 'base64') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.toString('base64');
}

/** Whether two `bytes` fields hold the same bytes (absent is empty, text is base64); compared in place, not copied. */
export function equalBytes(a: Bytes, b: Bytes): boolean {
  return Buffer.compare(bytesView(a), bytesView(b)) === 0;
}

function bytesView(bytes: Bytes): Uint8Array {
  if (bytes === null || bytes === undefined) return NO_BYTES;
  return typeof bytes === 'string' ? Buffer.from(bytes, 'base64') : bytes;
}

/**
 * The status a record keeps (and answers reconciliation and GetTasks with): the status as reported,
 * with `agentId` filled in when given (the agent's shared AgentEntry.wireId). Same fields and
 * values, so it encodes to the same bytes.
 */
export function recordStatus(status: TaskStatus, agentId?: Readonly<AgentID>): TaskStatus {
  return {
    task_id: status.task_id,
    state: status.state,
    message: status.message,
    source: status.source,
    reason: status.reason,
    data: ownBytes(status.data),
    agent_id: agentId ?? status.agent_id,
    executor_id: status.executor_id,
    timestamp: status.timestamp,
    uuid: ownBytes(status.uuid),
    healthy: status.healthy,
    labels: status.labels,
    container_status: status.container_status,
    unreachable_time: status.unreachable_time,
  };
}

/**
 * Shares one Resources instance among tasks of the same shape (a framework launches many tasks
 * alike; each used to hold its own copy). Resources are immutable, so sharing is safe; a shape is
 * shared only when `equals` says so. Bounded: the cache keeps the most recent shapes, so tasks with
 * unique resources (their own ports) cost a lookup and nothing more.
 */
export class ResourceShapes {
  private readonly shapes = new Map<string, Resources>();
  /**
   * Every collection this has handed out as a shape's own: given again (tasks of one shape share the
   * Resources their reports were read into, see resourcesFromWire), it is returned without printing
   * its key. Still one of its shape after an eviction, so returning it stays right.
   */
  private readonly own = new WeakSet<Resources>();

  constructor(private readonly capacity = 1024) {}

  intern(resources: Resources): Resources {
    if (resources.isEmpty() || this.own.has(resources)) return resources;
    const key = resources.toString();
    const known = this.shapes.get(key);
    if (known !== undefined && known.equals(resources)) return known;
    if (known === undefined && this.shapes.size >= this.capacity) this.shapes.delete(this.shapes.keys().next().value as string);
    this.shapes.set(key, resources);
    this.own.add(resources);
    return resources;
  }

  get size(): number {
    return this.shapes.size;
  }
}
