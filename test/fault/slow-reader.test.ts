/**
 * A framework that subscribes and then stops reading its stream while asking for more and more
 * (explicit reconciliations of thousands of tasks, each answered with one update per task). The
 * master must not buffer for it without bound: its memory stays bounded, it cuts the stream off,
 * and every other framework carries on.
 */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { berthV1 } from '../../src/common/rpc/proto';
import { FaultCluster } from './support/cluster';
import { expectChecksPass, report } from './support/scenario';

jest.setTimeout(120_000);

let cluster: FaultCluster | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await cluster?.stop();
  cluster = undefined;
});

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round(kb / 1024);
}

test('a framework that does not read its stream is cut off; the master stays bounded and everyone else proceeds', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake' }],
    frameworks: [{ name: 'steady', target: 3, command: 'run' }],
    masterArgs: ['--max-framework-buffer-bytes', String(4 << 20)],
  });
  const c = cluster;
  const { leader } = await c.waitForLeader(10_000);
  const rssBefore = rssMb(leader.proc.pid!);

  const client = new (berthV1().Scheduler)(leader.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  closers.push(() => client.close());
  const stream = client.Connect() as grpc.ClientDuplexStream<object, { type: string; subscribed?: { framework_id: { value: string } } }>;
  closers.push(() => stream.cancel());
  const ended = new Promise<string>((resolve) => {
    stream.on('error', (e: grpc.ServiceError) => resolve(`${grpc.status[e.code]}: ${e.details}`));
    stream.on('end', () => resolve('ended'));
  });
  stream.write({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'slow-reader', roles: ['slow'], failover_timeout: 0 } } });
  const frameworkId = await new Promise<string>((resolve) => {
    const onData = (e: { type: string; subscribed?: { framework_id: { value: string } } }): void => {
      if (e.type === 'SUBSCRIBED') {
        stream.off('data', onData);
        resolve(e.subscribed!.framework_id.value);
      }
    };
    stream.on('data', onData);
  });
  stream.pause(); // from now on nothing is read

  // Ask for far more than the buffer may hold (4 MiB here): up to 100 × 5000 unknown tasks, each
  // answered with a TASK_LOST update of ~300 bytes.
  const tasks = Array.from({ length: 5000 }, (_, i) => ({ task_id: { value: `ghost-${i}-${'x'.repeat(100)}` } }));
  let peak = rssBefore;
  let cutAfter = -1;
  for (let i = 0; i < 100; i++) {
    const writable = stream.write({ type: 'RECONCILE', framework_id: { value: frameworkId }, reconcile: { tasks } });
    peak = Math.max(peak, rssMb(leader.proc.pid!));
    const state = await Promise.race([ended, new Promise<undefined>((r) => setTimeout(r, 200, undefined))]);
    if (state !== undefined) {
      cutAfter = i;
      break;
    }
    if (!writable) await new Promise((r) => setTimeout(r, 50));
  }
  let received = 0;
  const kinds = new Map<string, number>();
  stream.on('data', (e: { type: string; update?: { status: { state: string } } }) => {
    received++;
    const k = `${e.type}${e.update ? `:${e.update.status.state}` : ''}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  });
  stream.resume();
  const outcome = await Promise.race([ended, new Promise<string>((r) => setTimeout(r, 20_000, 'still open'))]);
  // The status is sent as trailers, behind what the socket already holds; a client that has not
  // read them within the grace period gets its HTTP/2 stream reset (CANCELLED) instead.
  expect({ outcome, cutAfter, received, kinds: Object.fromEntries(kinds) }).toMatchObject({ outcome: expect.stringMatching(/^RESOURCE_EXHAUSTED: the client is not reading its stream|^CANCELLED/) });
  // Bounded: the buffer limit plus the work in flight, not half a million updates.
  expect(peak - rssBefore).toBeLessThan(200);
  expect(leader.proc.running).toBe(true);
  // The others were not disturbed.
  c.faultHealed();
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000 });
  report('slow-reader', { rss_before_mb: rssBefore, rss_peak_mb: peak, cut_after_calls: cutAfter, received_before_cut: received, outcome, ...summary });
});
