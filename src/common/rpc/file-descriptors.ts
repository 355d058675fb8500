/**
 * The contract as protoc would describe it, for server reflection: one FileDescriptorProto per
 * .proto file, under its own name (`berth/v1/scheduler.proto`), with its imports as dependencies,
 * fully-qualified type names, map entries named as protoc names them (`TaskCountsEntry`), proto3
 * `optional` fields with their synthetic oneofs last, and SourceCodeInfo holding every
 * declaration's span and leading comment — what `grpcurl describe` prints as documentation.
 *
 * proto-loader's own descriptors (what @grpc/reflection serves by default) merge every file of a
 * package into one unnamed file without comments, so a reflection client could neither ask for
 * `berth/v1/scheduler.proto` nor read a word of the contract's documentation.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';
import { indexProtoSource, type SourceIndex } from './proto-source';

/** A .proto file: the name it is imported by, and where it is on disk. */
export interface ProtoSource {
  /** e.g. `berth/v1/scheduler.proto` */
  readonly name: string;
  /** Absolute path. */
  readonly file: string;
}

// FieldDescriptorProto.Type and .Label, and the field numbers of descriptor.proto used in paths.
const TYPES: Record<string, number> = { double: 1, float: 2, int64: 3, uint64: 4, int32: 5, fixed64: 6, fixed32: 7, bool: 8, string: 9, bytes: 12, uint32: 13, sfixed32: 15, sfixed64: 16, sint32: 17, sint64: 18 };
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;
const LABEL_OPTIONAL = 1;
const LABEL_REPEATED = 3;
const PATH = { fileMessage: 4, fileEnum: 5, fileService: 6, syntax: 12, messageField: 2, messageNested: 3, messageEnum: 4, messageOneof: 8, enumValue: 2, serviceMethod: 2 } as const;

interface Location {
  path: number[];
  span: number[];
  leadingComments?: string;
}

/** Encoded FileDescriptorProtos of `sources` (all of whose imports must be among them), in order. */
export function encodedFileDescriptors(sources: readonly ProtoSource[]): Buffer[] {
  const byName = new Map(sources.map((s) => [s.name, s.file]));
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => byName.get(target) ?? path.resolve(path.dirname(origin), target);
  root.loadSync(sources.map((s) => s.file), { keepCase: true });
  root.resolveAll();
  return sources.map((source) => {
    const text = fs.readFileSync(source.file, 'utf8');
    const parsed = protobuf.parse(text, new protobuf.Root(), { keepCase: true });
    const file = new FileBuilder(source.file, parsed.package ?? '', indexProtoSource(text));
    const proto = file.build(root, source.name, parsed.imports ?? []);
    return Buffer.from(descriptor.FileDescriptorProto.encode(descriptor.FileDescriptorProto.fromObject(proto)).finish());
  });
}

/** Builds one file's descriptor (as a plain object for `FileDescriptorProto.fromObject`). */
class FileBuilder {
  private readonly locations: Location[] = [];

  constructor(
    private readonly file: string,
    private readonly pkg: string,
    private readonly source: SourceIndex,
  ) {}

  build(root: protobuf.Root, name: string, imports: readonly string[]): Record<string, unknown> {
    const ns = this.pkg === '' ? root : root.lookup(this.pkg);
    const own = (ns instanceof protobuf.Namespace ? ns.nestedArray : []).filter((o) => o.filename === this.file);
    this.locate([PATH.syntax], 'syntax');
    const messageType = own.filter((o): o is protobuf.Type => o instanceof protobuf.Type).map((t, i) => this.message(t, [PATH.fileMessage, i]));
    const enumType = own.filter((o): o is protobuf.Enum => o instanceof protobuf.Enum).map((e, i) => this.enumType(e, [PATH.fileEnum, i]));
    const service = own.filter((o): o is protobuf.Service => o instanceof protobuf.Service).map((s, i) => this.service(s, [PATH.fileService, i]));
    return {
      name,
      package: this.pkg,
      dependency: [...imports],
      messageType,
      enumType,
      service,
      syntax: 'proto3',
      sourceCodeInfo: { location: this.locations },
    };
  }

