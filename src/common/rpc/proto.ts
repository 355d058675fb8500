/**
 * Runtime access to the wire contract in `proto/berth/v1`.
 *
 * The .proto files are loaded with @grpc/proto-loader at run time (they ship with the package),
 * using the options in `proto/loader-options.json` — the same file `scripts/gen-proto.js` turns
 * into generator flags. One file for both is what keeps the generated `__Output` types honest:
 * with `enums: String` at generation but not at load, a decoded enum would be a number while its
 * type says string.
 *
 * Everything here is loaded once per process and cached; the returned objects are shared and must
 * not be mutated.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { berthProtoFiles, protoLoaderOptions, protoRoot } from './proto-files';
import type { ProtoGrpcType as SchedulerProtoGrpcType } from '../../generated/scheduler';
import type { ProtoGrpcType as AgentProtoGrpcType } from '../../generated/agent';
import type { ProtoGrpcType as OperatorProtoGrpcType } from '../../generated/operator';
import type { SchedulerDefinition, SchedulerHandlers } from '../../generated/berth/v1/Scheduler';
import type { AgentLinkDefinition, AgentLinkHandlers } from '../../generated/berth/v1/AgentLink';
import type { AgentMessage__Output } from '../../generated/berth/v1/AgentMessage';
import type { MasterMessage } from '../../generated/berth/v1/MasterMessage';
import type { OperatorDefinition, OperatorHandlers } from '../../generated/berth/v1/Operator';

export { berthProtoFiles, protoLoaderOptions, protoRoot } from './proto-files';

/** The protobuf package every Berth service and message lives in. */
export const BERTH_PROTO_PACKAGE = 'berth.v1';

/** The typed result of `grpc.loadPackageDefinition` over all of `proto/berth/v1`. */
export type BerthProtoGrpcType = SchedulerProtoGrpcType & AgentProtoGrpcType & OperatorProtoGrpcType;

/** The `berth.v1` namespace: message, enum and service (client constructor) definitions. */
export type BerthV1 = BerthProtoGrpcType['berth']['v1'];

/** Typed definitions of Berth's gRPC services, ready for `server.addService`. */
export interface BerthServiceDefinitions {
  /** `berth.v1.Scheduler` — frameworks' bidi stream. */
  readonly Scheduler: SchedulerDefinition;
  /** `berth.v1.AgentLink` — agents' bidi stream. */
  readonly AgentLink: AgentLinkDefinition;
  /** `berth.v1.Operator` — the operator API. */
  readonly Operator: OperatorDefinition;
}

/** A service definition together with the handlers that implement it. */
export interface GrpcServiceBinding {
  /** The service to serve, e.g. `berthServiceDefinitions().Scheduler`. */
  readonly definition: grpc.ServiceDefinition;
  /** Handlers by method name. A method without a handler answers UNIMPLEMENTED. */
  readonly implementation: grpc.UntypedServiceImplementation;
}

let cachedPackageDefinition: protoLoader.PackageDefinition | undefined;
let cachedGrpcObject: BerthProtoGrpcType | undefined;

/** The proto-loader package definition of `berth.v1` (also what server reflection serves). */
export function loadBerthPackageDefinition(): protoLoader.PackageDefinition {
  if (cachedPackageDefinition === undefined) {
    cachedPackageDefinition = protoLoader.loadSync(berthProtoFiles(), {
      ...protoLoaderOptions(),
      includeDirs: [protoRoot()],
    });
  }
  return cachedPackageDefinition;
}

/** The typed grpc object for `berth.v1`: client constructors, service and message definitions. */
export function loadBerthProto(): BerthProtoGrpcType {
  if (cachedGrpcObject === undefined) {
    cachedGrpcObject = grpc.loadPackageDefinition(loadBerthPackageDefinition()) as unknown as BerthProtoGrpcType;
  }
  return cachedGrpcObject;
}

/** The `berth.v1` namespace of {@link loadBerthProto}. */
export function berthV1(): BerthV1 {
  return loadBerthProto().berth.v1;
}

/** Typed service definitions of Scheduler, AgentLink and Operator. */
export function berthServiceDefinitions(): BerthServiceDefinitions {
  const v1 = berthV1();
  return { Scheduler: v1.Scheduler.service, AgentLink: v1.AgentLink.service, Operator: v1.Operator.service };
}

/** Binds handlers to `berth.v1.Scheduler`. */
export function schedulerService(implementation: SchedulerHandlers): GrpcServiceBinding {
  return { definition: berthServiceDefinitions().Scheduler, implementation };
}

/** Binds handlers to `berth.v1.AgentLink`. */
export function agentLinkService(implementation: AgentLinkHandlers): GrpcServiceBinding {
  return { definition: berthServiceDefinitions().AgentLink, implementation };
}

/**
 * Binds `berth.v1.AgentLink.Connect` with its requests left undecoded: each `data` event of the
 * stream is one AgentMessage's bytes, to be decoded with {@link decodeAgentMessage} when the
 * server gets to it. For a server that queues messages before handling them (the master after a
 * failover, 10,000 re-registrations at once): a queued message then costs its encoding (~2 KB)
 * instead of its decoded objects (~30 KB, which outlive V8's young generation and are copied
 * and promoted as if they were long-lived). grpc-js assembles each message into a buffer of its
 * own, so holding one retains nothing else.
 */
export function agentLinkServiceUndecoded(connect: (stream: grpc.ServerDuplexStream<Buffer, MasterMessage>) => void): GrpcServiceBinding {
  const definition = berthServiceDefinitions().AgentLink;
  return {
    definition: { ...definition, Connect: { ...definition.Connect, requestDeserialize: (bytes: Buffer) => bytes } },
    implementation: { Connect: connect } as grpc.UntypedServiceImplementation,
  };
}

let agentMessageDeserializer: ((bytes: Buffer) => AgentMessage__Output) | undefined;

/** Decodes an AgentMessage as `AgentLink.Connect` delivers it decoded. @throws on bytes that are not one. */
export function decodeAgentMessage(bytes: Buffer): AgentMessage__Output {
  agentMessageDeserializer ??= berthServiceDefinitions().AgentLink.Connect.requestDeserialize;
  return agentMessageDeserializer(bytes);
}

/**
 * Binds handlers to `berth.v1.Operator`. Partial on purpose: methods without a handler answer
 * UNIMPLEMENTED, so the API can be built up call family by call family.
 */
export function operatorService(implementation: Partial<OperatorHandlers>): GrpcServiceBinding {
  return { definition: berthServiceDefinitions().Operator, implementation: implementation as grpc.UntypedServiceImplementation };
}

/**
 * The fully-qualified name of a service (e.g. "berth.v1.Scheduler"), read from its method paths
 * ("/berth.v1.Scheduler/Connect"). Health checks and reflection key on this name.
 */
export function serviceName(definition: grpc.ServiceDefinition): string {
  const first = Object.values(definition)[0];
  if (first === undefined) throw new Error('service definition has no methods');
  const match = /^\/([^/]+)\/[^/]+$/.exec(first.path);
  if (match === null) throw new Error(`unexpected method path ${first.path}`);
  return match[1];
}
