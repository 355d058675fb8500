/**
 * `SchedulerLink`: the connection under a {@link SchedulerDriver} — one `Scheduler.Connect` stream at
 * a time, and everything that keeps one open: which master to dial, following the leader, the
 * subscribe timeout and heartbeat watchdog, and the re-dial delays. What the events mean is the
 * driver's; the link only knows SUBSCRIBED (the stream is usable) and a fatal ERROR (it is not).
 *
 * - The first call on every stream is the owner's `hello()` (SUBSCRIBE with what it knows now).
 * - A standby's fatal ERROR (or refusal) naming another leader is followed at once; a master that
 *   names itself while refusing is taking over and is dialled again soon; two masters pointing at
 *   each other are followed at most {@link MAX_IMMEDIATE_REDIALS} times in a row, then with backoff.
 * - Any other fatal ERROR goes to the owner's `refused`, which says whether to dial again at once.
 * - A stream that breaks is re-dialled (`RedialDelays`: quickly for a while after a subscribed
 *   stream, for a failover; then backoff), trying the configured masters in turn.
 */
import * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../../common/clock';
import { masterAddress, MasterTargets, RedialDelays } from '../../common/leader';
import type { Logger } from '../../common/logging';
import { berthV1 } from '../../common/rpc/proto';
import { channelCredentials, loadTls, PlaintextHint } from '../../common/tls';
import type { Call } from '../../generated/berth/v1/Call';
import type { Event__Output } from '../../generated/berth/v1/Event';
import type { SchedulerDriverOptions } from './driver-options';
import { endFlushed } from './stream-calls';

/** Re-dials without delay (a leader's pointer) in a row before the backoff applies anyway. */
export const MAX_IMMEDIATE_REDIALS = 3;
const UNAVAILABLE = 14;

type Stream = grpc.ClientDuplexStream<Call, Event__Output>;

interface Connection {
  readonly address: string;
  readonly client: grpc.Client;
  readonly stream: Stream;
  subscribed: boolean;
  closed: boolean;
}

/** What the link's owner is told; each runs synchronously, from the stream's own callbacks. */
export interface SchedulerLinkOwner {
  /** The first call on a new stream. */
  hello(): Call;
  /** Each event of the current stream but a fatal ERROR, SUBSCRIBED included (the link counts as subscribed by then). */
  event(event: Event__Output, master: string): void;
  /** A fatal ERROR that is not a pointer to the leader; true: dial again at once (not after a backoff). */
  refused(code: number, message: string): boolean;
  /** The stream ended (the link dials again by itself unless halted); `subscribed`: it had been. */
  ended(subscribed: boolean): void;
}

export type SchedulerLinkOptions = Pick<
  SchedulerDriverOptions,
  'masters' | 'clock' | 'token' | 'tls' | 'backoffMinMs' | 'backoffMaxMs' | 'failoverRedialMs' | 'missedHeartbeats' | 'subscribeTimeoutMs'
> & { readonly logger: Logger };

export class SchedulerLink {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly targets: MasterTargets;
  private readonly delays: RedialDelays;
  private readonly credentials: grpc.ChannelCredentials;
  private readonly plaintextHint: PlaintextHint;
  private conn: Connection | undefined;
  private watchdog: TimerHandle | undefined;
  private redial: TimerHandle | undefined;
  private heartbeatMs = 0;
  /** Immediate re-dials in a row (following leader pointers). */
  private immediateRedials = 0;
  private halted = false;

  constructor(
    private readonly options: SchedulerLinkOptions,
    private readonly owner: SchedulerLinkOwner,
  ) {
    this.clock = options.clock;
    this.logger = options.logger;
    this.targets = new MasterTargets(options.masters);
    this.delays = new RedialDelays({ minMs: options.backoffMinMs, maxMs: options.backoffMaxMs, failoverMs: options.failoverRedialMs });
    const tls = loadTls(options.tls, 'tls', 'client');
    this.credentials = channelCredentials(tls);
    this.plaintextHint = new PlaintextHint(tls !== undefined, (address, why) => this.logger.warn(`cannot connect to the master: ${why}`, { address }));
  }

  /** The master dialled (the last leader learnt of). */
  get master(): string {
    return this.targets.current;
  }

  /** The current stream has had its SUBSCRIBED and is open. */
  get subscribed(): boolean {
    return this.conn?.subscribed === true && !this.conn.closed;
  }

  /** Writes a call on the subscribed stream; false (nothing written) while not subscribed. */
  write(call: Call): boolean {
    if (!this.subscribed) return false;
    this.conn!.stream.write(call);
    return true;
  }

  /** Dials the first master. */
  start(): void {
    this.dial();
  }

  /** Stops re-dialling and ends the stream, after the master has taken every call written before. */
  async halt(): Promise<void> {
    this.halted = true;
    this.clearTimers();
    const conn = this.conn;
    this.conn = undefined;
    if (conn === undefined) return;
    if (!conn.closed && conn.subscribed) await endFlushed(conn.stream);
    this.close(conn);
  }

