import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as descriptor from 'protobufjs/ext/descriptor';
import { protoLoaderOptions } from '../../src/common/rpc/proto';

/** A decoded FileDescriptorProto (protobufjs's descriptor.proto types, camelCase fields). */
export type FileDescriptor = ReturnType<typeof descriptor.FileDescriptorProto.decode> & Record<string, any>;

/**
 * A client of the gRPC server reflection protocol (what grpcurl speaks), over a real socket: one
 * ServerReflectionInfo stream per question, answers decoded with protobufjs's descriptor types.
 */
export class ReflectionClient {
  private readonly client: grpc.Client;

  constructor(address: string, version: 'v1' | 'v1alpha' = 'v1') {
    const dir = path.join(path.dirname(require.resolve('@grpc/reflection')), '..', 'proto');
    const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { ...protoLoaderOptions(), includeDirs: [dir] });
    const Client = grpc.makeClientConstructor(definition[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition, 'ServerReflection');
    this.client = new Client(address, grpc.credentials.createInsecure());
  }

  /** One request, its answer (the raw response object, snake_case as the loader gives it). */
  ask(request: object, ms = 5000): Promise<Record<string, any>> {
    return new Promise((resolve, reject) => {
      const stream = (this.client as unknown as Record<string, Function>).ServerReflectionInfo!.call(this.client) as grpc.ClientDuplexStream<object, Record<string, any>>;
      const timer = setTimeout(() => (stream.cancel(), reject(new Error(`no reflection answer within ${ms} ms`))), ms);
      stream.on('data', (answer: Record<string, any>) => {
        clearTimeout(timer);
        stream.end();
        resolve(answer);
      });
      stream.on('error', (err) => (clearTimeout(timer), reject(err)));
      stream.write(request);
    });
  }

  /** The listed services' names, sorted. */
  async services(): Promise<string[]> {
    const answer = await this.ask({ list_services: '*' });
    return (answer.list_services_response.service as { name: string }[]).map((s) => s.name).sort();
  }

  /** The files of a file_by_filename or file_containing_symbol answer, decoded (the asked-for one first); rejects with an error answer. */
  async files(request: { file_by_filename: string } | { file_containing_symbol: string }): Promise<FileDescriptor[]> {
    const answer = await this.ask(request);
    if (answer.error_response) throw Object.assign(new Error(answer.error_response.error_message), { code: answer.error_response.error_code });
    return (answer.file_descriptor_response.file_descriptor_proto as Buffer[]).map((b) => descriptor.FileDescriptorProto.decode(b) as FileDescriptor);
  }

  close(): void {
    this.client.close();
  }
}

/** The leading comment reflection gives for the declaration at `path` (e.g. [6, 0] = the first service). */
export function commentAt(file: FileDescriptor, path: readonly number[]): string | undefined {
  return file.sourceCodeInfo?.location?.find((l: { path: number[] }) => l.path.join('.') === path.join('.'))?.leadingComments ?? undefined;
}
