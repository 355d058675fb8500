import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection, type QueuedIterator } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import { SystemClock, type Clock, type TimerHandle } from '../../common/clock';
import { BerthError } from '../../common/errors';
import { nullLogger, type Logger } from '../../common/logging';
import type { NatsAuthSettings } from '../../common/nats-auth';
import { LoopLeaseHolder, type LeaseHolder } from './lease-holder';
import type { LeaderElection, LeaderInfo, LeadershipChange } from './registry';
import { WorkerLeaseHolder } from './worker-lease-holder';

/** Options of {@link NatsLeaderElection}. Give `nc` or `servers`. */
export interface NatsLeaderElectionOptions {
  /** How this master is reached; `id` must be unique per master process. */
  readonly self: LeaderInfo;
  /** An open connection; not closed by `stop()`. @default undefined (then `servers` is used) */
  readonly nc?: NatsConnection;
  /** Servers to connect to when `nc` is not given; that connection is closed by `stop()`. @default undefined */
  readonly servers?: string | readonly string[];
  /** KV bucket whose TTL is the lease; created if absent. @default 'berth-election' */
  readonly bucket?: string;
  /** Replicas of the bucket when this call creates it: 1 for one NATS server, 3 in HA. @default 1 */
  readonly replicas?: number;
  /** The lease: the bucket's TTL. Every candidate must use the same value. @default 10000 */
  readonly leaseMs?: number;
  /** How often the leader renews; also the bound on each renew request. @default leaseMs / 3 */
  readonly renewIntervalMs?: number;
  /** Time source for timers and lease arithmetic. @default new SystemClock() */
  readonly clock?: Clock;
  /** Told about transient trouble (failed campaigns, a broken watch) and leadership changes. @default nullLogger */
  readonly logger?: Logger;
  /**
   * Where the lease is renewed: on this event loop with `clock`'s timers, or from a worker thread
   * with its own connection to `servers` (the master's choice: a long GC pause or a burst of work
   * then does not cost it the lease; see WorkerLeaseHolder). @default 'loop'
   */
  readonly renewFrom?: 'loop' | { readonly worker: { readonly servers: readonly string[]; readonly auth?: NatsAuthSettings; readonly stuckMs?: number } };
}

const KEY = 'leader';

/** What the `leader` key holds: the leader's addresses plus the candidate instance that wrote them. */
interface LeaderRecord extends LeaderInfo {
  readonly instance: string;
}

type State = 'idle' | 'standby' | 'pending' | 'leader' | 'stopped';

/**
 * Leader election on a NATS KV key with a bucket TTL (DESIGN §6).
 *
 * Protocol. The bucket's max age is the lease (Debian's nats-server 2.9 has no per-key TTL), so a
 * value not rewritten within `leaseMs` disappears.
 * - Win: `create('leader', me)` — succeeds only if the key is absent (expired or deleted). The
 *   create's revision (stream sequence, strictly increasing in the bucket) is the term.
 * - Hold: every `renewIntervalMs` (lease/3) `update('leader', me, myRevision)`. The revision check
 *   fails once the key expired or someone else wrote it: then, or on a timeout, or after a
 *   disconnect longer than one renew interval, the leader emits `deposed` and stops acting.
 * - Local bound: a renew counts from when it was *sent* (the server stored it no earlier), so the
 *   lease is certainly ours until sentAt + leaseMs. `isLeader` is false past that, and a renew
 *   due past it is not even tried: a process paused (SIGSTOP, GC, blocked loop) beyond its lease
 *   is deposed on resume before it can act, and could only lead again by winning a new term.
 * - Act late: `elected` is emitted only after the first renew, one interval after winning. A
 *   predecessor whose lease ran out has by then either noticed on its own timer or is paused.
 *   `won` is emitted at once, so the winner can read its state (the registry) while it waits.
 * - Standbys watch the key: each renew they see pushes their next attempt to (seen + lease);
 *   a delete (graceful `stop()`) makes them campaign at once. TTL expiry produces no event on
 *   2.9, so the attempt at (seen + lease) finds it; a failed attempt re-reads the key, so a dead
 *   watch degrades to one poll per lease, not to blindness.
 * Fencing of the registry (epochs) is the safety net behind this; the election keeps it rare.
 */