  private dial(): void {
    if (this.halted) return;
    const address = this.targets.current;
    const Client = berthV1().Scheduler;
    const client = new Client(address, this.credentials);
    const md = new grpc.Metadata();
    if (this.options.token !== undefined) md.set('authorization', `Bearer ${this.options.token}`);
    const stream = client.Connect(md) as unknown as Stream;
    const conn: Connection = { address, client, stream, subscribed: false, closed: false };
    this.conn = conn;
    stream.on('data', (event: Event__Output) => this.onData(conn, event));
    stream.on('error', (err: grpc.ServiceError) => this.onEnd(conn, err));
    stream.on('end', () => this.onEnd(conn, undefined));
    stream.write(this.owner.hello());
    // A master that accepts the stream but never answers must not hold the driver forever.
    this.clock.clearTimeout(this.watchdog);
    this.watchdog = this.clock.setTimeout(() => {
      this.watchdog = undefined;
      if (!conn.subscribed) {
        this.logger.warn('no SUBSCRIBED from the master: dialling again', { master: address });
        this.onEnd(conn, undefined);
      }
    }, this.options.subscribeTimeoutMs ?? 30_000);
  }

  private onData(conn: Connection, event: Event__Output): void {
    if (conn.closed || conn !== this.conn) return;
    if (event.type === 'ERROR' && event.error?.fatal === true) {
      this.onFatal(conn, event.error.code, event.error.message, masterAddress(event.error.leader ?? undefined));
      return;
    }
    if (event.type === 'SUBSCRIBED') {
      conn.subscribed = true;
      this.delays.connected();
      this.immediateRedials = 0;
      // Silence for `missedHeartbeats` of these intervals drops the stream (armWatchdog).
      this.heartbeatMs = (event.subscribed?.heartbeat_interval_seconds ?? 0) * 1000;
    }
    this.armWatchdog(conn);
    this.owner.event(event, conn.address);
  }

  private onFatal(conn: Connection, code: number, message: string, leader: string | undefined): void {
    if (code === UNAVAILABLE && leader !== undefined) {
      if (leader === conn.address) {
        // Elected and still taking over: this master serves in moments.
        this.onEnd(conn, undefined, false, true);
        return;
      }
      this.logger.info('following the leader', { from: conn.address, leader });
      this.targets.follow(leader);
      this.onEnd(conn, undefined, true);
      return;
    }
    this.onEnd(conn, undefined, this.owner.refused(code, message));
  }

  /** `takingOver`: the master dialled named itself the leader while refusing — dial it again soon. */
  private onEnd(conn: Connection, err: grpc.ServiceError | undefined, immediate = false, takingOver = false): void {
    if (conn.closed) return;
    const wasSubscribed = conn.subscribed;
    this.close(conn);
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.clearTimers();
    if (wasSubscribed) this.delays.lost(this.clock.now());
    this.owner.ended(wasSubscribed);
    if (this.halted) return;
    if (err !== undefined) {
      // A standby names the leader in its refusal too, not only in a fatal ERROR.
      const pointer = this.targets.followRefusal(err);
      if (pointer === 'followed') {
        immediate = true;
      } else if (pointer === 'takingOver') {
        takingOver = true;
      } else {
        this.logger.info('scheduler stream ended', { address: conn.address, code: grpc.status[err.code] ?? err.code, details: err.details });
        if (err.code === grpc.status.UNAVAILABLE && !wasSubscribed) this.plaintextHint.unavailable(conn.address);
      }
    }
    // After a failure without a pointer, the next master (a dead leader must not strand the framework).
    if (!immediate && !takingOver) this.targets.failed();
    // Two masters pointing at each other (stale views during an election) must not spin.
    if (immediate && ++this.immediateRedials > MAX_IMMEDIATE_REDIALS) immediate = false;
    if (!immediate) this.immediateRedials = 0;
    const delay = immediate ? 0 : this.delays.next(this.clock.now(), takingOver);
    this.redial = this.clock.setTimeout(() => {
      this.redial = undefined;
      this.dial();
    }, delay);
  }

  private close(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.stream.removeAllListeners('data');
    conn.stream.on('error', () => undefined);
    conn.stream.cancel();
    conn.client.close();
  }

  private armWatchdog(conn: Connection): void {
    if (!conn.subscribed) return; // the subscribe timeout stands
    this.clock.clearTimeout(this.watchdog);
    this.watchdog = undefined;
    if (this.heartbeatMs <= 0) return;
    const limit = this.heartbeatMs * (this.options.missedHeartbeats ?? 5);
    this.watchdog = this.clock.setTimeout(() => {
      this.watchdog = undefined;
      this.logger.warn('no heartbeat from the master: reconnecting', { master: conn.address, silentMs: limit });
      this.onEnd(conn, undefined);
    }, limit);
  }

  private clearTimers(): void {
    for (const t of [this.watchdog, this.redial]) this.clock.clearTimeout(t);
    this.watchdog = this.redial = undefined;
  }
}
