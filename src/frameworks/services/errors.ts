/**
 * Errors of the services API. The gRPC edge (api.ts) maps `code` to the status of the same name;
 * validation problems are `ValidationError`s (INVALID_ARGUMENT) from common/wire.
 */
import { BerthError } from '../../common/errors';

export type ServicesErrorCode = 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT' | 'UNAVAILABLE';

export class ServicesError extends BerthError {
  declare readonly code: ServicesErrorCode;

  constructor(code: ServicesErrorCode, message: string) {
    super(code, message);
  }
}
