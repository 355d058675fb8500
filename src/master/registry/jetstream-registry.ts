import { randomBytes } from 'node:crypto';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import {
  DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager,
  type JetStreamClient, type JetStreamManager, type PubAck,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { RegistryFencedError, RegistryUnavailableError, type Registry, type RegistryOp } from './registry';
import { RegistryCorruptError, RegistryInvalidValueError } from './file-registry';

/** Options of {@link JetStreamRegistry.open}. Give `nc` or `servers`. */
export interface JetStreamRegistryOptions {
  /** An open connection; the registry does not close it. @default undefined (then `servers` is used) */
  readonly nc?: NatsConnection;
  /** Servers to connect to when `nc` is not given; that connection is closed by `close()`. @default undefined */
  readonly servers?: string | readonly string[];
  /** KV bucket (stream `KV_<bucket>`); created if absent. @default 'berth-registry' */
  readonly bucket?: string;
  /** Replicas of the bucket when this call creates it: 1 for one NATS server, 3 in HA. @default 1 */
  readonly replicas?: number;
  /** The leadership term this master won; epochs of a higher term fence this one. */
  readonly term: number;
  /** The id of this master. */
  readonly leaderId: string;
  /** Bound on every request (publish ack, stream info, get). @default 5000 */
  readonly timeoutMs?: number;
  /** Bound on `load()`. @default 30000 */
  readonly loadTimeoutMs?: number;
  /** Messages published and not yet acknowledged before `write` waits for room. @default 4096 */
  readonly maxInFlight?: number;
  /** The stream's duplicate window, set when this call creates the bucket (memory grows with it). @default 30000 */
  readonly duplicateWindowMs?: number;
  /** Attempts to append an epoch while a deposed writer is still moving the stream. @default 10 */
  readonly epochAttempts?: number;
}

/**
 * Registry keys → KV keys (subject tokens after `$KV.<bucket>.`), reversibly for any JS string:
 * - `A-Z a-z 0-9 _ - /` pass through, and so does `.` between two other characters that are not
 *   dots (so `agents.a1` stays two subject tokens and can be filtered with `agents.>`);
 * - every other ASCII character, `=` itself, a leading `_`, and a leading, trailing or doubled `.`
 *   become `=XX` (two uppercase hex digits of the character code);
 * - every non-ASCII UTF-16 code unit becomes `=uXXXX` (so even lone surrogates round-trip);
 * - the empty key is `=`.
 * Keys starting with `_` are reserved for the registry itself (`_epoch`): an encoded key never
 * starts with `_`. The subject's length is the only limit (the server's 4 KiB control line).
 */
export function encodeKey(key: string): string {
  const SAFE = /^[A-Za-z0-9_\-/]$/;
  if (key === '') return '=';
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const ch = key[i]!;
    if (c > 0x7f) {
      out += `=u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    } else if (SAFE.test(ch) && !(ch === '_' && i === 0)) {
      out += ch;
    } else if (ch === '.' && i > 0 && i < key.length - 1 && key[i - 1] !== '.' && key[i + 1] !== '.') {
      out += ch;
    } else {
      out += `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** The inverse of {@link encodeKey}. */
export function decodeKey(encoded: string): string {
  if (encoded === '=') return '';
  return encoded.replace(/=(?:u([0-9A-F]{4})|([0-9A-F]{2}))/g, (_, wide: string | undefined, narrow: string | undefined) =>
    String.fromCharCode(parseInt(wide ?? narrow!, 16)));
}

/** The reserved key of epoch records; {@link encodeKey} never produces it. */
export const EPOCH_KEY = '_epoch';
/** `wrong last msg ID` (not exported by @nats-io/jetstream 3.4). */
const WRONG_LAST_MSG_ID = 10070;

interface Epoch { readonly term: number; readonly leaderId: string; readonly instance: string }
interface Outcome { readonly verdict?: Promise<Error> }
interface PreparedOp { readonly subject: string; readonly data: Uint8Array; readonly del: boolean }

/**
 * The master registry on a NATS JetStream KV bucket, fenced against deposed leaders.
 *
 * Fencing (DESIGN §6). KV has no multi-key transactions, so fencing lives on the bucket's stream:
 * 1. `open()` appends an epoch record (`_epoch` = {term, leaderId, instance}) expecting the stream's
 *    current last sequence — it lands only if nobody appended in between (retried while a deposed
 *    writer is still moving the stream; refused if a newer term's epoch is already there).
 * 2. Every later message (one per op; puts and KV deletes `KV-Operation: DEL`) carries
 *    `Nats-Expected-Last-Sequence` = the sequence our previous message will get, and
 *    `Nats-Expected-Last-Msg-Id` = that message's `Nats-Msg-Id`. So writes pipeline (message N+1
 *    is sent before N's ack) and any foreign append breaks the chain.
 *    Why both: with the sequence alone, a deposed leader's pipelined message that expects N+1 is
 *    accepted when the new leader's epoch happened to land at N+1 (verified on 2.9.10). The
 *    message id names the writer, so that slot can never line up.
 * 3. Acks are judged in send order. The first failure breaks the chain and fixes the verdict for
 *    every message behind it: `wrong last sequence` → {@link RegistryFencedError}, for good;
 *    `wrong last msg ID` with the sequence right → fenced if `_epoch` is no longer ours, otherwise
 *    the server forgot its last id (a restart after the duplicate window) → unavailable;
 *    timeouts, disconnects, lost quorum → {@link RegistryUnavailableError}. After a non-fenced
 *    failure the next write first drains, checks that `_epoch` is still ours and re-anchors by
 *    appending a fresh epoch record expecting the observed last sequence.
 *
 * A batch is sent as consecutive messages, not atomically: if `write` rejects, a prefix of the
 * batch may be durable. Callers re-write (puts/deletes are idempotent) or step down.
 */
export class JetStreamRegistry implements Registry {
  private readonly nc: NatsConnection;
  private readonly ownsConnection: boolean;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly bucket: string;
  private readonly stream: string;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly loadTimeoutMs: number;
  private readonly maxInFlight: number;
  private readonly epochAttempts: number;
  /** Who we are in epoch records; `instance` tells two openings by one master apart. */
  private readonly epoch: Epoch;

  private nextId = 1;
  /** Stream sequence and msg id of our last sent message: what the next one expects. */
  private expectSeq = 0;
  private expectMsgId = '';
  private state: 'ok' | 'resync' | 'fenced' | 'closed' = 'ok';
  private fencedError: RegistryFencedError | undefined;
  /** The verdict of the failure that broke the chain; messages behind it share it. */
  private broken: Promise<Error> | undefined;
  /** Serialises sends (and resyncs) in `write` call order. */
  private gate: Promise<void> = Promise.resolve();
  /** Judges acks in send order. */
  private acks: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private roomWaiters: Array<() => void> = [];

  private constructor(nc: NatsConnection, ownsConnection: boolean, js: JetStreamClient, jsm: JetStreamManager, options: JetStreamRegistryOptions) {
    this.nc = nc;
    this.ownsConnection = ownsConnection;
    this.js = js;
    this.jsm = jsm;
    this.bucket = options.bucket ?? 'berth-registry';
    this.stream = `KV_${this.bucket}`;
    this.prefix = `$KV.${this.bucket}.`;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.loadTimeoutMs = options.loadTimeoutMs ?? 30_000;
    this.maxInFlight = options.maxInFlight ?? 4096;
    this.epochAttempts = options.epochAttempts ?? 10;
    this.epoch = { term: options.term, leaderId: options.leaderId, instance: randomBytes(6).toString('hex') };
  }

  /** Connects (or uses `nc`), creates the bucket if needed and appends this leader's epoch. */
  static async open(options: JetStreamRegistryOptions): Promise<JetStreamRegistry> {
    if (!Number.isSafeInteger(options.term) || options.term < 1) throw new RangeError(`term must be a positive integer, got ${options.term}`);
    const timeout = options.timeoutMs ?? 5000;
    let nc = options.nc;
    if (nc === undefined) {
      if (options.servers === undefined) throw new RangeError('JetStreamRegistry.open needs nc or servers');
      nc = await connect({ servers: [options.servers].flat() as string[], timeout, maxReconnectAttempts: -1 }).catch((err: unknown) => {
        throw new RegistryUnavailableError(`cannot connect to NATS at ${[options.servers].flat().join(',')}: ${(err as Error).message}`, { cause: err });
      });
    }
    const owns = options.nc === undefined;
    try {
      const js = jetstream(nc, { timeout });
      const jsm = await jetstreamManager(nc, { timeout });
      const registry = new JetStreamRegistry(nc, owns, js, jsm, options);
      await registry.ensureBucket(options.replicas ?? 1, options.duplicateWindowMs ?? 30_000);
      await registry.appendEpoch('open');
      return registry;
    } catch (err) {
      if (owns) await nc.close().catch(() => undefined);
      throw asRegistryError(err, 'cannot open the registry');
    }
  }

  /** The term this registry writes for. */
  get term(): number {
    return this.epoch.term;
  }

  async load(): Promise<ReadonlyMap<string, unknown>> {
    if (this.state === 'closed') throw new RegistryUnavailableError('registry is closed');
    const out = new Map<string, unknown>();
    try {
      const info = await this.jsm.streams.info(this.stream);
      if (info.state.messages === 0) return out;
      const consumer = await this.js.consumers.get(this.stream, {
        filter_subjects: `${this.prefix}>`, deliver_policy: DeliverPolicy.LastPerSubject,
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          void messages.then((m) => m.stop());
          reject(new RegistryUnavailableError(`load of ${this.bucket} timed out after ${this.loadTimeoutMs} ms`));
        }, this.loadTimeoutMs);
        const messages = consumer.consume({
          callback: (m) => {
            try {
              const key = m.subject.slice(this.prefix.length);
              const op = m.headers?.get('KV-Operation');
              if (key !== EPOCH_KEY && op !== 'DEL' && op !== 'PURGE') {
                const decoded = decodeKey(key);
                out.set(decoded, parseValue(m.string(), decoded, this.bucket));
              }
            } catch (err) {
              clearTimeout(timer);
              void messages.then((it) => it.stop());
              reject(err);
              return;
            }
            if (m.info.pending === 0) {
              clearTimeout(timer);
              void messages.then((it) => it.stop());
              resolve();
            }
          },
        });
        messages.catch((err: unknown) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      return out;
    } catch (err) {
      throw asRegistryError(err, `cannot load ${this.bucket}`);
    }
  }

  write(ops: readonly RegistryOp[]): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new RegistryUnavailableError('registry is closed'));
    if (this.state === 'fenced') return Promise.reject(this.fencedError!);
    let prepared: PreparedOp[];
    try {
      prepared = ops.map((op) => this.prepare(op));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.gate = this.gate.then(() => this.send(prepared, resolve, reject)).catch(reject);
    });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const wake of this.roomWaiters.splice(0)) wake();
    await this.gate;
    await this.acks;
    if (this.ownsConnection) await this.nc.close().catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  private prepare(op: RegistryOp): PreparedOp {
    const subject = this.prefix + encodeKey(op.key);
    if ('delete' in op && op.delete === true) return { subject, data: new Uint8Array(0), del: true };
    const json = JSON.stringify((op as { value: unknown }).value);
    if (json === undefined) throw new RegistryInvalidValueError(`value of registry key ${JSON.stringify(op.key)} is not JSON-serialisable`);
    return { subject, data: Buffer.from(json, 'utf8'), del: false };
  }

  /** Runs inside the gate: publishes the batch (pipelined), resyncing first if the chain broke. */
  private async send(ops: PreparedOp[], resolve: () => void, reject: (err: unknown) => void): Promise<void> {
    try {
      if (this.state === 'resync') {
        await this.acks;
        await this.appendEpoch('resync');
      }
      await this.room(ops.length);
      this.assertWritable();
    } catch (err) {
      reject(asRegistryError(err, `cannot re-anchor ${this.stream} after a failed write`));
      return;
    }
    const outcomes = ops.map((op) => {
      const id = `${this.epoch.instance}.${this.nextId++}`;
      const h = headers();
      if (op.del) h.set('KV-Operation', 'DEL');
      const ack = this.js.publish(op.subject, op.data, {
        headers: h, msgID: id, timeout: this.timeoutMs,
        expect: { lastSequence: this.expectSeq, lastMsgID: this.expectMsgId },
      });
      this.expectSeq++;
      this.expectMsgId = id;
      return this.judge(ack, this.expectSeq);
    });
    void Promise.all(outcomes).then(async (results) => {
      const failed = results.find((r) => r.verdict !== undefined);
      if (failed === undefined) resolve();
      else reject(await failed.verdict!);
    });
  }

  /** Judges one message's ack after every earlier one's, so the first failure names the cause. */
  private judge(ack: Promise<PubAck>, seq: number): Promise<Outcome> {
    this.inFlight++;
    const settled = ack.then((pa) => ({ pa, err: undefined as unknown }), (err: unknown) => ({ pa: undefined, err }));
    const outcome = this.acks.then(async (): Promise<Outcome> => {
      const { pa, err } = await settled;
      this.inFlight--;
      this.roomWaiters.shift()?.();
      if (pa !== undefined && pa.seq === seq && !pa.duplicate) return {};
      if (this.broken === undefined) {
        this.broken = this.classify(err ?? new Error(`ack for sequence ${seq} came back as ${pa?.seq}${pa?.duplicate ? ' (duplicate)' : ''}`));
      }
      return { verdict: this.broken };
    });
    this.acks = outcome.then(() => undefined);
    return outcome;
  }

  private classify(err: unknown): Promise<Error> {
    if (this.state === 'closed') return Promise.resolve(new RegistryUnavailableError('registry closed with writes in flight', { cause: err }));
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
      return Promise.resolve(this.fence(`another master appended to ${this.stream} (${err.message})`, err));
    }
    this.state = 'resync';
    if (err instanceof JetStreamApiError && err.code === WRONG_LAST_MSG_ID) {
      return this.readEpoch().then(
        (epoch) => (this.isOurs(epoch)
          ? new RegistryUnavailableError(`${this.stream} forgot its last message id (nats-server restarted?); the next write re-anchors`, { cause: err })
          : this.fence(`a newer leader's epoch is in ${this.stream} (term ${epoch?.term ?? 'none'}, ${epoch?.leaderId ?? 'none'})`, err)),
        (readErr: unknown) => asRegistryError(readErr, 'write rejected and the epoch could not be checked'),
      );
    }
    return Promise.resolve(asRegistryError(err, `write to ${this.stream} failed`));
  }

  private fence(reason: string, cause?: unknown): RegistryFencedError {
    if (this.fencedError === undefined) {
      this.fencedError = new RegistryFencedError(`registry ${this.bucket}: ${reason}; this master (term ${this.epoch.term}, ${this.epoch.leaderId}) is deposed`, { cause });
    }
    if (this.state !== 'closed') this.state = 'fenced';
    return this.fencedError;
  }

  private assertWritable(): void {
    if (this.state === 'closed') throw new RegistryUnavailableError('registry is closed');
    if (this.state === 'fenced') throw this.fencedError!;
  }

  private async room(n: number): Promise<void> {
    while (this.inFlight > 0 && this.inFlight + n > this.maxInFlight && this.state !== 'closed') {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Epochs

  /**
   * Appends our epoch expecting the stream's current last sequence. At `open` a newer (or equal,
   * foreign) epoch already present fences us; at `resync` anything but our own epoch does.
   */
  private async appendEpoch(mode: 'open' | 'resync'): Promise<void> {
    for (let attempt = 1; attempt <= this.epochAttempts; attempt++) {
      this.assertWritable();
      const info = await this.jsm.streams.info(this.stream);
      const current = await this.readEpoch();
      if (mode === 'open' && current !== undefined &&
          (current.term > this.epoch.term || (current.term === this.epoch.term && current.leaderId !== this.epoch.leaderId))) {
        throw this.fence(`${this.stream} already holds the epoch of term ${current.term} (${current.leaderId})`);
      }
      if (mode === 'resync' && !this.isOurs(current)) {
        throw this.fence(`${this.stream} holds the epoch of term ${current?.term ?? 'none'} (${current?.leaderId ?? 'none'})`);
      }
      const last = info.state.last_seq;
      const id = `${this.epoch.instance}.${this.nextId++}`;
      try {
        const pa = await this.js.publish(this.prefix + EPOCH_KEY, JSON.stringify({ ...this.epoch, at: new Date().toISOString() }), {
          msgID: id, timeout: this.timeoutMs,
          // The server ignores an expected last sequence of 0; on an empty stream ask for no epoch instead.
          expect: last > 0 ? { lastSequence: last } : { lastSubjectSequence: 0 },
        });
        this.expectSeq = pa.seq;
        this.expectMsgId = id;
        this.broken = undefined;
        this.state = 'ok';
        return;
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence)) throw err;
        // Someone appended between our read and our epoch: a deposed leader draining its pipeline
        // (it stops within one renew interval of losing its lease). Back off and try again.
        await new Promise((resolve) => setTimeout(resolve, Math.min(25 * 2 ** (attempt - 1), 1000)));
      }
    }
    throw new RegistryUnavailableError(`${this.stream} kept moving: no epoch appended after ${this.epochAttempts} attempts`);
  }

  private async readEpoch(): Promise<Epoch | undefined> {
    const sm = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.prefix + EPOCH_KEY });
    if (sm === null) return undefined;
    try {
      return sm.json<Epoch>();
    } catch {
      return undefined;
    }
  }

  private isOurs(epoch: Epoch | undefined): boolean {
    return epoch !== undefined && epoch.term === this.epoch.term && epoch.leaderId === this.epoch.leaderId &&
      epoch.instance === this.epoch.instance;
  }

  private async ensureBucket(replicas: number, duplicateWindowMs: number): Promise<void> {
    try {
      await this.jsm.streams.info(this.stream);
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    }
    await new Kvm(this.js).create(this.bucket, { replicas, history: 1 });
    const info = await this.jsm.streams.info(this.stream);
    const window = duplicateWindowMs * 1_000_000;
    if (info.config.duplicate_window !== window) {
      await this.jsm.streams.update(this.stream, { ...info.config, duplicate_window: window });
    }
  }
}

function parseValue(text: string, key: string, bucket: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RegistryCorruptError(`bucket ${bucket}, key ${JSON.stringify(key)}: value is not JSON`, { cause: err });
  }
}

/** Passes Berth registry errors through; anything else (timeouts, disconnects, no quorum) is unavailability. */
function asRegistryError(err: unknown, context: string): Error {
  if (err instanceof RegistryFencedError || err instanceof RegistryUnavailableError || err instanceof RegistryCorruptError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RegistryUnavailableError(`${context}: ${message}`, { cause: err });
}
