/**
 * A small promise-based client for the unary methods of any `berth.v1` service (`Services`, `Jobs`,
 * `Operator`, …), loaded from the same proto files as the servers. Used where a process needs another
 * one's API without depending on its code: the master's dashboard reads the frameworks' apps and
 * jobs through it.
 */
import * as grpc from '@grpc/grpc-js';
import { loadBerthProto } from './proto';

/** Options of {@link UnaryClient}. */
export interface UnaryClientOptions {
  /** `host:port` of the server. */
  readonly address: string;
  /** Deadline of each call. @default 5000 */
  readonly timeoutMs?: number;
  /** Transport security. @default plaintext */
  readonly credentials?: grpc.ChannelCredentials;
}

/** A failed call: the gRPC status code (`UNAVAILABLE`, `NOT_FOUND`, …) and the server's details. */
export class UnaryCallError extends Error {
  constructor(
    /** The status code's name, e.g. `UNAVAILABLE`. */
    readonly code: string,
    /** The numeric gRPC status. */
    readonly status: grpc.status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UnaryCallError';
  }
}

/** Unary calls to one `berth.v1` service at one address. The channel connects lazily. */
export class UnaryClient {
  private readonly client: grpc.Client;

  /**
   * @param service the service's name in `berth.v1`, e.g. `Services`
   * @throws Error when the proto files define no such service
   */
  constructor(
    readonly service: string,
    private readonly options: UnaryClientOptions,
  ) {
    const Ctor = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor | undefined> } }).berth.v1[service];
    if (Ctor === undefined || typeof Ctor !== 'function' || Ctor.service === undefined) throw new Error(`unknown service berth.v1.${service}`);
    this.client = new Ctor(options.address, options.credentials ?? grpc.credentials.createInsecure());
  }

  /**
   * Calls `method` with `request`; resolves with the decoded response.
   * @throws UnaryCallError with the status when the call fails (an unknown method is UNIMPLEMENTED)
   */
  call<Res>(method: string, request: object = {}, metadata: grpc.Metadata = new grpc.Metadata()): Promise<Res> {
    const fn = (this.client as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') {
      return Promise.reject(new UnaryCallError('UNIMPLEMENTED', grpc.status.UNIMPLEMENTED, `berth.v1.${this.service} has no method ${method}`));
    }
    const deadline = Date.now() + (this.options.timeoutMs ?? 5000);
    return new Promise<Res>((resolve, reject) => {
      (fn as (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void).call(
        this.client, request, metadata, { deadline }, (err, res) => {
          if (err === null) return resolve(res);
          const code = grpc.status[err.code] ?? 'UNKNOWN';
          reject(new UnaryCallError(code, err.code, `berth.v1.${this.service}/${method} at ${this.options.address}: ${err.details || code}`, { cause: err }));
        },
      );
    });
  }

  /** Closes the channel; later calls fail. Idempotent. */
  close(): void {
    this.client.close();
  }
}
