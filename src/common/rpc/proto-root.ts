/**
 * The wire contract as protobufjs types, for clients that encode and decode a few messages and want
 * to start fast (the CLI). They come from the descriptor `npm run gen` writes
 * (src/generated/descriptor.ts) when it was made from the very proto files found at run time —
 * and then only the types one message needs are built — else from parsing those files. Servers keep
 * using proto.ts (proto-loader definitions, reflection); both read messages alike, with the options
 * of proto/loader-options.json.
 */
import * as path from 'node:path';
import type * as protobuf from 'protobufjs';
import { berthProtoFiles, contractHash, protoLoaderOptions, protoRoot } from './proto-files';

/** A definition in protobufjs JSON: a message (fields, nested), an enum (values) or a service (methods). */
interface JsonDef {
  fields?: Record<string, { type: string; keyType?: string }>;
  nested?: Record<string, JsonDef>;
  methods?: Record<string, JsonMethod>;
}
interface JsonMethod { requestType: string; responseType: string; requestStream?: boolean; responseStream?: boolean }

/** A method of a service, as clients need it. */
export interface ContractMethod {
  readonly name: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly streaming: boolean;
}

let cachedDefs: Record<string, JsonDef> | null | undefined;
let cachedFullRoot: protobuf.Root | undefined;
const cachedTypes = new Map<string, protobuf.Type>();

/** The definitions of `berth.v1` from the generated descriptor, or null when there is none for these proto files. */
function descriptorDefs(): Record<string, JsonDef> | null {
  if (cachedDefs !== undefined) return cachedDefs;
  let generated: { CONTRACT_HASH: string; CONTRACT_JSON: string } | undefined;
  try {
    generated = require('../../generated/descriptor') as { CONTRACT_HASH: string; CONTRACT_JSON: string };
  } catch {
    generated = undefined;
  }
  cachedDefs = generated !== undefined && generated.CONTRACT_HASH === contractHash()
    ? ((JSON.parse(generated.CONTRACT_JSON) as { nested: { berth: { nested: { v1: { nested: Record<string, JsonDef> } } } } }).nested.berth.nested.v1.nested)
    : null;
  return cachedDefs;
}

/** Every type and service of `berth.v1`, parsed from the proto files. */
function fullRoot(): protobuf.Root {
  if (cachedFullRoot !== undefined) return cachedFullRoot;
  const root = new (require('protobufjs') as typeof protobuf).Root();
  root.resolvePath = (_origin, target) => path.join(protoRoot(), target);
  root.loadSync(berthProtoFiles(), { keepCase: protoLoaderOptions().keepCase === true });
  root.resolveAll();
  cachedFullRoot = root;
  return root;
}

/** The unary and streaming methods of `berth.v1.<service>`, or undefined when there is no such service. */
export function contractMethods(service: string): ContractMethod[] | undefined {
  const defs = descriptorDefs();
  if (defs !== null) {
    const methods = defs[service]?.methods;
    if (methods === undefined) return undefined;
    return Object.entries(methods).map(([name, m]) => ({ name, requestType: m.requestType, responseType: m.responseType, streaming: m.requestStream === true || m.responseStream === true }));
  }
  const found = fullRoot().lookup(`berth.v1.${service}`);
  if (found === null || !('methodsArray' in found)) return undefined;
  return (found as protobuf.Service).methodsArray.map((m) => ({ name: m.name, requestType: m.resolvedRequestType!.name, responseType: m.resolvedResponseType!.name, streaming: m.requestStream === true || m.responseStream === true }));
}

/** The top-level `berth.v1` name a type reference starts with (`.berth.v1.Foo.Bar` → `Foo`). */
const topName = (ref: string): string => ref.replace(/^\.?berth\.v1\./, '').split('.')[0]!;

/** `name` and every top-level definition its fields reach, transitively. */
function closure(defs: Record<string, JsonDef>, name: string): Record<string, JsonDef> {
  const out: Record<string, JsonDef> = {};
  const visit = (n: string): void => {
    const def = defs[n];
    if (def === undefined || n in out) return;
    out[n] = def;
    const walk = (d: JsonDef): void => {
      for (const f of Object.values(d.fields ?? {})) {
        visit(topName(f.type));
        if (f.keyType !== undefined) visit(topName(f.keyType));
      }
      for (const inner of Object.values(d.nested ?? {})) walk(inner);
    };
    walk(def);
  };
  visit(name);
  return out;
}

/**
 * The message type `berth.v1.<name>`, built from just the definitions it needs (or taken from the
 * parsed proto files when there is no matching descriptor).
 */
export function contractType(name: string): protobuf.Type {
  const known = cachedTypes.get(name);
  if (known !== undefined) return known;
  const defs = descriptorDefs();
  let type: protobuf.Type;
  if (defs === null) {
    type = fullRoot().lookupType(`berth.v1.${name}`);
  } else {
    const light = require('protobufjs/light') as typeof protobuf;
    const root = light.Root.fromJSON({ nested: { berth: { nested: { v1: { nested: closure(defs, name) } } } } } as protobuf.INamespace);
    root.resolveAll();
    type = root.lookupType(`berth.v1.${name}`);
  }
  cachedTypes.set(name, type);
  return type;
}

/** How a decoded message becomes an object: exactly as proto-loader's deserializers do it. */
export function decodeOptions(): protobuf.IConversionOptions {
  return protoLoaderOptions() as protobuf.IConversionOptions;
}
