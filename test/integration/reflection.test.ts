import * as grpc from '@grpc/grpc-js';
import { FrameworkCluster } from '../support/framework-cluster';
import { startTestMaster, type TestMaster } from '../support/master-harness';
import { commentAt, ReflectionClient } from '../support/reflection-client';

/**
 * What a grpcurl user sees through server reflection, over real gRPC: `grpcurl list` shows what
 * the server serves (the master its three APIs, the framework host the plugins' APIs), and
 * `grpcurl describe` finds each .proto file by its own name, with the contract's comments.
 */
describe('server reflection: the contract as written', () => {
  let master: TestMaster | undefined;
  let cluster: FrameworkCluster | undefined;
  const clients: ReflectionClient[] = [];
  const reflect = (address: string, version: 'v1' | 'v1alpha' = 'v1') => {
    const c = new ReflectionClient(address, version);
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await master?.stop();
    master = undefined;
    await cluster?.stop();
    cluster = undefined;
  });

  test.each(['v1', 'v1alpha'] as const)('the master lists Scheduler, AgentLink, Operator and Health — not the frameworks\' Services and Jobs (%s)', async (version) => {
    master = await startTestMaster();
    expect(await reflect(master.address, version).services()).toEqual(['berth.v1.AgentLink', 'berth.v1.Operator', 'berth.v1.Scheduler', 'grpc.health.v1.Health']);
  });

  test('berth/v1/scheduler.proto by its name: its own declarations, its imports, and its comments', async () => {
    master = await startTestMaster();
    const [scheduler, ...imports] = await reflect(master.address).files({ file_by_filename: 'berth/v1/scheduler.proto' });
    expect([scheduler!.name, scheduler!.package, scheduler!.dependency]).toEqual(['berth/v1/scheduler.proto', 'berth.v1', ['berth/v1/common.proto', 'berth/v1/resources.proto']]);
    expect(scheduler!.service.map((s: { name: string }) => s.name)).toEqual(['Scheduler']);
    expect(scheduler!.messageType.map((m: { name: string }) => m.name)).toEqual(['Call', 'Event']);
    // Its imports come along (grpcurl needs them to build the file), each under its own name too.
    expect(imports.map((f) => f.name).sort()).toEqual(['berth/v1/common.proto', 'berth/v1/resources.proto']);
    // `grpcurl describe berth.v1.Scheduler` prints the service's comment from the .proto file.
    expect(commentAt(scheduler!, [6, 0])).toMatch(/^ .*SUBSCRIBE/s);
    expect(commentAt(scheduler!, [6, 0, 2, 0])).toBeDefined(); // rpc Connect
  });

  test('a symbol leads to its own file, with the comments of its messages, fields and enum values', async () => {
    master = await startTestMaster();
    const [operator] = await reflect(master.address).files({ file_containing_symbol: 'berth.v1.Operator.GetMaster' });
    expect(operator!.name).toBe('berth/v1/operator.proto');
    const i = operator!.service[0].method.findIndex((m: { name: string }) => m.name === 'GetMaster');
    expect(commentAt(operator!, [6, 0, 2, i])).toBe(' Who is this master and who leads? Served by standbys too; use it to find the leader.\n');
    const watchRequest = operator!.messageType.findIndex((m: { name: string }) => m.name === 'WatchRequest');
    expect(commentAt(operator!, [4, watchRequest])).toBe(' Parameters of Watch.\n');
    expect(commentAt(operator!, [4, watchRequest, 2, 0])).toMatch(/^ Resume after this sequence number/);
    // protoc's shapes, so grpcurl (Go's protodesc) accepts the file: `optional` as proto3_optional
    // with its synthetic oneof, a map field as a repeated `…Entry` message, fully-qualified types.
    const from = operator!.messageType[watchRequest].field[0];
    expect([from.name, from.proto3Optional, operator!.messageType[watchRequest].oneofDecl[from.oneofIndex].name]).toEqual(['from_sequence', true, '_from_sequence']);
    const frameworkState = operator!.messageType.find((m: { name: string }) => m.name === 'FrameworkState');
    const counts = frameworkState.field.find((f: { name: string }) => f.name === 'task_counts');
    expect(counts.typeName).toBe('.berth.v1.FrameworkState.TaskCountsEntry');
    expect(frameworkState.nestedType.find((n: { name: string }) => n.name === 'TaskCountsEntry').options.mapEntry).toBe(true);
  });

  test('an unknown file is NOT_FOUND, naming it', async () => {
    master = await startTestMaster();
    await expect(reflect(master.address).files({ file_by_filename: 'berth/v1/nope.proto' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, message: expect.stringContaining('berth/v1/nope.proto') });
  });

  test('the framework host lists the plugins\' APIs it serves, Services and Jobs, and describes them', async () => {
    cluster = await FrameworkCluster.start({ agents: 0, plugins: [{ name: 'services', module: 'services' }, { name: 'jobs', module: 'jobs' }] });
    const client = reflect(cluster.host.grpcAddress!);
    expect(await client.services()).toEqual(['berth.v1.Jobs', 'berth.v1.Services', 'grpc.health.v1.Health']);
    const [services] = await client.files({ file_containing_symbol: 'berth.v1.Services' });
    expect(services!.name).toBe('berth/v1/services.proto');
    expect(commentAt(services!, [6, 0])).toBeDefined();
  });
});
