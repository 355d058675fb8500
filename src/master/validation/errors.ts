/**
 * The master's validation errors: one {@link ValidationError} (code `INVALID_ARGUMENT`) carrying
 * every {@link Problem} found in an input, each naming the field and the value, so a client sees
 * all its mistakes at once.
 *
 * The class itself lives in `src/common/wire/problems.ts`, because the wire converters in `common`
 * throw it too and `common` may not import the master; this module is the master's import point
 * and adds the helpers its validators share.
 */
import { formatProblems, type Problem } from '../../common/wire/problems';

export {
  collectProblems,
  describeValue,
  formatProblems,
  isValidationError,
  mapField,
  Problems,
  ValidationError,
  type Problem,
} from '../../common/wire/problems';

/**
 * Re-roots problems found under `from` to `to` (e.g. a task checked alone as `task` reported as
 * `operations[0].launch.task_infos[2]`). Problems outside `from` are kept as they are.
 */
export function reroot(problems: readonly Problem[], from: string, to: string): Problem[] {
  return problems.map((p) =>
    p.field === from || p.field.startsWith(from + '.') || p.field.startsWith(from + '[')
      ? { field: to + p.field.slice(from.length), message: p.message }
      : p,
  );
}

/** The text of a problem list for a status message (`TASK_ERROR`), or `fallback` if empty. */
export function problemsMessage(problems: readonly Problem[], fallback = 'invalid'): string {
  return problems.length === 0 ? fallback : formatProblems(problems);
}
