/**
 * The master's validation errors: one {@link ValidationError} (code `INVALID_ARGUMENT`) carrying
 * every {@link Problem} found in an input, each naming the field and the value, so a client sees
 * all its mistakes at once.
 *
 * The class itself lives in `src/common/wire/problems.ts`, because the wire converters in `common`
 * throw it too and `common` may not import the master; this module is the master's import point.
 */
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
