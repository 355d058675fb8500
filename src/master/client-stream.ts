import type * as grpc from '@grpc/grpc-js';
import { callCertificatePrincipal } from '../common/tls';
import { status as Status } from '@grpc/grpc-js';
import { abortStream, endStreamWithStatus } from '../common/rpc/server';

/**
 * The plumbing both long-lived client streams share (frameworks' Scheduler.Connect and agents'
 * AgentLink.Connect): authenticate the caller, notice the end of the stream exactly once whatever
 * ends it, and a sink that writes, ends, and cuts off a client that stopped reading.
 */

type ServerStream<Out> = grpc.ServerDuplexStream<unknown, Out>;

/** Who a call's bearer token (or client certificate) names; undefined: refused. */
export type Authenticate = (metadata: grpc.Metadata, certificatePrincipal?: string) => { name: string } | undefined;

/**
 * Authenticates the stream's caller. Returns the principal (undefined when authentication is
 * disabled), or `false` after ending the stream with UNAUTHENTICATED.
 */
export function authenticateStream(stream: grpc.ServerDuplexStream<unknown, unknown>, authenticate: Authenticate | undefined): { name: string } | undefined | false {
  if (authenticate === undefined) return undefined;
  const principal = authenticate(stream.metadata, callCertificatePrincipal(stream as never));
  if (principal === undefined) {
    endStreamWithStatus(stream, Status.UNAUTHENTICATED, 'missing or invalid bearer token');
    return false;
  }
  return principal;
}

/** Calls `closed` once, when the client ends, errors or drops the stream. */
export function onStreamEnd(stream: grpc.ServerDuplexStream<unknown, unknown>, closed: () => void): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    closed();
  };
  stream.on('end', () => {
    once();
    stream.end();
  });
  stream.on('error', once);
  stream.on('close', once);
}

export interface StreamSinkOptions<Out> {
  /** Called once when the master ends the stream itself (the client may not notice at once). */
  readonly onClosed: () => void;
  /** Bytes buffered for a client that does not read, beyond which the stream is cut. @default no limit */
  readonly maxBufferedBytes?: () => number;
  /** A last message carrying a closing error (a fatal ERROR event); without one, the error becomes the stream's status. */
  readonly errorMessage?: (error: { code: number; message: string }) => Out;
}

/** A client's stream as the master writes to it. Writes after the end are dropped. */
export class StreamSink<Out> {
  private done = false;
  /** Estimated bytes of the messages queued behind a client that is not keeping up. */
  private buffered = 0;
  /** Messages weighed so far, and the weight of the last one measured. */
  private weighed = 0;
  private lastWeight = 0;

  constructor(
    private readonly stream: ServerStream<Out>,
    private readonly options: StreamSinkOptions<Out>,
  ) {}

  send(message: Out): void {
    if (this.done) return;
    // The stream is in object mode: `writableLength` counts messages, not bytes. Once messages back
    // up (the client is slow or not reading), each queued one is weighed until it leaves the buffer:
    // every WEIGH_EVERY-th by its JSON length (a generous estimate of its encoded size), the ones
    // between as the last one weighed — a stream's backlog is mostly messages of one kind (a new
    // leader's 100,000 reconciliation answers), and weighing each was 1.5 % of a takeover's CPU. A
    // client that keeps up costs nothing: nothing is weighed below the stream's high-water mark.
    let size = 0;
    if (this.stream.writableLength >= this.stream.writableHighWaterMark) {
      if (this.weighed++ % WEIGH_EVERY === 0) this.lastWeight = approximateBytes(message);
      size = this.lastWeight;
    }
    try {
      this.buffered += size;
      this.stream.write(message, () => {
        this.buffered -= size;
      });
    } catch {
      this.close();
      return;
    }
    const max = this.options.maxBufferedBytes?.();
    if (max !== undefined && this.buffered > max) {
      // It cannot read a last message either: cut the stream with a status instead.
      this.done = true;
      abortStream(this.stream, Status.RESOURCE_EXHAUSTED, `the client is not reading its stream (over ${max} bytes of events queued)`);
      this.options.onClosed();
    }
  }

  /** Ends the stream; with an error, as a last message when the protocol has one, else as the status. */
  close(error?: { code: number; message: string }): void {
    if (this.done) return;
    this.done = true;
    try {
      if (error === undefined) this.stream.end();
      else if (this.options.errorMessage !== undefined) {
        this.stream.write(this.options.errorMessage(error));
        this.stream.end();
      } else {
        endStreamWithStatus(this.stream, error.code, error.message);
      }
    } catch {
      // The stream is already gone.
    }
    this.options.onClosed();
  }

  /** The client ended the stream: nothing more is written. */
  ended(): void {
    this.done = true;
  }
}

/** One message in this many queued ones is measured; the others weigh as the last one measured. */
const WEIGH_EVERY = 8;

/** Rough size of a message in bytes (its JSON text); only for buffer accounting. */
function approximateBytes(message: unknown): number {
  try {
    return JSON.stringify(message)?.length ?? 0;
  } catch {
    return 1024;
  }
}
