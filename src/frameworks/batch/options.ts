/**
 * The batch plugin's options (`frameworks.batch.options`, or `--plugin-options '{"batch": {…}}'`),
 * with their defaults, validated in one place.
 */
import { z } from 'zod';
import { parsePluginOptions } from '../sdk/plugin-options';

/** Options of the batch framework. Every field is optional. */
export interface BatchOptions {
  /** Framework name shown by the master and the dashboard. @default 'batch' */
  readonly name: string;
  /** The role its gangs are declared in. @default '*' */
  readonly role: string;
  /** Seconds the master keeps its tasks while it is away. @default 604800 (a week) */
  readonly failoverTimeoutSeconds: number;
  /** Ended jobs kept (oldest deleted first). @default 500 */
  readonly historySize: number;
  /** Grace period of the kills it sends (reclaim, deadline, kill, failed attempts). @default 5000 */
  readonly killGracePeriodMs: number;
}

const schema = z.strictObject({
  name: z.string().min(1).default('batch'),
  role: z.string().min(1).default('*'),
  failoverTimeoutSeconds: z.number().finite().min(0).default(7 * 24 * 3600),
  historySize: z.number().int().min(1).max(100_000).default(500),
  killGracePeriodMs: z.number().int().min(0).max(600_000).default(5000),
});

/** @throws ValidationError naming each bad option (`options.historySize: …, got 0`). */
export function parseBatchOptions(raw: Readonly<Record<string, unknown>> | undefined): BatchOptions {
  return parsePluginOptions(schema, raw);
}
