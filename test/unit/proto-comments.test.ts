/**
 * The wire contract documents itself: every service, rpc, message, enum, oneof, field and enum
 * value in proto/ carries a comment, either on the line(s) directly above it or at the end of its
 * own line. This test parses the .proto text (no protoc needed) and lists every offender, so the
 * rule stays true as the contract grows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Offender {
  file: string;
  line: number;
  kind: string;
  name: string;
}

const DECLARATION = /^(message|enum|service|oneof)\s+(\w+)\s*\{/;
const RPC = /^rpc\s+(\w+)\s*\(/;
const FIELD = /^(?:(?:optional|repeated)\s+)?(map\s*<[^>]*>|[A-Za-z_][\w.]*)\s+(\w+)\s*=\s*\d+\s*(?:\[[^\]]*\])?\s*;/;
const ENUM_VALUE = /^(\w+)\s*=\s*-?\d+\s*(?:\[[^\]]*\])?\s*;/;
const IGNORED = /^(syntax|package|import|option|reserved|extensions)\b/;

/** Lists undocumented declarations (and lines the parser does not understand) in .proto text. */
function findUndocumented(file: string, text: string): Offender[] {
  const offenders: Offender[] = [];
  const scope: string[] = [];
  let previousWasComment = false;
  let inBlockComment = false;

  text.split('\n').forEach((rawLine, index) => {
    const line = index + 1;
    let code = rawLine.trim();

    if (inBlockComment) {
      const end = code.indexOf('*/');
      previousWasComment = true;
      if (end < 0) return;
      inBlockComment = false;
      code = code.slice(end + 2).trim();
      if (code === '') return;
    }
    if (code.startsWith('/*')) {
      inBlockComment = !code.includes('*/');
      previousWasComment = true;
      return;
    }
    if (code === '') {
      previousWasComment = false;
      return;
    }
    if (code.startsWith('//')) {
      previousWasComment = true;
      return;
    }

    const commentAt = code.indexOf('//');
    const hasTrailingComment = commentAt >= 0 && code.slice(commentAt + 2).trim() !== '';
    if (commentAt >= 0) code = code.slice(0, commentAt).trim();
    const documented = previousWasComment || hasTrailingComment;
    previousWasComment = false;

    // Walk the line's tokens: a line may open and close a block (`message Empty {}`).
    while (code !== '') {
      if (code.startsWith('}')) {
        scope.pop();
        code = code.slice(1).trim();
        continue;
      }
      if (IGNORED.test(code)) break;
      const qualified = (name: string): string => [...scope, name].join('.');
      const declaration = DECLARATION.exec(code);
      if (declaration) {
        const [matched, kind, name] = declaration;
        if (!documented) offenders.push({ file, line, kind, name: qualified(name) });
        scope.push(name);
        code = code.slice(matched.length).trim();
        continue;
      }
      const rpc = RPC.exec(code);
      if (rpc) {
        if (!documented) offenders.push({ file, line, kind: 'rpc', name: qualified(rpc[1]) });
        break;
      }
      const field = FIELD.exec(code);
      if (field) {
        if (!documented) offenders.push({ file, line, kind: 'field', name: qualified(field[2]) });
        code = code.slice(field[0].length).trim();
        continue;
      }
      const value = ENUM_VALUE.exec(code);
      if (value) {
        if (!documented) offenders.push({ file, line, kind: 'enum value', name: qualified(value[1]) });
        code = code.slice(value[0].length).trim();
        continue;
      }
      // Anything else (a declaration split over lines, an unusual construct) would escape the
      // rule silently, so it is reported too.
      offenders.push({ file, line, kind: 'unparsed line', name: code });
      break;
    }
  });
  return offenders;
}

function protoFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return protoFiles(full);
    return entry.name.endsWith('.proto') ? [full] : [];
  });
}

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');

describe('proto comment rule', () => {
  it('finds the contract files', () => {
    const names = protoFiles(PROTO_ROOT).map((f) => path.relative(PROTO_ROOT, f)).sort();
    expect(names).toEqual(expect.arrayContaining([
      'berth/v1/agent.proto',
      'berth/v1/common.proto',
      'berth/v1/operator.proto',
      'berth/v1/resources.proto',
      'berth/v1/scheduler.proto',
    ]));
  });

  it('every message, field, enum, enum value, oneof, service and rpc has a comment', () => {
    const offenders = protoFiles(PROTO_ROOT).flatMap((file) =>
      findUndocumented(path.relative(PROTO_ROOT, file), fs.readFileSync(file, 'utf8')));
    // On failure, jest prints the list: file, line, kind and qualified name of each offender.
    expect(offenders).toEqual([]);
  });

  it('the checker itself catches what it should', () => {
    const text = [
      'syntax = "proto3";',
      '// Documented.',
      'message A {',
      '  // Documented field.',
      '  string ok = 1;',
      '  string missing = 2;',
      '  int32 trailing = 3; // Documented at the end of the line.',
      '',
      '  enum Kind {',
      '    KIND_UNSPECIFIED = 0;',
      '  }',
      '  oneof choice {',
      '    // Documented member.',
      '    string x = 4;',
      '  }',
      '  map<string, int32> counts = 5;',
      '}',
      '',
      'message Empty {}',
      '// Documented, but the blank line below separates it.',
      '',
      'service S {',
      '  rpc Call(A) returns (A);',
      '}',
      'message Broken { string name',
    ].join('\n');
    expect(findUndocumented('x.proto', text).map((o) => `${o.line} ${o.kind} ${o.name}`)).toEqual([
      '6 field A.missing',
      '9 enum A.Kind',
      '10 enum value A.Kind.KIND_UNSPECIFIED',
      '12 oneof A.choice',
      '16 field A.counts',
      '19 message Empty',
      '22 service S',
      '23 rpc S.Call',
      '25 message Broken',
      '25 unparsed line string name',
    ]);
  });
});
