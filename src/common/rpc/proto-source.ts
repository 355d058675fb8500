/**
 * Where each declaration of a .proto file is and the comment above it, for the SourceCodeInfo
 * that server reflection hands out (so `grpcurl describe` shows the contract's documentation).
 *
 * A small scanner, not a parser of the language: the structure (types, resolution) comes from
 * protobufjs; this only finds, by fully-qualified name, the span of every message, enum, service,
 * field, oneof, enum value and method, and the `//` comment block directly above it (no blank line
 * between), as protoc reports `leading_comments`. `/* … *\/` comments are skipped, not reported.
 */

/** A declaration's place: 0-based lines and columns, the end just past its `;` or `}`. */
export interface SourceSpan {
  readonly startLine: number;
  readonly startColumn: number;
  readonly endLine: number;
  readonly endColumn: number;
}

/** A declaration's span and leading comment (protoc's form: each line without `//`, joined with "\n", ending in "\n"). */
export interface DeclarationSource {
  readonly span: SourceSpan;
  readonly leadingComments?: string;
}

/**
 * Declarations by key: `pkg.Message`, `pkg.Message.Nested`, `pkg.Enum`, `pkg.Service` for the
 * blocks; `<block>#<name>` for a field, oneof, enum value or method inside one.
 */
export type SourceIndex = ReadonlyMap<string, DeclarationSource>;

interface Token {
  readonly text: string;
  readonly line: number;
  readonly column: number;
}

/** Scans `text` (one .proto file) into its {@link SourceIndex}; the `syntax` statement is key `syntax`. */
export function indexProtoSource(text: string): SourceIndex {
  const lines = text.split('\n');
  const tokens = tokenize(text);
  const index = new Map<string, DeclarationSource>();
  const record = (key: string, start: Token, end: Token) => {
    const comments = leadingComments(lines, start.line);
    index.set(key, { span: { startLine: start.line, startColumn: start.column, endLine: end.line, endColumn: end.column + end.text.length }, ...(comments === undefined ? {} : { leadingComments: comments }) });
  };
  let i = 0;
  let pkg = '';
  /** The index of the token that ends the statement starting at `from` (its `;`, or the `}` of its block). */
  const statementEnd = (from: number): number => {
    let depth = 0;
    for (let j = from; j < tokens.length; j++) {
      const t = tokens[j]!.text;
      if (t === '{') depth++;
      else if (t === '}') {
        depth--;
        if (depth === 0) return j;
      } else if (t === ';' && depth === 0) return j;
    }
    return tokens.length - 1;
  };
  /** Scans the body of a block whose `{` is at `open`, declarations named under `scope`; returns the index of its `}`. */
  const block = (open: number, scope: string, kind: 'message' | 'enum' | 'service' | 'oneof'): number => {
    let j = open + 1;
    while (j < tokens.length && tokens[j]!.text !== '}') {
      const t = tokens[j]!;
      if (t.text === ';') {
        j++;
        continue;
      }
      if ((t.text === 'message' || t.text === 'enum' || t.text === 'service') && kind === 'message') {
        j = namedBlock(j, scope);
        continue;
      }
      if (t.text === 'oneof' && kind === 'message') {
        const name = tokens[j + 1]!.text;
        const close = block(j + 2, scope, 'oneof');
        record(`${scope}#${name}`, t, tokens[close]!);
        j = close + 1;
        continue;
      }
      const end = statementEnd(j);
      if (t.text !== 'option' && t.text !== 'reserved' && t.text !== 'extensions') {
        const name = kind === 'service' ? tokens[j + 1]!.text : kind === 'enum' ? t.text : nameBeforeEquals(j, end);
        if (name !== undefined) record(`${scope}#${name}`, t, tokens[end]!);
      }
      j = end + 1;
    }
    return j;
  };
  /** `message|enum|service Name { … }` at `at`; returns the index after its `}`. */
  const namedBlock = (at: number, scope: string): number => {
    const kind = tokens[at]!.text as 'message' | 'enum' | 'service';
    const name = tokens[at + 1]!.text;
    const fq = `${scope}.${name}`;
    const close = block(at + 2, fq, kind);
    record(fq, tokens[at]!, tokens[close]!);
    return close + 1;
  };
  const nameBeforeEquals = (from: number, end: number): string | undefined => {
    for (let j = from + 1; j < end; j++) if (tokens[j]!.text === '=') return tokens[j - 1]!.text;
    return undefined;
  };
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t.text === 'message' || t.text === 'enum' || t.text === 'service') {
      i = namedBlock(i, pkg);
      continue;
    }
    const end = statementEnd(i);
    if (t.text === 'package') pkg = tokens.slice(i + 1, end).map((x) => x.text).join('');
    if (t.text === 'syntax') record('syntax', t, tokens[end]!);
    i = end + 1;
  }
  return index;
}

/** The `//` lines directly above `line` (no blank line between), in protoc's leading_comments form. */
function leadingComments(lines: readonly string[], line: number): string | undefined {
  const block: string[] = [];
  for (let l = line - 1; l >= 0; l--) {
    const m = /^\s*\/\/(.*)$/.exec(lines[l]!);
    if (m === null) break;
    block.unshift(m[1]!);
  }
  return block.length === 0 ? undefined : `${block.join('\n')}\n`;
}

/** Words, numbers, strings and punctuation with their positions; comments and whitespace dropped. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 0;
  let lineStart = 0;
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      lineStart = ++i;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      for (let j = i; j < stop; j++) if (text[j] === '\n') [line, lineStart] = [line + 1, j + 1];
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      tokens.push({ text: text.slice(i, j + 1), line, column: i - lineStart });
      i = j + 1;
    } else if (/[\w.]/.test(c)) {
      let j = i;
      while (j < text.length && /[\w.]/.test(text[j]!)) j++;
      tokens.push({ text: text.slice(i, j), line, column: i - lineStart });
      i = j;
    } else {
      tokens.push({ text: c, line, column: i - lineStart });
      i++;
    }
  }
  return tokens;
}
