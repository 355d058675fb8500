/**
 * Builders for wire messages in validation tests. Everything is passed through the real protobuf
 * codec, so the validators see exactly what a gRPC handler would hand them.
 */
import { Resources } from '../../../src/common/resources';
import { resourcesToWire } from '../../../src/common/wire/resources';
import type { Operation, Operation__Output } from '../../../src/generated/berth/v1/Operation';
import type { Resource } from '../../../src/generated/berth/v1/Resource';
import type { TaskInfo, TaskInfo__Output } from '../../../src/generated/berth/v1/TaskInfo';
import { decodeOperations, decodeTask } from '../wire/codec';

export const AGENT = 'agent-1';

/** `task('web-1').resources('cpus:1;mem:128').command('sleep 1')` — a LAUNCH-able task. */
export class TaskBuilder {
  private info: TaskInfo;

  constructor(id: string) {
    this.info = { name: id, task_id: { value: id }, agent_id: { value: AGENT }, resources: resourcesToWire(Resources.parse('cpus:0.5;mem:64')), command: { value: 'sleep 1' } };
  }

  /** Resources from the text form. */
  resources(text: string): this {
    return this.wireResources(resourcesToWire(Resources.parse(text)));
  }

  /** Resources as raw wire messages (for invalid ones). */
  wireResources(list: Resource[]): this {
    this.info = { ...this.info, resources: list };
    return this;
  }

  /** Any other field. */
  with(fields: Partial<TaskInfo>): this {
    this.info = { ...this.info, ...fields };
    return this;
  }

  /** The wire input (for embedding in operations). */
  wire(): TaskInfo {
    return this.info;
  }

  /** The decoded message. */
  build(): TaskInfo__Output {
    return decodeTask(this.info);
  }
}

export const task = (id: string): TaskBuilder => new TaskBuilder(id);

/** Operation builders, decoded together by {@link ops}. */
export const op = {
  launch: (...tasks: TaskBuilder[]): Operation => ({ type: 'LAUNCH', launch: { task_infos: tasks.map((t) => t.wire()) } }),
  launchGroup: (...tasks: TaskBuilder[]): Operation => ({ type: 'LAUNCH_GROUP', launch_group: { task_group: { tasks: tasks.map((t) => t.wire()) } } }),
  reserve: (resources: Resources | Resource[], source?: Resources): Operation => ({
    type: 'RESERVE',
    reserve: { resources: wire(resources), ...(source === undefined ? {} : { source: resourcesToWire(source) }) },
  }),
  unreserve: (resources: Resources | Resource[]): Operation => ({ type: 'UNRESERVE', unreserve: { resources: wire(resources) } }),
  create: (volumes: Resources | Resource[]): Operation => ({ type: 'CREATE', create: { volumes: wire(volumes) } }),
  destroy: (volumes: Resources | Resource[]): Operation => ({ type: 'DESTROY', destroy: { volumes: wire(volumes) } }),
};

function wire(r: Resources | Resource[]): Resource[] {
  return r instanceof Resources ? resourcesToWire(r) : r;
}

/** Decodes operations as the master receives them. */
export function ops(...list: Operation[]): Operation__Output[] {
  return decodeOperations(list);
}

/** `cpus:1` dynamically reserved for `role` by `principal`, as a text-free helper. */
export function reserved(text: string, role: string, principal?: string): Resources {
  return Resources.parse(text).pushReservation({ type: 'DYNAMIC', role, ...(principal === undefined ? {} : { principal }) });
}
