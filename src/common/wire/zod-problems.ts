/**
 * zod issues as {@link Problem}s that name the field and the value, for the documents users write
 * (app and job definitions): zod's own wording (`Invalid input: expected object, received string`)
 * names neither, so it is replaced by what the field must be, and the value is appended.
 */
import type { z } from 'zod';
import { describeValue, type Problem } from './problems';

/**
 * A zod error map (`schema.safeParse(input, { error: zodMessage })`): what the field must be, for
 * the issues whose default text is zod's. The bad value is appended by {@link zodIssueProblems}.
 */
export function zodMessage(iss: { code?: string; input?: unknown; expected?: string; values?: readonly unknown[] }): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return iss.expected === 'array' ? 'must be a list' : iss.expected === 'object' || iss.expected === 'record' ? 'must be an object' : `must be a ${iss.expected}`;
    case 'invalid_value':
      return `must be one of ${(iss.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return undefined;
  }
}

/** The value at `path` inside `input`, or undefined. Never throws. */
export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg as string];
  }
  return v;
}

/** How {@link zodIssueProblems} spells things. */
export interface IssueSpelling {
  /** A zod path as the document's field path (`run.env.NAME`, `env["NAME"]`). */
  readonly formatPath: (path: readonly PropertyKey[]) => string;
  /** The field named for the document itself (path `[]`), e.g. `definition` or `text`. */
  readonly root: string;
  /** The message for a field the schema does not know. */
  readonly unknownField: string;
}

/**
 * The problems of one zod issue: unknown keys one by one; otherwise the field, the message and —
 * unless the value is absent or the issue says `params.bare` — `, got <value>`.
 */
export function zodIssueProblems(issue: z.core.$ZodIssue, input: unknown, spelling: IssueSpelling): Problem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ field: spelling.formatPath([...issue.path, k]), message: spelling.unknownField }));
  }
  const field = spelling.formatPath(issue.path);
  const value = valueAt(input, issue.path);
  const bare = value === undefined || (issue.code === 'custom' && (issue.params as { bare?: boolean } | undefined)?.bare === true);
  return [{ field: field === '' ? spelling.root : field, message: bare ? issue.message : `${issue.message}, got ${describeValue(value)}` }];
}
