import * as grpc from '@grpc/grpc-js';
import { ServerReflection } from '../../src/common/rpc/reflection';
import { ReflectionClient } from '../support/reflection-client';

/**
 * The reflection index is built on the first reflection call, over the services listed at that
 * moment: a service added later (as the framework host adds a plugin's API) is listed by the next
 * call, also after the index was first built. Real gRPC on a loopback port.
 */
describe('server reflection built on demand', () => {
  let server: grpc.Server | undefined;
  const clients: ReflectionClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.tryShutdown(() => resolve())));
    server = undefined;
  });

  test('lists what is served at each call: before and after a service is added', async () => {
    server = new grpc.Server();
    const reflection = new ServerReflection(server, ['berth.v1.Operator', 'grpc.health.v1.Health']);
    const port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    for (const version of ['v1', 'v1alpha'] as const) {
      const client = new ReflectionClient(`127.0.0.1:${port}`, version);
      clients.push(client);
      expect(await client.services()).toEqual(['berth.v1.Operator', 'grpc.health.v1.Health']);
    }
    reflection.add('berth.v1.Services');
    expect(reflection.listed).toEqual(['berth.v1.Operator', 'grpc.health.v1.Health', 'berth.v1.Services']);
    for (const client of clients) expect(await client.services()).toEqual(['berth.v1.Operator', 'berth.v1.Services', 'grpc.health.v1.Health']);
  });
});
