import * as grpc from '@grpc/grpc-js';
import { berthV1 } from '../../src/common/rpc/proto';
import { startTestMaster, TestScheduler, type TestMaster, closeAfterEach } from '../support/master-harness';

/**
 * A framework that stops reading its stream while the master has ever more to tell it. The
 * master's stream is in object mode, so its buffer is counted in messages, not bytes: the limit
 * (`maxFrameworkBufferBytes`) is checked against the weighed backlog, and the stream is then ended
 * with RESOURCE_EXHAUSTED at once, with the backlog dropped — not after a drain that never comes.
 */
describe('master: a framework that does not read its stream', () => {
  let master: TestMaster;
  const track = closeAfterEach();
  afterEach(async () => {
    await master.stop();
  });

  test('is cut off with RESOURCE_EXHAUSTED once its backlog passes the limit, and others carry on', async () => {
    master = await startTestMaster({ maxFrameworkBufferBytes: 1 << 20 });
    const other = track(await TestScheduler.subscribe(master.address));
    const client = track(new (berthV1().Scheduler)(master.address, grpc.credentials.createInsecure()));
    const stream = client.Connect() as grpc.ClientDuplexStream<object, { type: string; subscribed?: { framework_id: { value: string } } }>;
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    stream.write({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'slow', roles: ['slow'] } } });
    const frameworkId = await new Promise<string>((resolve) => {
      const onData = (e: { type: string; subscribed?: { framework_id: { value: string } } }): void => {
        if (e.type !== 'SUBSCRIBED') return;
        stream.off('data', onData);
        resolve(e.subscribed!.framework_id.value);
      };
      stream.on('data', onData);
    });
    stream.pause();
    // Each call is answered with 2000 TASK_LOST updates (~0.5 MB): a few fill the 1 MiB limit.
    const tasks = Array.from({ length: 2000 }, (_, i) => ({ task_id: { value: `ghost-${i}-${'x'.repeat(100)}` } }));
    for (let i = 0; i < 10; i++) stream.write({ type: 'RECONCILE', framework_id: { value: frameworkId }, reconcile: { tasks } });
    const err = await ended;
    expect([err.code, err.details]).toEqual([grpc.status.RESOURCE_EXHAUSTED, expect.stringMatching(/^the client is not reading its stream \(over 1048576 bytes/)]);
    expect(master.daemon.core!.frameworks.get(frameworkId)!.connected).toBe(false);
    // The other framework is still served.
    other.send({ type: 'RECONCILE', framework_id: { value: other.frameworkId }, reconcile: { tasks: [{ task_id: { value: 'nope' } }] } });
    expect((await other.nextUpdate('nope')).state).toBe('TASK_LOST');
  });
});
