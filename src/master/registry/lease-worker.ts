/**
 * The program of the lease worker thread (see WorkerLeaseHolder): its own NATS connection and a
 * LoopLeaseHolder on its own event loop, so the master's garbage collections and bursts of work do
 * not delay renewals — while a master whose event loop stops beating stops being renewed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { SystemClock } from '../../common/clock';
import { natsAuthOptions } from '../../common/nats-auth';
import { LoopLeaseHolder } from './lease-holder';
import { HEARTBEAT, SENT_AT, type LeaseWorkerData, type ToLeaseWorker, type FromLeaseWorker } from './lease-worker-protocol';

async function run(data: LeaseWorkerData): Promise<void> {
  const port = parentPort!;
  const post = (message: FromLeaseWorker): void => port.postMessage(message);
  const shared = new BigInt64Array(data.shared);
  let nc;
  let kv;
  try {
    nc = await connect({ servers: [...data.servers], name: data.name, timeout: data.timing.renewIntervalMs, maxReconnectAttempts: -1, ...natsAuthOptions(data.auth, 'nats') } as never);
    kv = await new Kvm(jetstream(nc, { timeout: data.timing.renewIntervalMs })).open(data.bucket);
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message });
    await nc?.close().catch(() => undefined);
    return;
  }
  const opened = kv;
  const holder = new LoopLeaseHolder(() => opened, data.key, data.value, data.timing, new SystemClock(), () => {
    const silent = Date.now() - Number(Atomics.load(shared, HEARTBEAT));
    return silent > data.stuckMs ? `the master's event loop has not run for ${silent} ms (stuck?)` : undefined;
  });
  port.on('message', (message: ToLeaseWorker) => {
    switch (message.type) {
      case 'hold': {
        const { generation } = message;
        Atomics.store(shared, SENT_AT, BigInt(message.sentAt));
        holder.hold(message.revision, message.sentAt, {
          renewed: (revision) => {
            Atomics.store(shared, SENT_AT, BigInt(holder.sentAt)); // seen by the master at once, even behind a busy loop
            post({ type: 'renewed', generation, revision });
          },
          lost: (reason) => post({ type: 'lost', generation, reason }),
        });
        return;
      }
      case 'release':
        void holder.release().then((revision) => post({ type: 'released', generation: message.generation, revision }));
        return;
      case 'close':
        void holder.close().then(() => nc.close()).catch(() => undefined).finally(() => port.close());
        return;
    }
  });
  post({ type: 'ready' });
}

void run(workerData as LeaseWorkerData);
