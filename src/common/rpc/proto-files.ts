/**
 * Where the wire contract's files are (`proto/berth/v1/*.proto`, `proto/loader-options.json`) and the
 * loader options they are read with — without loading gRPC or proto-loader, so that a light client
 * (the CLI's, see proto-root.ts) can use them too.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as protoLoader from '@grpc/proto-loader';

/** The loader options as stored in `proto/loader-options.json` (generator flag spelling). */
interface LoaderOptionsFile {
  keepCase?: boolean;
  longs?: 'String' | 'Number';
  enums?: 'String';
  bytes?: 'String' | 'Array';
  defaults?: boolean;
  arrays?: boolean;
  objects?: boolean;
  oneofs?: boolean;
  json?: boolean;
}

type BooleanLoaderOption = 'keepCase' | 'defaults' | 'arrays' | 'objects' | 'oneofs' | 'json';

const LOADER_OPTIONS_FILE = 'loader-options.json';
const PACKAGE_SUBDIR = path.join('berth', 'v1');

let cachedProtoRoot: string | undefined;
let cachedOptions: protoLoader.Options | undefined;

/**
 * The directory that holds `berth/v1/*.proto` and `loader-options.json`.
 *
 * `BERTH_PROTO_DIR` overrides it; otherwise the first `proto/` found walking up from this module,
 * which works from `src/common/rpc` (jest, ts sources) and from `dist/src/common/rpc` (compiled),
 * since `dist/` holds no .proto files and the walk continues to the package root.
 */
export function protoRoot(): string {
  if (cachedProtoRoot !== undefined) return cachedProtoRoot;
  const override = process.env.BERTH_PROTO_DIR;
  if (override) {
    if (!isProtoRoot(override)) {
      throw new Error(`BERTH_PROTO_DIR=${override} does not contain ${PACKAGE_SUBDIR}/ and ${LOADER_OPTIONS_FILE}`);
    }
    cachedProtoRoot = path.resolve(override);
    return cachedProtoRoot;
  }
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'proto');
    if (isProtoRoot(candidate)) {
      cachedProtoRoot = candidate;
      return candidate;
    }
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`cannot find the proto/ directory (with ${PACKAGE_SUBDIR}/) above ${__dirname}; set BERTH_PROTO_DIR`);
}

function isProtoRoot(dir: string): boolean {
  return fs.existsSync(path.join(dir, LOADER_OPTIONS_FILE)) && fs.existsSync(path.join(dir, PACKAGE_SUBDIR));
}

/** Relative paths (from {@link protoRoot}) of every .proto file of the package, sorted. */
export function berthProtoFiles(): string[] {
  return fs
    .readdirSync(path.join(protoRoot(), PACKAGE_SUBDIR))
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => path.posix.join('berth', 'v1', f));
}

/**
 * The proto-loader options every Berth process must use to load the contract (without
 * `includeDirs`). They equal the generator flags by construction: both come from
 * `proto/loader-options.json`.
 */
export function protoLoaderOptions(): protoLoader.Options {
  if (cachedOptions !== undefined) return { ...cachedOptions };
  const file = path.join(protoRoot(), LOADER_OPTIONS_FILE);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  const options: protoLoader.Options = {};
  for (const [key, value] of Object.entries(raw)) {
    switch (key as keyof LoaderOptionsFile) {
      case 'keepCase':
      case 'defaults':
      case 'arrays':
      case 'objects':
      case 'oneofs':
      case 'json':
        if (typeof value !== 'boolean') throw new Error(`${file}: "${key}" must be a boolean`);
        options[key as BooleanLoaderOption] = value;
        break;
      case 'longs':
        options.longs = constructorFor(file, key, value, { String, Number });
        break;
      case 'enums':
        options.enums = constructorFor(file, key, value, { String });
        break;
      case 'bytes':
        options.bytes = constructorFor(file, key, value, { String, Array });
        break;
      default:
        throw new Error(`${file}: unknown loader option "${key}"`);
    }
  }
  cachedOptions = options;
  return { ...options };
}

function constructorFor<T extends Record<string, Function>>(file: string, key: string, value: unknown, allowed: T): T[keyof T] {
  if (typeof value !== 'string' || !Object.prototype.hasOwnProperty.call(allowed, value)) {
    throw new Error(`${file}: "${key}" must be one of ${Object.keys(allowed).join(', ')}`);
  }
  return allowed[value as keyof T];
}

/**
 * A digest of the contract: every .proto file of the package (name and text) and the loader options.
 * scripts/gen-proto.js computes the same digest over the same bytes for the descriptor it generates,
 * so a descriptor built from other proto files is never used.
 */
export function contractHash(): string {
  const hash = createHash('sha256');
  for (const file of berthProtoFiles()) hash.update(`${file}\0`).update(fs.readFileSync(path.join(protoRoot(), file))).update('\0');
  hash.update(fs.readFileSync(path.join(protoRoot(), LOADER_OPTIONS_FILE)));
  return hash.digest('hex');
}
