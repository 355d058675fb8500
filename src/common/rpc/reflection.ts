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

/**
 * The reflection services of one server. The list can grow after the server started (the
 * framework host adds a plugin's API when the plugin first comes up): the server's handlers
 * delegate to the listing of the moment.
 */
export class ServerReflection {
  private services: string[];
  private readonly handlers = new Map<string, ReflectionHandler>();

  /** Adds the v1 and v1alpha reflection services to `server`, listing `services`. */
  constructor(server: Pick<grpc.Server, 'addService'>, services: readonly string[]) {
    this.services = [...services];
    const definitions = this.build();
    for (const [name, definition] of definitions) {
      server.addService(definition, { ServerReflectionInfo: (stream: grpc.ServerDuplexStream<unknown, unknown>) => this.handlers.get(name)!(stream) });
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
    this.build();
  }

  /** Points the handlers at a listing of the current services; returns the reflection services' definitions by name. */
  private build(): Map<string, grpc.ServiceDefinition> {
    const definitions = new Map<string, grpc.ServiceDefinition>();
    reflectionListing(this.services).addToServer({
      addService: (definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => {
        const name = serviceName(definition);
        definitions.set(name, definition);
        this.handlers.set(name, implementation.ServerReflectionInfo as ReflectionHandler);
      },
    });
    return definitions;
  }
}
