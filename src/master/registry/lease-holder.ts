import type { KV } from '@nats-io/kv';
import type { Clock, TimerHandle } from '../../common/clock';

/** What a {@link LeaseHolder} tells the election about the key it keeps. */
export interface LeaseEvents {
  /** A renew was stored; the lease is certainly held until the holder's `sentAt` + the lease. */
  renewed(revision: number): void;
  /** The lease is lost (a renew failed or came too late); the holder stopped renewing. */
  lost(reason: string): void;
}

/**
 * Keeps a won leader key alive: rewrites it every renew interval, revision-checked, until released or
 * lost. The election (NatsLeaderElection) campaigns and watches; the holder only renews, so it can run
 * where the master's own work does not delay it (see WorkerLeaseHolder).
 */
export interface LeaseHolder {
  /** Opens what the holder needs (its connection); called once before the first `hold`. */
  start(): Promise<void>;
  /** Keeps the key written at `revision` (request sent at `sentAt`, local clock) until `release()` or a loss. */
  hold(revision: number, sentAt: number, events: LeaseEvents): void;
  /** When the last stored write of the key was sent: the lease is certainly ours until this + lease. */
  readonly sentAt: number;
  /** Stops renewing; resolves once no renew is in flight, with the key's last revision (0 if none). */
  release(): Promise<number>;
  /** Releases and frees what `start()` opened. */
  close(): Promise<void>;
}

/** Renew timing shared by both holders. */
export interface LeaseTiming {
  readonly leaseMs: number;
  readonly renewIntervalMs: number;
}

/** Why a renew due at `now` must not even be tried, or undefined when it may be. */
function renewTooLate(now: number, sentAt: number, timing: LeaseTiming): string | undefined {
  return now >= sentAt + timing.leaseMs ? `lease expired ${now - sentAt - timing.leaseMs} ms before the renew could run (process paused?)` : undefined;
}

/**
 * The holder that renews on the master's own event loop (timers of `clock`): what tests with a
 * controllable clock use. A loop busy for longer than the lease loses leadership with it.
 */
export class LoopLeaseHolder implements LeaseHolder {
  sentAt = 0;
  private revision = 0;
  private generation = 0;
  private timer: TimerHandle | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly kv: () => KV,
    private readonly key: string,
    private readonly value: string,
    private readonly timing: LeaseTiming,
    private readonly clock: Clock,
    /** Asked before each renew: a reason not to renew (the holder then reports the lease lost). */
    private readonly mayRenew: () => string | undefined = () => undefined,
  ) {}

  async start(): Promise<void> {}

  hold(revision: number, sentAt: number, events: LeaseEvents): void {
    this.clock.clearTimeout(this.timer);
    const generation = ++this.generation;
    this.revision = revision;
    this.sentAt = sentAt;
    this.schedule(generation, events);
  }

  async release(): Promise<number> {
    this.generation++;
    this.clock.clearTimeout(this.timer);
    await this.inFlight;
    return this.revision;
  }

  async close(): Promise<void> {
    await this.release();
  }

  private schedule(generation: number, events: LeaseEvents): void {
    const delay = Math.max(0, this.sentAt + this.timing.renewIntervalMs - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.inFlight = this.renew(generation, events);
    }, delay);
  }

  private async renew(generation: number, events: LeaseEvents): Promise<void> {
    if (generation !== this.generation) return;
    const now = this.clock.now();
    const late = renewTooLate(now, this.sentAt, this.timing) ?? this.mayRenew();
    if (late !== undefined) {
      this.generation++;
      events.lost(late);
      return;
    }
    let revision: number;
    try {
      revision = await this.kv().update(this.key, this.value, this.revision, this.timing.renewIntervalMs);
    } catch (err) {
      if (generation !== this.generation) return;
      this.generation++;
      events.lost(`renew failed: ${(err as Error).message}`);
      return;
    }
    this.revision = revision; // even when released meanwhile: the key's delete must name its last revision
    if (generation !== this.generation) return;
    this.sentAt = now;
    events.renewed(revision);
    this.schedule(generation, events);
  }
}
