/**
 * Errors of the jobs API that are not validation problems (those are `ValidationError`s). The gRPC
 * edge (`api.ts`) maps `code` to a status: NOT_FOUND and FAILED_PRECONDITION as named.
 */
import { BerthError, type BerthErrorOptions } from '../../common/errors';

export type JobsErrorCode =
  /** No job or run with that id. */
  | 'NOT_FOUND'
  /** The request is valid but the job or run is in the wrong state for it. */
  | 'FAILED_PRECONDITION';

export class JobsError extends BerthError {
  declare readonly code: JobsErrorCode;

  constructor(code: JobsErrorCode, message: string, options?: BerthErrorOptions) {
    super(code, message, options);
  }
}