export class NatsLeaderElection implements LeaderElection {
  private readonly self: LeaderRecord;
  private readonly encodedSelf: string;
  private readonly bucket: string;
  private readonly replicas: number;
  private readonly leaseMs: number;
  private readonly renewIntervalMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly listeners = new Set<(change: LeadershipChange) => void>();
  private readonly connectOptions: Pick<NatsLeaderElectionOptions, 'nc' | 'servers'>;
  private readonly holder: LeaseHolder;

  private nc: NatsConnection | undefined;
  private ownsConnection = false;
  private kv: KV | undefined;
  private state: State = 'idle';
  /** Revision of our key while pending/leader; `term` is the revision of the winning create. */
  private revision = 0;
  private term = 0;
  /** The last holder seen by a standby: its revision and when we saw it (local clock). */
  private observed: { revision: number; at: number } | undefined;
  private current: LeaderInfo | undefined;
  private campaignTimer: TimerHandle | undefined;
  private disconnectTimer: TimerHandle | undefined;
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private statusEvents: AsyncIterator<{ type: string }> | undefined;
  private watchRetry: { timer: TimerHandle; resume: () => void } | undefined;
  private busy: Promise<void> = Promise.resolve();
  private campaignFailing = false;
  /** No campaign before this (local clock): set by {@link resign}. */
  private holdOffUntil = 0;

  constructor(options: NatsLeaderElectionOptions) {
    this.self = { ...options.self, instance: randomBytes(6).toString('hex') };
    this.encodedSelf = JSON.stringify(this.self);
    this.bucket = options.bucket ?? 'berth-election';
    this.replicas = options.replicas ?? 1;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.renewIntervalMs = options.renewIntervalMs ?? Math.floor(this.leaseMs / 3);
    this.retryMs = Math.max(25, Math.floor(this.renewIntervalMs / 4));
    this.clock = options.clock ?? new SystemClock();
    this.logger = options.logger ?? nullLogger;
    if (!(this.renewIntervalMs > 0 && this.renewIntervalMs * 2 < this.leaseMs)) {
      throw new RangeError(`renewIntervalMs (${this.renewIntervalMs}) must be > 0 and below half of leaseMs (${this.leaseMs})`);
    }
    if (options.nc === undefined && options.servers === undefined) throw new RangeError('NatsLeaderElection needs nc or servers');
    this.connectOptions = { nc: options.nc, servers: options.servers };
    const timing = { leaseMs: this.leaseMs, renewIntervalMs: this.renewIntervalMs };
    const renewFrom = options.renewFrom ?? 'loop';
    this.holder = renewFrom === 'loop'
      ? new LoopLeaseHolder(() => this.kv!, KEY, this.encodedSelf, timing, this.clock)
      : new WorkerLeaseHolder({ ...renewFrom.worker, name: `berth-master ${this.self.id} lease`, bucket: this.bucket, key: KEY, value: this.encodedSelf, timing });
  }

  get isLeader(): boolean {
    return this.state === 'leader' && this.clock.now() < this.holder.sentAt + this.leaseMs;
  }

  leader(): LeaderInfo | undefined {
    return this.current;
  }

