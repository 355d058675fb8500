import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BerthError } from '../../common/errors';
import type { NatsAuthSettings } from '../../common/nats-auth';
import type { LeaseEvents, LeaseHolder, LeaseTiming } from './lease-holder';
import { HEARTBEAT, SENT_AT, SHARED_SLOTS, type FromLeaseWorker, type LeaseWorkerData, type ToLeaseWorker } from './lease-worker-protocol';

/** Options of {@link WorkerLeaseHolder}. */
export interface WorkerLeaseHolderOptions {
  readonly servers: readonly string[];
  /** The worker's NATS connection name. */
  readonly name: string;
  readonly auth?: NatsAuthSettings;
  readonly bucket: string;
  readonly key: string;
  readonly value: string;
  readonly timing: LeaseTiming;
  /**
   * How long the master's event loop may go without running before the worker stops renewing: a
   * leader truly stuck loses its lease at most this + the lease after it stopped. @default the lease
   */
  readonly stuckMs?: number;
}

/**
 * Renews the lease from a worker thread with its own NATS connection and event loop, so a long
 * garbage collection or a burst of work on the master's loop (10,000 agents re-registering) does not
 * make it miss a renew. The master's loop writes a heartbeat into shared memory every 100 ms; the
 * worker renews only while it is fresh, so a zombie leader (a loop stuck for good) still loses the
 * lease. The last renew's send time is shared too: `sentAt` (hence `isLeader`) is current even when
 * the worker's messages wait behind the master's work.
 */
export class WorkerLeaseHolder implements LeaseHolder {
  private readonly shared = new BigInt64Array(new SharedArrayBuffer(SHARED_SLOTS * BigInt64Array.BYTES_PER_ELEMENT));
  private worker: Worker | undefined;
  private generation = 0;
  private holding: { readonly generation: number; readonly events: LeaseEvents } | undefined;
  private lastRevision = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly releases = new Map<number, (revision: number) => void>();

  constructor(private readonly options: WorkerLeaseHolderOptions) {}

  get sentAt(): number {
    return Number(Atomics.load(this.shared, SENT_AT));
  }

  async start(): Promise<void> {
    const o = this.options;
    const data: LeaseWorkerData = { servers: o.servers, name: o.name, auth: o.auth, bucket: o.bucket, key: o.key, value: o.value, timing: o.timing, stuckMs: o.stuckMs ?? o.timing.leaseMs, shared: this.shared.buffer as SharedArrayBuffer };
    const worker = startWorker(path.join(__dirname, `lease-worker${path.extname(__filename)}`), data);
    worker.unref();
    await new Promise<void>((resolve, reject) => {
      // Never removeAllListeners() on a Worker: Node's own listeners start its message port.
      const settle = (): void => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      const fail = (message: string): void => {
        settle();
        void worker.terminate();
        reject(new BerthError('ELECTION_UNAVAILABLE', `the lease worker could not start: ${message}`));
      };
      const onMessage = (m: FromLeaseWorker): void => {
        if (m.type !== 'ready') return fail(m.type === 'failed' ? m.message : `unexpected ${m.type}`);
        settle();
        resolve();
      };
      const onError = (err: Error): void => fail(err.message);
      const onExit = (code: number): void => fail(`exited with code ${code}`);
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
    worker.on('message', (m: FromLeaseWorker) => this.received(m));
    worker.on('error', (err) => this.gone(`the lease worker failed: ${err.message}`));
    worker.on('exit', (code) => this.gone(`the lease worker exited with code ${code}`));
    this.worker = worker;
  }

  hold(revision: number, sentAt: number, events: LeaseEvents): void {
    const generation = ++this.generation;
    this.holding = { generation, events };
    this.lastRevision = revision;
    Atomics.store(this.shared, SENT_AT, BigInt(sentAt));
    this.beat();
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(), Math.min(100, Math.floor(this.options.timing.renewIntervalMs / 4)));
    this.heartbeat.unref();
    this.send({ type: 'hold', generation, revision, sentAt });
  }

  release(): Promise<number> {
    const generation = ++this.generation;
    this.stopHolding();
    if (this.worker === undefined) return Promise.resolve(this.lastRevision);
    return new Promise((resolve) => {
      this.releases.set(generation, resolve);
      this.send({ type: 'release', generation });
    });
  }

  async close(): Promise<void> {
    await this.release();
    const worker = this.worker;
    if (worker === undefined) return;
    this.worker = undefined; // so its exit is not taken for a loss
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.send({ type: 'close' }, worker);
    const timer = setTimeout(() => void worker.terminate(), 2000); // its NATS close hangs: do not wait on it
    await exited;
    clearTimeout(timer);
  }

  private received(m: FromLeaseWorker): void {
    switch (m.type) {
      case 'renewed':
        this.lastRevision = m.revision;
        if (this.holding?.generation === m.generation) this.holding.events.renewed(m.revision);
        return;
      case 'lost': {
        if (this.holding?.generation !== m.generation) return;
        const { events } = this.holding;
        this.stopHolding();
        events.lost(m.reason);
        return;
      }
      case 'released':
        this.lastRevision = m.revision;
        this.releases.get(m.generation)?.(m.revision);
        this.releases.delete(m.generation);
        return;
      default:
        return;
    }
  }

  /** The worker died: the lease is no longer renewed, so it is lost; nothing is in flight any more. */
  private gone(reason: string): void {
    this.worker = undefined;
    for (const resolve of this.releases.values()) resolve(this.lastRevision);
    this.releases.clear();
    const holding = this.holding;
    this.stopHolding();
    holding?.events.lost(reason);
  }

  private stopHolding(): void {
    this.holding = undefined;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private beat(): void {
    Atomics.store(this.shared, HEARTBEAT, BigInt(Date.now()));
  }

  private send(message: ToLeaseWorker, worker = this.worker): void {
    worker?.postMessage(message);
  }
}

/**
 * Starts a worker thread on `file`. From the compiled dist/ that is a .js file; from the TypeScript
 * sources (the test suite) the thread has no transpiler of its own, so it loads the repository's swc
 * require hook (test/support/register-ts.js) first.
 */
function startWorker(file: string, workerData: unknown): Worker {
  if (!file.endsWith('.ts')) return new Worker(file, { workerData });
  const hook = path.resolve(__dirname, '../../../test/support/register-ts.js');
  return new Worker(`require(${JSON.stringify(hook)}); require(${JSON.stringify(file)});`, { eval: true, workerData });
}
