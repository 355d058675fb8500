import { BerthError } from '../common/errors';

/** A caller broke the allocator's bookkeeping contract (unknown id, recovering what was not allocated). */
export class AllocatorError extends BerthError {
  constructor(message: string) {
    super('ALLOCATOR_INVARIANT', message);
  }
}
