/**
 * Real protobuf round trips for wire tests: values are encoded and decoded with the runtime loader
 * (the same options as the generated types), so tests see exactly what a gRPC handler receives.
 */
import { berthServiceDefinitions } from '../../../src/common/rpc/proto';
import type { AgentInfo, AgentInfo__Output } from '../../../src/generated/berth/v1/AgentInfo';
import type { Call, Call__Output } from '../../../src/generated/berth/v1/Call';
import type { Operation, Operation__Output } from '../../../src/generated/berth/v1/Operation';
import type { Resource, Resource__Output } from '../../../src/generated/berth/v1/Resource';
import type { FrameworkInfo, FrameworkInfo__Output } from '../../../src/generated/berth/v1/FrameworkInfo';
import type { TaskInfo, TaskInfo__Output } from '../../../src/generated/berth/v1/TaskInfo';

/** Encodes and decodes a scheduler Call. */
export function decodeCall(call: Call): Call__Output {
  const m = berthServiceDefinitions().Scheduler.Connect;
  return m.requestDeserialize(m.requestSerialize(call as never)) as Call__Output;
}

/** Encodes and decodes ACCEPT operations. */
export function decodeOperations(operations: Operation[]): Operation__Output[] {
  return decodeCall({ type: 'ACCEPT', accept: { offer_ids: [{ value: 'o' }], operations } }).accept!.operations;
}

/** Encodes and decodes a resource list (inside an UNRESERVE operation). */
export function decodeResources(resources: Resource[]): Resource__Output[] {
  return decodeOperations([{ type: 'UNRESERVE', unreserve: { resources } }])[0].unreserve!.resources;
}

/** Encodes and decodes one task (inside a LAUNCH operation). */
export function decodeTask(task: TaskInfo): TaskInfo__Output {
  return decodeOperations([{ type: 'LAUNCH', launch: { task_infos: [task] } }])[0].launch!.task_infos[0];
}

/** Encodes and decodes a FrameworkInfo (inside SUBSCRIBE). */
export function decodeFrameworkInfo(info: FrameworkInfo): FrameworkInfo__Output {
  return decodeCall({ type: 'SUBSCRIBE', subscribe: { framework_info: info } }).subscribe!.framework_info!;
}

/** Encodes and decodes an AgentInfo (inside REGISTER). */
export function decodeAgentInfo(info: AgentInfo): AgentInfo__Output {
  const m = berthServiceDefinitions().AgentLink.Connect;
  const msg = m.requestDeserialize(m.requestSerialize({ type: 'REGISTER', register: { agent_info: info } } as never)) as {
    register: { agent_info: AgentInfo__Output };
  };
  return msg.register.agent_info;
}
