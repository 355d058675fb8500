/**
 * The agent's end of `AgentLink.Connect` (proto/berth/v1/agent.proto): one bidirectional stream to
 * the leading master, kept open for the agent's whole life.
 *
 * - On every (re)connection the first message is the agent's hello (REGISTER, or REREGISTER once the
 *   agent has an id), built fresh by the agent so it reports what it runs right now.
 * - REGISTERED / REREGISTERED: the link is up; the agent is told (it checkpoints the id and flushes
 *   its status updates). Backoff resets.
 * - PING → PONG at once. No PING for {@link MISSED_PINGS} heartbeat intervals: the stream is dropped
 *   and re-dialled (the master may be gone without the TCP connection noticing).
 * - REDIRECT (or a refusal UNAVAILABLE naming the leader `… at host:port`): re-dial that address.
 * - Stream end or error: re-dial (on the injected Clock) every ~250 ms for 30 s after losing a
 *   registered connection (a new leader serves within its lease), else with capped exponential
 *   backoff; a master that names itself the leader while refusing is taking over: dialled again soon.
 * - SHUTDOWN: the master refuses this agent; the link stops and the agent is told.
 * Every other master message goes to `onMessage`.
 */
import { channelCredentials, PlaintextHint, type TlsMaterial } from '../common/tls';
import * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../common/clock';
import { nullLogger, type Logger } from '../common/logging';
import { masterAddress, masterList, MasterTargets, RedialDelays } from '../common/leader';
import { berthV1 } from '../common/rpc/proto';
import type { AgentMessage } from '../generated/berth/v1/AgentMessage';
import type { MasterInfo__Output } from '../generated/berth/v1/MasterInfo';
import type { MasterMessage__Output } from '../generated/berth/v1/MasterMessage';

/** Heartbeat intervals without a PING after which the agent re-dials (the master's default too). */
export const MISSED_PINGS = 5;

/** Options of {@link MasterLink}. */
export interface MasterLinkOptions {
  /** The masters to dial: `host:port`, or several comma-separated (tried in turn; any of them points
   *  to the leader). */
  readonly master: string;
  readonly clock: Clock;
  /** Builds the first message of each connection (REGISTER or REREGISTER). */
  readonly hello: () => AgentMessage;
  /** The master accepted the agent (REGISTERED or REREGISTERED) on a new connection. */
  readonly onRegistered: (agentId: string, reregistered: boolean, master: MasterInfo__Output | undefined) => void;
  /** The registered connection broke (the link is re-dialling). */
  readonly onDisconnected: () => void;
  /** Any other master message (RUN_TASK, KILL_TASK, acknowledgements …). */
  readonly onMessage: (msg: MasterMessage__Output) => void;
  /** SHUTDOWN: the master wants this agent gone. The link has stopped. */
  readonly onShutdown: (message: string) => void;
  /** First re-dial delay. @default 500 */
  readonly backoffMinMs?: number;
  /** Cap of the re-dial delay. @default 30_000 */
  readonly backoffMaxMs?: number;
  /** Re-dial delay while a lost master is being replaced (see RedialDelays). @default 250 */
  readonly failoverRedialMs?: number;
  /** Sent with each stream (e.g. `authorization: Bearer …`). */
  readonly metadata?: () => grpc.Metadata;
  /** Largest message accepted, in bytes. @default 4 MiB */
  readonly maxMessageBytes?: number;
  /** TLS to the masters (their CA; a certificate for mutual TLS). @default plaintext */
  readonly tls?: TlsMaterial;
  /** @default nullLogger */
  readonly logger?: Logger;
}

type Duplex = grpc.ClientDuplexStream<AgentMessage, MasterMessage__Output>;

interface Connection {
  readonly address: string;
  readonly client: grpc.Client;
  readonly stream: Duplex;
  registered: boolean;
  closed: boolean;
}

/** A self-healing AgentLink stream to the leading master. */
export class MasterLink {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly plaintextHint: PlaintextHint;
  private readonly delays: RedialDelays;
  private readonly targets: MasterTargets;
  private conn: Connection | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private pingTimer: TimerHandle | undefined;
  private pingTimeoutMs = 0;
  private stopped = true;
  /** Connections opened so far (for logs and tests). */
  connections = 0;

  constructor(private readonly options: MasterLinkOptions) {
    this.clock = options.clock;
    this.logger = (options.logger ?? nullLogger).child({ component: 'master-link' });
    this.plaintextHint = new PlaintextHint(options.tls !== undefined, (address, why) => this.logger.warn(`cannot connect to the master: ${why}`, { address }));
    this.delays = new RedialDelays({ minMs: options.backoffMinMs, maxMs: options.backoffMaxMs, failoverMs: options.failoverRedialMs });
    this.targets = new MasterTargets(masterList(options.master));
  }

  /** Whether a registered connection is up. */
  get registered(): boolean {
    return this.conn?.registered === true && !this.conn.closed;
  }

  /** The address dialled (the last leader learnt of). */
  get address(): string {
    return this.targets.current;
  }