  private message(type: protobuf.Type, at: number[]): Record<string, unknown> {
    const fq = type.fullName.slice(1);
    this.locate(at, fq);
    // protoc's order: real oneofs as declared, then the synthetic ones of proto3 `optional` fields.
    const oneofs = [...type.oneofsArray.filter((o) => !isSynthetic(o)), ...type.oneofsArray.filter(isSynthetic)];
    const nested = type.nestedArray.filter((o): o is protobuf.Type => o instanceof protobuf.Type);
    const enums = type.nestedArray.filter((o): o is protobuf.Enum => o instanceof protobuf.Enum);
    const mapEntries: Record<string, unknown>[] = [];
    const field = type.fieldsArray.map((f, i) => {
      this.locate([...at, PATH.messageField, i], `${fq}#${f.name}`);
      const out: Record<string, unknown> = { name: f.name, number: f.id, jsonName: jsonName(f.name) };
      if (f instanceof protobuf.MapField) {
        const entry = `${mapEntryName(f.name)}`;
        mapEntries.push({
          name: entry,
          field: [
            { name: 'key', number: 1, jsonName: 'key', label: LABEL_OPTIONAL, type: TYPES[f.keyType] },
            { name: 'value', number: 2, jsonName: 'value', label: LABEL_OPTIONAL, ...this.typeOf(f) },
          ],
          options: { mapEntry: true },
        });
        return { ...out, label: LABEL_REPEATED, type: TYPE_MESSAGE, typeName: `.${fq}.${entry}` };
      }
      Object.assign(out, { label: f.repeated ? LABEL_REPEATED : LABEL_OPTIONAL, ...this.typeOf(f) });
      if (f.partOf !== null) out.oneofIndex = oneofs.indexOf(f.partOf);
      if (f.options?.proto3_optional === true) out.proto3Optional = true;
      return out;
    });
    return {
      name: type.name,
      field,
      nestedType: [...nested.map((t, i) => this.message(t, [...at, PATH.messageNested, i])), ...mapEntries],
      enumType: enums.map((e, i) => this.enumType(e, [...at, PATH.messageEnum, i])),
      oneofDecl: oneofs.map((o, i) => {
        if (!isSynthetic(o)) this.locate([...at, PATH.messageOneof, i], `${fq}#${o.name}`);
        return { name: o.name };
      }),
    };
  }

  private typeOf(f: protobuf.Field): Record<string, unknown> {
    const resolved = f.resolvedType;
    if (resolved instanceof protobuf.Type) return { type: TYPE_MESSAGE, typeName: resolved.fullName };
    if (resolved instanceof protobuf.Enum) return { type: TYPE_ENUM, typeName: resolved.fullName };
    const type = TYPES[f.type];
    if (type === undefined) throw new Error(`${this.file}: field ${f.fullName} has an unknown type "${f.type}"`);
    return { type };
  }

  private enumType(e: protobuf.Enum, at: number[]): Record<string, unknown> {
    const fq = e.fullName.slice(1);
    this.locate(at, fq);
    const value = Object.entries(e.values).map(([name, number], i) => {
      this.locate([...at, PATH.enumValue, i], `${fq}#${name}`);
      return { name, number };
    });
    return { name: e.name, value };
  }

  private service(s: protobuf.Service, at: number[]): Record<string, unknown> {
    const fq = s.fullName.slice(1);
    this.locate(at, fq);
    const method = s.methodsArray.map((m, i) => {
      this.locate([...at, PATH.serviceMethod, i], `${fq}#${m.name}`);
      m.resolve();
      return { name: m.name, inputType: m.resolvedRequestType!.fullName, outputType: m.resolvedResponseType!.fullName, ...(m.requestStream === true ? { clientStreaming: true } : {}), ...(m.responseStream === true ? { serverStreaming: true } : {}) };
    });
    return { name: s.name, method };
  }

  private locate(at: number[], key: string): void {
    const found = this.source.get(key);
    if (found === undefined) return;
    const { startLine, startColumn, endLine, endColumn } = found.span;
    const span = startLine === endLine ? [startLine, startColumn, endColumn] : [startLine, startColumn, endLine, endColumn];
    this.locations.push({ path: at, span, ...(found.leadingComments === undefined ? {} : { leadingComments: found.leadingComments }) });
  }
}

function isSynthetic(o: protobuf.OneOf): boolean {
  return o.fieldsArray.length === 1 && o.fieldsArray[0]!.options?.proto3_optional === true;
}

/** protoc's json_name: lowerCamelCase of the field name. */
function jsonName(name: string): string {
  return name.replace(/_+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** protoc's name of a map field's entry message: `task_counts` → `TaskCountsEntry`. */
function mapEntryName(field: string): string {
  return `${field.split('_').map((p) => (p === '' ? '' : p[0]!.toUpperCase() + p.slice(1))).join('')}Entry`;
}
