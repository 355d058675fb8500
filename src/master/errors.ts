import type { status } from '@grpc/grpc-js';
import { BerthError } from '../common/errors';

/**
 * A call the master refuses, with the gRPC status code to answer it with. The message names the
 * offending field and value. The gRPC adapters turn it into an ERROR event (scheduler stream) or
 * a status (operator calls) — the one place per server where domain errors become statuses.
 */
export class MasterError extends BerthError {
  constructor(
    readonly grpcCode: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('MASTER_REJECTED', message, options);
  }
}
