/**
 * A small promise-based client for the unary methods of any `berth.v1` service (`Services`, `Jobs`,
 * `Operator`, …), loaded from the same proto files as the servers. Used where a process needs another
 * one's API without depending on its code: the master's dashboard reads the frameworks' apps and
 * jobs through it.
 */
import * as grpc from '@grpc/grpc-js';
import { contractMethods, contractType, decodeOptions, type ContractMethod } from './proto-root';

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
  private readonly methods: Map<string, ContractMethod>;

  /**
   * @param service the service's name in `berth.v1`, e.g. `Services`
   * @throws Error when the proto files define no such service
   */
  constructor(
    readonly service: string,
    private readonly options: UnaryClientOptions,
  ) {
    // The protobufjs types only (not proto-loader's definitions of the whole package): a client
    // process such as the CLI starts in a fraction of the time.
    const methods = contractMethods(service);
    if (methods === undefined) throw new Error(`unknown service berth.v1.${service}`);
    this.methods = new Map();
    for (const m of methods) {
      if (m.streaming) continue;
      this.methods.set(m.name, m);
      this.methods.set(m.name.charAt(0).toLowerCase() + m.name.slice(1), m);
    }
    this.client = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure());
  }

  /**
   * Calls `method` with `request`; resolves with the decoded response.
   * @throws UnaryCallError with the status when the call fails (an unknown method is UNIMPLEMENTED)
   */
  call<Res>(method: string, request: object = {}, metadata: grpc.Metadata = new grpc.Metadata()): Promise<Res> {
    const m = this.methods.get(method);
    if (m === undefined) {
      return Promise.reject(new UnaryCallError('UNIMPLEMENTED', grpc.status.UNIMPLEMENTED, `berth.v1.${this.service} has no method ${method}`));
    }
    const req = contractType(m.requestType);
    const res = contractType(m.responseType);
    const conversion = decodeOptions();
    const deadline = Date.now() + (this.options.timeoutMs ?? 5000);
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<object, Res>(
        `/berth.v1.${this.service}/${m.name}`,
        (arg) => {
          if (Array.isArray(arg)) throw new Error(`Failed to serialize message: expected object with ${req.name} structure, got array instead`);
          return Buffer.from(req.encode(req.fromObject(arg as Record<string, unknown>)).finish());
        },
        (buf) => res.toObject(res.decode(buf), conversion) as Res,
        request,
        metadata,
        { deadline },
        (err, value) => {
          if (err === null) return resolve(value as Res);
          const code = grpc.status[err.code] ?? 'UNKNOWN';
          reject(new UnaryCallError(code, err.code, `berth.v1.${this.service}/${m.name} at ${this.options.address}: ${err.details || code}`, { cause: err }));
        },
      );
    });
  }

  /** Closes the channel; later calls fail. Idempotent. */
  close(): void {
    this.client.close();
  }
}
