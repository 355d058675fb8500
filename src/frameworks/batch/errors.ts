/**
 * Errors of the batch API that are not validation problems (those are `ValidationError`s); the gRPC
 * edge (api.ts) maps `code` to the status of the same name.
 */
import { BerthError, type BerthErrorOptions } from '../../common/errors';

export type BatchErrorCode =
  /** No queue or job of that name or id. */
  | 'NOT_FOUND'
  /** Valid, but the queue or job is in the wrong state for it (a queue with jobs, a job that ended). */
  | 'FAILED_PRECONDITION';

export class BatchError extends BerthError {
  declare readonly code: BatchErrorCode;

  constructor(code: BatchErrorCode, message: string, options?: BerthErrorOptions) {
    super(code, message, options);
  }
}