  onChange(listener: (change: LeadershipChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new BerthError('ELECTION_STARTED', 'election already started');
    const { nc, servers } = this.connectOptions;
    this.ownsConnection = nc === undefined;
    let ttl: number;
    try {
      this.nc = nc ?? await connect({ servers: [servers ?? []].flat() as string[], timeout: this.renewIntervalMs, maxReconnectAttempts: -1 });
      const kvm = new Kvm(jetstream(this.nc, { timeout: this.renewIntervalMs }));
      const create = (): Promise<KV> => kvm.create(this.bucket, { ttl: this.leaseMs, history: 1, replicas: this.replicas });
      this.kv = await create().catch(create); // two candidates creating the bucket at once: the loser's retry opens it
      ttl = (await this.kv.status()).ttl;
      if (ttl === this.leaseMs) await this.holder.start();
    } catch (err) {
      if (this.ownsConnection) await this.nc?.close().catch(() => undefined);
      throw new BerthError('ELECTION_UNAVAILABLE', `cannot reach the election bucket ${this.bucket}: ${(err as Error).message}`, { cause: err });
    }
    if (ttl !== this.leaseMs) {
      if (this.ownsConnection) await this.nc.close();
      throw new BerthError('ELECTION_MISCONFIGURED', `bucket ${this.bucket} has a TTL of ${ttl} ms but leaseMs is ${this.leaseMs}: every candidate must use the same lease`);
    }
    this.state = 'standby';
    this.statusEvents = this.nc.status()[Symbol.asyncIterator]();
    void this.watchStatus(this.statusEvents);
    void this.watchLoop();
    await this.serially(() => this.campaign());
  }

  async stop(): Promise<void> {
    if (this.state === 'idle' || this.state === 'stopped') return;
    const was = this.state;
    this.state = 'stopped';
    this.clearTimers();
    this.watcher?.stop();
    void this.statusEvents?.return?.();
    if (this.watchRetry !== undefined) {
      this.clock.clearTimeout(this.watchRetry.timer);
      this.watchRetry.resume();
    }
    await this.busy; // an in-flight create settles first, so we delete the right revision
    const holding = was === 'pending' || was === 'leader';
    const revision = holding ? await this.holder.release() : this.revision; // and so does an in-flight renew
    await this.holder.close();
    if (revision > 0 && this.kv !== undefined) {
      // Revision-checked: never deletes a successor's key. A successor can take over at once.
      await this.kv.delete(KEY, { previousSeq: revision }).catch(() => undefined);
    }
    if (holding) this.emit({ kind: 'deposed', reason: 'stopped' });
    this.setCurrent(undefined);
    if (this.ownsConnection) await this.nc?.close().catch(() => undefined);
  }

  async resign(reason: string, holdOffMs: number): Promise<void> {
    await this.serially(async () => {
      if (this.state !== 'pending' && this.state !== 'leader') return;
      this.holdOffUntil = this.clock.now() + holdOffMs;
      const revision = await this.depose(reason);
      // Revision-checked, as in stop(): another master can win at once.
      await this.kv!.delete(KEY, { previousSeq: revision }).catch(() => undefined);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Standby: campaigning

  private async campaign(): Promise<void> {
    if (this.state !== 'standby') return;
    if (this.clock.now() < this.holdOffUntil) {
      this.scheduleCampaign();
      return;
    }
    const sentAt = this.clock.now();
    let revision: number;
    try {
      revision = await this.kv!.create(KEY, this.encodedSelf);
    } catch (err) {
      if (this.state !== 'standby') return;
      if (isWrongLastSequence(err)) {
        this.campaignFailing = false;
      } else if (!this.campaignFailing) {
        this.campaignFailing = true; // logged once per outage, not once per attempt
        this.logger.warn('election: campaigning fails; retrying', { err });
      }
      try {
        this.observe(await this.kv!.get(KEY));
      } catch {
        // Unreachable; try again later.
      }
      this.scheduleCampaign();
      return;
    }
    this.revision = revision;
    if (this.state !== 'standby') return; // stopped meanwhile: stop() deletes it
    this.state = 'pending';
    this.clock.clearTimeout(this.campaignTimer);
    this.term = revision;
    this.setCurrent(this.self);
    this.emit({ kind: 'won', term: this.term });
    this.holder.hold(revision, sentAt, {
      renewed: (renewed) => this.renewed(renewed),
      lost: (why) => void this.depose(why),
    });
  }

  private scheduleCampaign(): void {
    if (this.state !== 'standby') return;
    const now = this.clock.now();
    const due = Math.max(this.observed === undefined ? now : this.observed.at + this.leaseMs, this.holdOffUntil);
    this.clock.clearTimeout(this.campaignTimer);
    this.campaignTimer = this.clock.setTimeout(() => void this.serially(() => this.campaign()), Math.max(due - now, this.retryMs));
  }

  /** A value (or its absence) seen on the watch or by a failed campaign. */
  private observe(entry: KvEntry | null): void {
    if (this.state === 'stopped' || this.state === 'idle') return;
    const record = entry?.operation === 'PUT' ? parseRecord(entry) : undefined;
    const mine = this.state === 'pending' || this.state === 'leader';
    if (record === undefined) {
      if (mine && entry !== null && entry.revision > this.revision) this.depose('the leader key was deleted');
      if (this.state === 'standby') {
        this.observed = undefined;
        this.setCurrent(undefined);
        this.clock.clearTimeout(this.campaignTimer);
        this.campaignTimer = this.clock.setTimeout(() => void this.serially(() => this.campaign()), 0);
      }
      return;
    }
    if (mine) {
      if (record.instance !== this.self.instance && entry!.revision > this.revision) this.depose(`${record.id} holds the leader key`);
      else return;
    }
    if (this.observed?.revision !== entry!.revision) this.observed = { revision: entry!.revision, at: this.clock.now() };
    this.setCurrent(record);
    this.scheduleCampaign();
  }

  // -------------------------------------------------------------------------------------------
  // Leader: renewing

  private renewed(revision: number): void {
    if (this.state !== 'pending' && this.state !== 'leader') return;
    this.revision = revision;
    if (this.state === 'pending') {
      this.state = 'leader';
      this.emit({ kind: 'elected', term: this.term });
    }
  }

  /** Stops leading now; resolves, once no renew is in flight, with our key's last revision. */
  private depose(reason: string): Promise<number> {
    const was = this.state;
    if (was !== 'pending' && was !== 'leader') return Promise.resolve(0);
    this.state = 'standby';
    const released = this.holder.release();
    this.clock.clearTimeout(this.disconnectTimer);
    this.disconnectTimer = undefined;
    // Our old value may linger until it expires; do not campaign before then.
    this.observed = { revision: this.revision, at: this.holder.sentAt };
    this.revision = 0;
    this.setCurrent(undefined);
    this.emit({ kind: 'deposed', reason }); // also for a term won but not yet acted on ('won' was emitted)
    this.scheduleCampaign();
    return released;
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  /** Campaigns and renews never overlap; `stop()` waits for the one in flight. */
  private serially(step: () => Promise<void>): Promise<void> {
    this.busy = this.busy.then(step).catch((err: unknown) => this.logger.error('election: unexpected failure', { err }));
    return this.busy;
  }

  private stopped(): boolean {
    return this.state === 'stopped';
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped()) {
      try {
        this.watcher = await this.kv!.watch({ key: KEY });
        if (this.stopped()) this.watcher.stop();
        for await (const entry of this.watcher) this.observe(entry);
      } catch (err) {
        if (!this.stopped()) this.logger.warn('election: watch of the leader key failed; retrying', { err });
      }
      if (this.stopped()) return;
      await new Promise<void>((resume) => {
        this.watchRetry = { timer: this.clock.setTimeout(resume, this.renewIntervalMs), resume };
      });
      this.watchRetry = undefined;
    }
  }

  /** A leader cut off from NATS for longer than one renew interval steps down without waiting for a timeout. */
  private async watchStatus(events: AsyncIterator<{ type: string }>): Promise<void> {
    for (;;) {
      const { done, value: status } = await events.next();
      if (done === true || this.stopped()) return;
      if (status.type === 'disconnect' && this.disconnectTimer === undefined && (this.state === 'leader' || this.state === 'pending')) {
        this.disconnectTimer = this.clock.setTimeout(() => {
          this.disconnectTimer = undefined;
          this.depose('disconnected from NATS for longer than a renew interval');
        }, this.renewIntervalMs);
      } else if (status.type === 'reconnect') {
        this.clock.clearTimeout(this.disconnectTimer);
        this.disconnectTimer = undefined;
      }
    }
  }

  private clearTimers(): void {
    this.clock.clearTimeout(this.campaignTimer);
    this.clock.clearTimeout(this.disconnectTimer);
  }

  private setCurrent(record: LeaderInfo | undefined): void {
    const next = record === undefined ? undefined : stripInstance(record);
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.current = next;
    this.emit({ kind: 'leader', leader: next });
  }

  private emit(change: LeadershipChange): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.logger.error(`election: a ${change.kind} listener threw`, { err });
      }
    }
  }
}

function parseRecord(entry: KvEntry): LeaderRecord | undefined {
  try {
    const value = entry.json<LeaderRecord>();
    return typeof value?.id === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function stripInstance(record: LeaderInfo): LeaderInfo {
  const { id, grpcAddress, httpAddress } = record;
  return httpAddress === undefined ? { id, grpcAddress } : { id, grpcAddress, httpAddress };
}

function isWrongLastSequence(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 10071 || /wrong last sequence/.test((err as Error)?.message ?? '');
}
