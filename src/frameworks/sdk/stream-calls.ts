import type * as grpc from '@grpc/grpc-js';
import type { FiltersArg } from './framework';

/**
 * How long {@link endFlushed} waits for the master to end a half-closed stream. A real-time bound on
 * socket I/O, not framework logic: it must hold whatever clock the driver was given.
 */
export const CLOSE_FLUSH_MS = 2000;

/**
 * Half-closes a scheduler stream and resolves once the master has ended it (or after
 * {@link CLOSE_FLUSH_MS}). The master handles a stream's calls in order before its end, so calls
 * written just before — kills from a plugin's `stop()`, a TEARDOWN — are handled, not cut off by
 * the cancel that follows.
 */
export function endFlushed<Req, Res>(stream: grpc.ClientDuplexStream<Req, Res>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_FLUSH_MS);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    stream.once('status', done);
    stream.once('end', done);
    stream.once('error', done);
    stream.end();
  });
}

/** The `filters` field of an ACCEPT or DECLINE; none when no refusal is given (the master's default). */
export function wireFilters(filters: FiltersArg | undefined): { filters?: { refuse_seconds: number } } {
  const refuseSeconds = typeof filters === 'number' ? filters : filters?.refuseSeconds;
  return refuseSeconds === undefined ? {} : { filters: { refuse_seconds: refuseSeconds } };
}
