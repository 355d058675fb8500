/**
 * A Compose file's text → the parsed tree, and the line of any key path in it (for messages such as
 * `compose.yaml:12: services.web.volumes: …`). YAML as Compose reads it: merge keys (`<<: *base`)
 * resolved, duplicate keys an error.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { Path } from './notes';

export interface ComposeSource {
  readonly parsed: unknown;
  /** The 1-based line of the key (or list item) at `at`; of its nearest ancestor in the file when it came from a merge. */
  lineOf(at: Path): number | undefined;
}

/** The text's syntax error: its line and what is wrong. */
export class ComposeSyntaxError extends Error {
  constructor(readonly line: number | undefined, message: string) {
    super(message);
    this.name = 'ComposeSyntaxError';
  }
}

/** @throws ComposeSyntaxError for text that is not YAML (or is empty). */
export function parseComposeText(text: string): ComposeSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { merge: true, uniqueKeys: true, lineCounter: lines, prettyErrors: false });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0]?.line ?? lines.linePos(first.pos[0]).line;
    throw new ComposeSyntaxError(line, `is not valid YAML: ${first.message.split('\n')[0]}`);
  }
  if (doc.contents === null) throw new ComposeSyntaxError(undefined, 'is empty: a Compose file has services');
  const parsed = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  const lineOf = (at: Path): number | undefined => {
    let node: unknown = doc.contents;
    let offset = (doc.contents as Node | null)?.range?.[0];
    for (const seg of at) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
        if (pair === undefined) break;
        offset = (pair.key as Node | null)?.range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (item === undefined) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else break;
    }
    return offset === undefined ? undefined : lines.linePos(offset).line;
  };
  return { parsed, lineOf };
}
