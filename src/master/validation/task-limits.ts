/**
 * Size limits of a `TaskInfo`'s free-text fields, checked at ACCEPT (a task past one gets TASK_ERROR,
 * REASON_TASK_INVALID, naming the field, the limit, the size and the start of the value).
 *
 * Why limits at all: the master keeps each task's name, command, labels and environment in memory,
 * sends them to the agent, shows them in `GetTasks`, Watch and `/api/state`, and keeps them in the
 * completed-task history. Without limits a 1 MiB task name is accepted and costs a megabyte in each
 * of these places. The figures are far above any real use (a command line the kernel would run,
 * `execve`'s 128 KiB per string; names and paths as Linux and Docker allow) and are documented in
 * docs/master.md and on `TaskInfo` in common.proto. Lengths are in characters (UTF-16 code units).
 */
import { describeValue, type Problems } from './errors';

export const TASK_LIMITS = {
  /** `name` (as `task_id.value`). */
  name: 255,
  /** `command.value`, and each of `command.arguments`. */
  commandText: 64 * 1024,
  /** How many `command.arguments`. */
  arguments: 1024,
  /** `command.value` and all `command.arguments` together. */
  commandTotal: 256 * 1024,
  /** How many `command.environment.variables`. */
  environmentVariables: 1024,
  /** One variable's `name`. */
  environmentName: 1024,
  /** One variable's `value`. */
  environmentValue: 64 * 1024,
  /** Every variable's name and value together. */
  environmentTotal: 256 * 1024,
  /** `command.user`. */
  user: 255,
  /** How many `command.uris`. */
  uris: 64,
  /** One URI's `value`. */
  uri: 4096,
  /** One URI's `output_file`. */
  outputFile: 255,
  /** How many `labels.labels` (a task's, or a discovery port's). */
  labels: 256,
  /** One label's `value` (keys: 1024, checked by the label reader). */
  labelValue: 4096,
  /** A container volume's `container_path` or `host_path`, `health_check.http.path`. */
  path: 4096,
  /** How many `container.docker.parameters`; and each one's key or value. */
  dockerParameters: 64,
  dockerParameterText: 4096,
  /** `discovery.name` and each `discovery.ports[].name`. */
  discoveryName: 255,
} as const;

/**
 * Records a problem at `field` when `value` (if it is a string) is longer than `max`; returns its
 * length (0 for a non-string), so callers can add totals up.
 */
export function checkLength(problems: Problems, field: string, value: unknown, max: number): number {
  if (typeof value !== 'string') return 0;
  if (value.length > max) problems.add(field, `must be at most ${max} characters, got ${value.length}: ${describeValue(value)}`);
  return value.length;
}

/** Records a problem at `field` when the list has more than `max` entries. */
export function checkCount(problems: Problems, field: string, list: readonly unknown[] | null | undefined, max: number): void {
  const n = list?.length ?? 0;
  if (n > max) problems.add(field, `must have at most ${max} entries, got ${n}`);
}

/** Records a problem at `field` when `total` (characters of several fields together) is over `max`. */
export function checkTotal(problems: Problems, field: string, what: string, total: number, max: number): void {
  if (total > max) problems.add(field, `${what} must be at most ${max} characters together, got ${total}`);
}
