/**
 * Typed errors shared by every Berth component.
 *
 * Errors that cross a boundary (gRPC handler, CLI, config loader) carry a stable string `code` so the
 * boundary can map them to a status without parsing messages; the message is for humans and names the
 * offending field or value. Expected outcomes (a task that does not fit, a declined offer) are data, not
 * errors.
 */

/** Options accepted by every {@link BerthError} constructor. */
export interface BerthErrorOptions {
  /** The lower-level error that caused this one, kept for logs. @default undefined */
  readonly cause?: unknown;
}

/**
 * Base class of all Berth errors. `code` is stable and machine-readable; `name` is the concrete class
 * name, so `err.name === 'ResourceError'` works across module copies where `instanceof` might not.
 */
export class BerthError extends Error {
  /** Stable, machine-readable error code (e.g. `INVALID_RESOURCES`). */
  readonly code: string;

  constructor(code: string, message: string, options?: BerthErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Codes of {@link ResourceError}. */
export type ResourceErrorCode =
  /** A resource text, JSON document or `Resource` object is malformed or violates a rule. */
  | 'INVALID_RESOURCES'
  /** A subtraction (or an operation built on one) asked for resources that are not there. */
  | 'RESOURCES_NOT_CONTAINED';

/**
 * Thrown by the resources library (`src/common/resources*.ts`, `quantities.ts`, `scalar.ts`): parse and
 * validation failures (`INVALID_RESOURCES`) and impossible subtractions (`RESOURCES_NOT_CONTAINED`).
 * The master maps `INVALID_RESOURCES` to `INVALID_ARGUMENT` and `RESOURCES_NOT_CONTAINED` to
 * `FAILED_PRECONDITION` (or a `TASK_ERROR` reason) at its gRPC boundary.
 */
export class ResourceError extends BerthError {
  declare readonly code: ResourceErrorCode;

  constructor(code: ResourceErrorCode, message: string, options?: BerthErrorOptions) {
    super(code, message, options);
  }
}
