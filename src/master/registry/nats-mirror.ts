import type { NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { BerthError } from '../../common/errors';
import { nullLogger, type Logger } from '../../common/logging';
import type { BusEvent } from '../event-bus';
import type { TaskEntry } from '../model';

/** Options of {@link NatsEventMirror.create}. */
export interface NatsEventMirrorOptions {
  /** The connection to publish on; not closed by the mirror. */
  readonly nc: NatsConnection;
  /** Subjects are `<subjectPrefix>.<kind>`. @default 'berth.events' */
  readonly subjectPrefix?: string;
  /** The JetStream stream keeping events for replay; created if absent (an existing one is left as it is). @default 'BERTH_EVENTS' */
  readonly stream?: string;
  /** The stream keeps at most this many events (oldest dropped first). @default 100000 */
  readonly maxMessages?: number;
  /** The stream drops events older than this. @default 86400000 (24 h) */
  readonly maxAgeMs?: number;
  /** Replicas of the stream when created: 1 for one NATS server, 3 in HA. @default 1 */
  readonly replicas?: number;
  /** Bound on setting the stream up. @default 5000 */
  readonly timeoutMs?: number;
  /** Told when NATS goes away and comes back (not about every event). @default nullLogger */
  readonly logger?: Logger;
}

export interface NatsEventMirrorStats {
  /**
   * Events handed to NATS while connected. The stream stores every one that reaches a server; there
   * is no per-event acknowledgement (events are best effort, and an acknowledged publish per task
   * change cost the master most of its time when thousands of agents re-registered at once).
   */
  readonly published: number;
  /** Events that could not be encoded or sent. */
  readonly failed: number;
  /** Events not sent because NATS was disconnected (nothing is buffered for later), or after `close()`. */
  readonly dropped: number;
}

export interface MirroredEvent {
  readonly kind: string;
}

export class NatsEventMirror {
  private readonly prefix: string;
  private readonly logger: Logger;
  private counters = { published: 0, failed: 0, dropped: 0 };
  private connectedNow = true;
  private closed = false;
  private readonly watching: Promise<void>;
  private statusIterator: { stop?: () => void } | undefined;
  /** Events of this turn not yet handed to NATS: subject, payload, subject, payload, … */
  private queue: string[] = [];
  private sending: NodeJS.Immediate | undefined;
  private readonly subjects = new Map<string, string>();

  private constructor(private readonly nc: NatsConnection, options: NatsEventMirrorOptions) {
    this.prefix = options.subjectPrefix ?? 'berth.events';
    this.logger = options.logger ?? nullLogger;
    this.watching = this.watch();
  }

  /** Ensures the stream exists and returns a mirror publishing into it. */
  static async create(options: NatsEventMirrorOptions): Promise<NatsEventMirror> {
    const timeout = options.timeoutMs ?? 5000;
    const prefix = options.subjectPrefix ?? 'berth.events';
    const name = options.stream ?? 'BERTH_EVENTS';
    try {
      const jsm = await jetstreamManager(options.nc, { timeout });
      try {
        await jsm.streams.info(name);
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
        await jsm.streams.add({
          name,
          subjects: [`${prefix}.>`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          discard: DiscardPolicy.Old,
          max_msgs: options.maxMessages ?? 100_000,
          max_age: (options.maxAgeMs ?? 86_400_000) * 1_000_000,
          num_replicas: options.replicas ?? 1,
        });
      }
    } catch (err) {
      throw new BerthError('EVENT_MIRROR_UNAVAILABLE', `cannot set up the ${name} stream: ${(err as Error).message}`, { cause: err });
    }
    return new NatsEventMirror(options.nc, options);
  }

  /** Whether events are being sent (NATS connected and the mirror open). */
  get connected(): boolean {
    return this.connectedNow && !this.closed;
  }

  /**
   * Publishes `event` (fire and forget). Never throws. The event is encoded now and handed to NATS
   * with the others of this turn of the event loop, in order: the client writes to its socket once
   * per batch instead of once per message handler (10,000 re-registering agents, each a handler
   * publishing its tasks, were 10,000 socket writes).
   */
  publish<E extends MirroredEvent>(event: E): void {
    if (!this.connected) {
      this.counters.dropped++;
      return;
    }
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch (err) {
      this.counters.failed++;
      this.logger.warn('event mirror: event not encoded', { kind: String(event?.kind), err });
      return;
    }
    this.queue.push(this.subjectOf(String(event.kind)), json);
    if (this.queue.length === 2) this.sending = setImmediate(() => this.send());
  }

  private subjectOf(kind: string): string {
    let subject = this.subjects.get(kind);
    if (subject === undefined) {
      subject = `${this.prefix}.${subjectToken(kind)}`;
      // Kinds are a small fixed set; anything beyond that is not worth remembering.
      if (this.subjects.size < 256) this.subjects.set(kind, subject);
    }
    return subject;
  }

  /**
   * Hands the queued events to NATS (subject and payload alternate in the queue). The payloads are
   * written as UTF-8 into one buffer and published as views of it: one allocation per batch instead
   * of one encoded copy per event (a new leader publishes ~10 events per re-registering agent).
   */
  private send(): void {
    clearImmediate(this.sending);
    this.sending = undefined;
    const queue = this.queue;
    this.queue = [];
    let chars = 0;
    for (let i = 1; i < queue.length; i += 2) chars += queue[i]!.length;
    const bytes = Buffer.allocUnsafe(chars * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
    let at = 0;
    for (let i = 0; i < queue.length; i += 2) {
      if (!this.connected) {
        this.counters.dropped += (queue.length - i) / 2;
        return;
      }
      try {
        const end = at + bytes.write(queue[i + 1]!, at);
        this.nc.publish(queue[i]!, bytes.subarray(at, end));
        at = end;
        this.counters.published++;
      } catch (err) {
        this.counters.failed++;
        this.logger.warn('event mirror: event not sent', { subject: queue[i], err });
      }
    }
  }

  stats(): NatsEventMirrorStats {
    return { ...this.counters };
  }

  /** Resolves once NATS has seen every event published so far (a round trip); at once when disconnected. */
  async flush(): Promise<void> {
    this.send();
    if (this.connected) await this.nc.flush().catch(() => undefined);
  }

  /** Stops sending (later events count as dropped) and flushes. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.statusIterator?.stop?.();
    await this.watching;
  }

  /** Follows the connection: events are dropped, not buffered, while NATS is away. */
  private async watch(): Promise<void> {
    const statuses = this.nc.status();
    this.statusIterator = statuses as unknown as { stop?: () => void };
    try {
      for await (const s of statuses) {
        if (this.closed) break;
        if (s.type === 'disconnect' && this.connectedNow) {
          this.connectedNow = false;
          this.logger.warn('event mirror: NATS disconnected; events are dropped until it is back');
        } else if (s.type === 'reconnect' && !this.connectedNow) {
          this.connectedNow = true;
          this.logger.info('event mirror: NATS reconnected; publishing again', { ...this.stats() });
        }
      }
    } catch {
      // the connection closed
    }
  }
}

/** A kind as one or more subject tokens: `task.updated` stays hierarchical; anything else unsafe becomes `_`. */
function subjectToken(kind: string): string {
  const tokens = kind.split('.').map((t) => t.replace(/[^A-Za-z0-9_-]/g, '_'));
  return tokens.every((t) => t.length > 0) ? tokens.join('.') : kind.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

/**
 * A bus event as the NATS mirror publishes it, or undefined when it is not published. TASK_ADDED
 * carries the master's whole task entry; on NATS it is summarised to the task's ids, role, state
 * and resources text (serialising whole entries was most of a new leader's work when 10,000 agents
 * re-registered with 100,000 tasks). A TASK_ADDED of a task its agent reported (origin 'agent': a
 * new leader adopting the tasks of re-registering agents) is not published: the stream had the task
 * when it was launched, the agent's AGENT_UPDATED says how many tasks it came back with, and a
 * failover of 100,000 tasks would otherwise write 100,000 repeats — evicting the stream's whole
 * history (it keeps 100,000 events) and costing the new leader ~9 % of its takeover CPU.
 * Other events carry ids and wire objects already and are published as they are.
 */
export function mirroredEvent(event: BusEvent): BusEvent | undefined {
  const entry = event.payload['entry'] as TaskEntry | undefined;
  if (event.kind !== 'TASK_ADDED' || entry === undefined) return event;
  if (event.payload['origin'] === 'agent') return undefined;
  const { entry: _entry, ...rest } = event.payload;
  return {
    ...event,
    payload: { ...rest, task: { taskId: entry.taskId, frameworkId: entry.frameworkId, agentId: entry.agentId, role: entry.role, state: entry.state, name: entry.info.name, resources: entry.resources.toString() } },
  };
}
