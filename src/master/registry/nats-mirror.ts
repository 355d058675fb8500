import type { NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, jetstream, jetstreamManager,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { BerthError } from '../../common/errors';
import { nullLogger, type Logger } from '../../common/logging';

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
  /** Events awaiting their ack; beyond this, new events are dropped (and counted). @default 1000 */
  readonly maxInFlight?: number;
  /** Bound on each publish ack. @default 5000 */
  readonly timeoutMs?: number;
  /** Told when publishing starts and stops failing (not about every failure). @default nullLogger */
  readonly logger?: Logger;
}

/** Counters of a {@link NatsEventMirror} since it was created. */
export interface NatsEventMirrorStats {
  /** Events stored by the stream (acknowledged). */
  readonly published: number;
  /** Events sent but not acknowledged (timeout, no stream, disconnected), or not encodable. */
  readonly failed: number;
  /** Events not sent because `maxInFlight` were already awaiting their ack, or after `close()`. */
  readonly dropped: number;
  /** Events sent and awaiting their ack now. */
  readonly inFlight: number;
}

/** A cluster event as mirrored: any plain object with a `kind`. */
export interface MirroredEvent {
  readonly kind: string;
}

/**
 * Mirrors the master's in-process events to NATS: each event, JSON-encoded, is published on
 * `berth.events.<kind>` (live subscribers get it at once) and captured by the `BERTH_EVENTS`
 * stream (bounded by count and age) for replay.
 *
 * Fire-and-forget: `publish` never throws and never waits. At most `maxInFlight` events await
 * their ack; beyond that events are dropped, so a slow or absent NATS costs bounded memory and
 * nothing else. Everything is counted in `stats()` (for metrics), and the logger hears only when
 * publishing starts failing and when it recovers.
 */
export class NatsEventMirror {
  private readonly js: JetStreamClient;
  private readonly prefix: string;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private counters = { published: 0, failed: 0, dropped: 0 };
  private inFlight = new Set<Promise<void>>();
  private failing = false;
  private closed = false;

  private constructor(js: JetStreamClient, options: NatsEventMirrorOptions) {
    this.js = js;
    this.prefix = options.subjectPrefix ?? 'berth.events';
    this.maxInFlight = options.maxInFlight ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.logger = options.logger ?? nullLogger;
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
    return new NatsEventMirror(jetstream(options.nc, { timeout }), options);
  }

  /** Publishes `event` in the background. Never throws. */
  publish<E extends MirroredEvent>(event: E): void {
    if (this.closed || this.inFlight.size >= this.maxInFlight) {
      this.counters.dropped++;
      return;
    }
    let data: string;
    try {
      data = JSON.stringify(event);
    } catch (err) {
      this.counters.failed++;
      this.logger.warn('event mirror: event is not JSON-encodable', { kind: String(event?.kind), err });
      return;
    }
    const sent = this.js.publish(`${this.prefix}.${subjectToken(String(event.kind))}`, data, { timeout: this.timeoutMs }).then(
      () => {
        this.counters.published++;
        if (this.failing) {
          this.failing = false;
          this.logger.info('event mirror: publishing recovered', { ...this.stats() });
        }
      },
      (err: unknown) => {
        this.counters.failed++;
        if (!this.failing) {
          this.failing = true;
          this.logger.warn('event mirror: publishing failed; events are dropped until NATS answers again', { err });
        }
      },
    ).finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }

  stats(): NatsEventMirrorStats {
    return { ...this.counters, inFlight: this.inFlight.size };
  }

  /** Resolves when every event sent so far has been acknowledged or has failed. */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Stops accepting events (later ones count as dropped) and flushes. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}

/** A kind as one or more subject tokens: `task.updated` stays hierarchical; anything else unsafe becomes `_`. */
function subjectToken(kind: string): string {
  const tokens = kind.split('.').map((t) => t.replace(/[^A-Za-z0-9_-]/g, '_'));
  return tokens.every((t) => t.length > 0) ? tokens.join('.') : kind.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}