  /** Dials the master. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.dial();
  }

  /** Closes the stream and stops re-dialling. */
  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.reconnectTimer);
    this.clock.clearTimeout(this.pingTimer);
    this.reconnectTimer = undefined;
    this.pingTimer = undefined;
    if (this.conn !== undefined) this.close(this.conn);
    this.conn = undefined;
  }

  /**
   * Sends a message on the registered connection.
   * @throws Error when not registered (the caller retries later; status updates are resent on flush).
   */
  send(msg: AgentMessage): void {
    const c = this.conn;
    if (c === undefined || !c.registered || c.closed) throw new Error('not connected to a master');
    c.stream.write(msg);
  }

  private dial(): void {
    if (this.stopped) return;
    const address = this.targets.current;
    const Client = berthV1().AgentLink;
    const max = this.options.maxMessageBytes ?? 4 * 1024 * 1024;
    const client = new Client(address, channelCredentials(this.options.tls), {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
    });
    const stream = client.Connect(this.options.metadata?.() ?? new grpc.Metadata()) as unknown as Duplex;
    const conn: Connection = { address, client, stream, registered: false, closed: false };
    this.conn = conn;
    this.connections++;
    this.logger.debug('dialling the master', { address });
    stream.on('data', (msg: MasterMessage__Output) => this.onData(conn, msg));
    stream.on('error', (err: grpc.ServiceError) => this.onEnd(conn, err));
    stream.on('end', () => this.onEnd(conn, undefined));
    try {
      stream.write(this.options.hello());
    } catch (err) {
      this.logger.error('building the registration message failed', { err });
      this.onEnd(conn, undefined);
    }
  }

  private onData(conn: Connection, msg: MasterMessage__Output): void {
    if (conn.closed || conn !== this.conn) return;
    switch (msg.type) {
      case 'REGISTERED':
      case 'REREGISTERED': {
        const body = msg.registered ?? msg.reregistered;
        const agentId = body?.agent_id?.value ?? '';
        if (agentId === '') {
          this.logger.warn('registration answer without an agent id ignored');
          return;
        }
        conn.registered = true;
        this.delays.connected();
        const interval = (body?.heartbeat_interval_seconds ?? 0) * 1000;
        this.pingTimeoutMs = interval > 0 ? interval * MISSED_PINGS : 0;
        this.armPingWatch(conn);
        const leader = masterAddress(body?.master_info);
        this.logger.info(msg.type === 'REGISTERED' ? 'registered with the master' : 're-registered with the master', { agentId, master: conn.address, leader });
        this.options.onRegistered(agentId, msg.type === 'REREGISTERED', body?.master_info ?? undefined);
        return;
      }
      case 'PING':
        this.armPingWatch(conn);
        try {
          conn.stream.write({ type: 'PONG', pong: {} });
        } catch {
          // the end event follows
        }
        return;
      case 'REDIRECT': {
        const leader = masterAddress(msg.redirect?.leader);
        this.logger.info('redirected by a standby master', { from: conn.address, leader });
        if (leader !== undefined) this.targets.follow(leader);
        this.onEnd(conn, undefined, leader !== undefined);
        return;
      }
      case 'SHUTDOWN': {
        const message = msg.shutdown?.message ?? '';
        this.logger.warn('the master told this agent to shut down', { message });
        this.stop();
        this.options.onShutdown(message);
        return;
      }
      default:
        if (!conn.registered) {
          this.logger.warn('master message before registration ignored', { type: msg.type });
          return;
        }
        this.options.onMessage(msg);
    }
  }

  private armPingWatch(conn: Connection): void {
    this.clock.clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
    if (this.pingTimeoutMs <= 0) return;
    this.pingTimer = this.clock.setTimeout(() => {
      this.pingTimer = undefined;
      if (conn !== this.conn || conn.closed) return;
      this.logger.warn('no PING from the master; reconnecting', { silentMs: this.pingTimeoutMs });
      this.onEnd(conn, undefined);
    }, this.pingTimeoutMs);
  }

  private onEnd(conn: Connection, err: grpc.ServiceError | undefined, immediate = false): void {
    if (conn.closed) return;
    const wasRegistered = conn.registered;
    this.close(conn);
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.clock.clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
    if (wasRegistered) {
      this.delays.lost(this.clock.now());
      this.options.onDisconnected();
    }
    if (this.stopped) return;
    // A master that names itself in its refusal is taking over: it is dialled again shortly, not left.
    const pointer = this.targets.followRefusal(err);
    if (pointer === 'followed') immediate = true;
    const takingOver = pointer === 'takingOver';
    if (err?.code === grpc.status.UNAUTHENTICATED || err?.code === grpc.status.PERMISSION_DENIED) {
      this.logger.warn('the master refused this agent; retrying with backoff', { address: conn.address, code: grpc.status[err.code], details: err.details });
    } else if (err !== undefined) {
      const level = err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.CANCELLED ? 'info' : 'warn';
      this.logger[level]('master link ended', { address: conn.address, code: grpc.status[err.code] ?? err.code, details: err.details });
      if (err.code === grpc.status.UNAVAILABLE && !wasRegistered && !takingOver) this.plaintextHint.unavailable(conn.address);
    }
    if (!immediate && !takingOver) this.targets.failed(); // a dead leader must not strand the agent: try the others
    const delay = immediate ? 0 : this.delays.next(this.clock.now(), takingOver);
    this.logger.debug('re-dialling the master', { address: this.targets.current, inMs: delay });
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.dial();
    }, delay);
  }

  private close(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    try {
      conn.stream.end();
      conn.stream.cancel();
    } catch {
      // already closed
    }
    conn.client.close();
  }
}
