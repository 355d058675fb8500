/**
 * The CLI's connection to a master's Operator API: unary calls with a deadline and the bearer token,
 * and gRPC errors turned into messages that say what to do next (the CLI prints them and exits 1).
 */
import * as grpc from '@grpc/grpc-js';
import { BerthError } from '../common/errors';
import { berthV1 } from '../common/rpc/proto';
import type { OperatorClient } from '../generated/berth/v1/Operator';

/** Where the CLI finds the master and how it authenticates; flags win over `BERTH_MASTER` / `BERTH_TOKEN`. */
export interface OperatorTarget {
  readonly master: string;
  readonly token?: string;
  /** Deadline of each call. @default 10_000 */
  readonly timeoutMs?: number;
}

/** The methods of the Operator service (unary). */
export type OperatorMethod = Exclude<keyof OperatorClient & `${Uppercase<string>}${string}`, 'Watch' | 'watch'>;

/** Options the CLI's master-facing commands share: `--master`, `--token`. */
export function operatorTarget(opts: { master?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): OperatorTarget {
  const master = opts.master ?? env['BERTH_MASTER'] ?? '127.0.0.1:5050';
  const token = opts.token ?? env['BERTH_TOKEN'];
  return { master, ...(token !== undefined && token !== '' ? { token } : {}) };
}

export class Operator {
  private readonly client: OperatorClient;

  constructor(private readonly target: OperatorTarget) {
    this.client = new (berthV1().Operator)(target.master, grpc.credentials.createInsecure());
  }

  /**
   * Calls `method`.
   * @throws BerthError('MASTER_UNREACHABLE' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | the gRPC code)
   *   with a message for people.
   */
  call<Res>(method: OperatorMethod, request: object = {}): Promise<Res> {
    const md = new grpc.Metadata();
    if (this.target.token !== undefined) md.set('authorization', `Bearer ${this.target.token}`);
    const deadline = Date.now() + (this.target.timeoutMs ?? 10_000);
    return new Promise<Res>((resolve, reject) => {
      const fn = (this.client[method] as unknown as (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void).bind(this.client);
      fn(request, md, { deadline }, (err, res) => (err ? reject(this.explain(err)) : resolve(res)));
    });
  }

  close(): void {
    this.client.close();
  }

  private explain(err: grpc.ServiceError): BerthError {
    const where = this.target.master;
    switch (err.code) {
      case grpc.status.UNAVAILABLE:
      case grpc.status.DEADLINE_EXCEEDED:
        return new BerthError('MASTER_UNREACHABLE', `cannot reach a master at ${where} (${err.details || grpc.status[err.code]}); is it running? Point to it with --master HOST:PORT or BERTH_MASTER`);
      case grpc.status.UNAUTHENTICATED:
        return new BerthError('UNAUTHENTICATED', `the master at ${where} wants a token: pass --token or set BERTH_TOKEN (${err.details})`);
      case grpc.status.PERMISSION_DENIED:
        return new BerthError('PERMISSION_DENIED', `the master at ${where} refused: ${err.details}`);
      default:
        return new BerthError(grpc.status[err.code] ?? 'FAILED', err.details || err.message);
    }
  }
}
