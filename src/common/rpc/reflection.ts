/**
 * gRPC server reflection (v1 and v1alpha, @grpc/reflection's implementation) over the contract as
 * written: each .proto file under its own name with its comments (see file-descriptors.ts), and a
 * service list of exactly what the server serves — the master lists Scheduler, AgentLink and
 * Operator, the framework host the APIs of its plugins (Services, Jobs), each plus
 * grpc.health.v1.Health. Every file stays resolvable on every server (a client may describe any
 * message type), but a service the server does not serve is not listed.
 */
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { encodedFileDescriptors } from './file-descriptors';
import { berthProtoFiles, protoRoot, serviceName } from './proto';

/** The health proto's canonical import name (grpc-health-check ships it under another path). */
const HEALTH_PROTO_NAME = 'grpc/health/v1/health.proto';

let cachedFiles: Buffer[] | undefined;
const cachedReflections = new Map<string, ReflectionService>();

/** Every file reflection describes: berth.v1 and grpc.health.v1; built once per process (~0.4 s). */
function reflectedFiles(): Buffer[] {
  cachedFiles ??= encodedFileDescriptors([
    ...berthProtoFiles().map((name) => ({ name, file: path.join(protoRoot(), name) })),
    { name: HEALTH_PROTO_NAME, file: healthProtoPath },
  ]);
  return cachedFiles;
}

/** A reflection service listing `services`; shared between servers that list the same ones. */
function reflectionListing(services: readonly string[]): ReflectionService {
  const key = [...services].sort().join(',');
  let reflection = cachedReflections.get(key);
  if (reflection === undefined) {
    // @grpc/reflection indexes whatever FileDescriptorProtos the "package definition" carries.
    const definition = { files: { fileDescriptorProtos: reflectedFiles() } } as never;
    reflection = new ReflectionService(definition, { services: [...services] });
    cachedReflections.set(key, reflection);
  }
  return reflection;
}

type ReflectionHandler = (stream: grpc.ServerDuplexStream<unknown, unknown>) => void;

let cachedDefinitions: Map<string, grpc.ServiceDefinition> | undefined;

/**
 * The definitions of the reflection services (v1, v1alpha) by name — the same for every server, and
 * cheap: taken from a reflection service over no files, so nothing of the contract is indexed.
 */
function reflectionDefinitions(): Map<string, grpc.ServiceDefinition> {
  if (cachedDefinitions === undefined) {
    const definitions = new Map<string, grpc.ServiceDefinition>();
    new ReflectionService({} as never, { services: [] }).addToServer({
      addService: (definition: grpc.ServiceDefinition) => void definitions.set(serviceName(definition), definition),
    });
    cachedDefinitions = definitions;
  }
  return cachedDefinitions;
}

/**
 * The reflection services of one server. The index of the contract behind them is built on the
 * first reflection call, not when the server starts: it costs ~0.4 s and a few MiB of heap per
 * listing (each @grpc/reflection version decodes every file), which a daemon nobody runs grpcurl
 * against would carry for nothing. The list can grow after the server started (the framework host
 * adds a plugin's API when the plugin first comes up): the next call uses the listing of the moment.
 */
export class ServerReflection {
  private services: string[];
  /** Handlers of the current listing by service name; empty until a reflection call needs them. */
  private readonly handlers = new Map<string, ReflectionHandler>();

  /** Adds the v1 and v1alpha reflection services to `server`, listing `services`. */
  constructor(server: Pick<grpc.Server, 'addService'>, services: readonly string[]) {
    this.services = [...services];
    for (const [name, definition] of reflectionDefinitions()) {
      server.addService(definition, { ServerReflectionInfo: (stream: grpc.ServerDuplexStream<unknown, unknown>) => this.handler(name)(stream) });
    }
  }

  /** The listed services. */
  get listed(): readonly string[] {
    return this.services;
  }

  /** Lists `name` too (a service added to the running server). */
  add(name: string): void {
    if (this.services.includes(name)) return;
    this.services = [...this.services, name];
    this.handlers.clear();
  }

  /** The handler of reflection service `name` over a listing of the current services. */
  private handler(name: string): ReflectionHandler {
    if (this.handlers.size === 0) {
      reflectionListing(this.services).addToServer({
        addService: (definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => {
          this.handlers.set(serviceName(definition), implementation.ServerReflectionInfo as ReflectionHandler);
        },
      });
    }
    return this.handlers.get(name)!;
  }
}
