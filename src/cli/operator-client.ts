/**
 * The CLI's connections to Berth's gRPC APIs — the master's Operator API and the frameworks' Services
 * and Jobs APIs: unary calls with a deadline and the bearer token, and gRPC errors turned into
 * messages that say what to do next (the CLI prints them and exits 1).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BerthError } from '../common/errors';
import { lacksService, notGrpc, portFor, whichDaemon } from './wrong-port';
import { UnaryCallError, UnaryClient } from '../common/rpc/client';
import type { OperatorClient } from '../generated/berth/v1/Operator';

/** Where a service is and how to authenticate; flags win over the environment. */
export interface ApiTarget {
  /** `host:port`. */
  readonly address: string;
  readonly token?: string;
  /** TLS: the CA that signs the server's certificate, and a client certificate for mutual TLS. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  /** Deadline of each call. @default 10_000 */
  readonly timeoutMs?: number;
}

/** The methods of the Operator service (unary). */
export type OperatorMethod = Exclude<keyof OperatorClient & `${Uppercase<string>}${string}`, 'Watch' | 'watch'>;

/**
 * The CLI's own settings file: `BERTH_CLI_CONFIG`, else `$XDG_CONFIG_HOME/berth/cli.yaml` (or
 * `~/.config/berth/cli.yaml`) when it exists — YAML or JSON with `master`, `frameworks`, `token` or
 * `tokenFile`. Flags win over the environment (`BERTH_MASTER`, `BERTH_FRAMEWORKS`, `BERTH_TOKEN`),
 * which wins over the file.
 */
export interface CliSettings {
  readonly master?: string;
  readonly frameworks?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly tlsCaFile?: string;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
}

const SETTINGS = ['master', 'frameworks', 'token', 'tokenFile', 'tlsCaFile', 'tlsCertFile', 'tlsKeyFile'];

export function cliSettings(env: NodeJS.ProcessEnv = process.env): CliSettings {
  const explicit = env['BERTH_CLI_CONFIG'];
  const file = explicit ?? path.join(env['XDG_CONFIG_HOME'] ?? path.join(os.homedir(), '.config'), 'berth', 'cli.yaml');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (explicit === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BerthError('INVALID_ARGUMENT', `cannot read the CLI settings ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let value: unknown;
  try {
    // YAML is loaded only for a settings file that is not JSON.
    value = /^\s*\{/.test(text) ? JSON.parse(text) : (require('yaml') as typeof import('yaml')).parse(text);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${file}: not YAML or JSON: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new BerthError('INVALID_ARGUMENT', `${file}: must be a map of ${SETTINGS.join(', ')}`);
  const settings: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!SETTINGS.includes(k)) throw new BerthError('INVALID_ARGUMENT', `${file}: unknown setting "${k}" (known: ${SETTINGS.join(', ')})`);
    if (typeof v !== 'string' || v === '') throw new BerthError('INVALID_ARGUMENT', `${file}: ${k} must be a non-empty string, got ${JSON.stringify(v)}`);
    settings[k] = v;
  }
  return settings;
}

function tokenOf(opts: { token?: string }, env: NodeJS.ProcessEnv, file: CliSettings): string | undefined {
  if (opts.token !== undefined) return opts.token;
  if (env['BERTH_TOKEN'] !== undefined && env['BERTH_TOKEN'] !== '') return env['BERTH_TOKEN'];
  if (file.token !== undefined || file.tokenFile === undefined) return file.token;
  return (require('../common/config') as typeof import('../common/config')).configToken({ tokenFile: file.tokenFile });
}

/** TLS files: `--tls-ca-file`, else BERTH_TLS_CA_FILE / _CERT_FILE / _KEY_FILE, else the settings file. */
function tlsOf(opts: { tlsCaFile?: string }, env: NodeJS.ProcessEnv, file: CliSettings): ApiTarget['tls'] {
  const pick = (flag: string | undefined, name: string, fromFile: string | undefined) => flag ?? (env[name] !== undefined && env[name] !== '' ? env[name] : fromFile);
  const caFile = pick(opts.tlsCaFile, 'BERTH_TLS_CA_FILE', file.tlsCaFile);
  const certFile = pick(undefined, 'BERTH_TLS_CERT_FILE', file.tlsCertFile);
  const keyFile = pick(undefined, 'BERTH_TLS_KEY_FILE', file.tlsKeyFile);
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return undefined;
  return { ...(caFile !== undefined ? { caFile } : {}), ...(certFile !== undefined ? { certFile } : {}), ...(keyFile !== undefined ? { keyFile } : {}) };
}

/** The master for commands that talk to it: `--master`, `BERTH_MASTER`, the settings file, 127.0.0.1:5050. */
export function operatorTarget(opts: { master?: string; token?: string; tlsCaFile?: string }, env: NodeJS.ProcessEnv = process.env): ApiTarget {
  const file = cliSettings(env);
  return target(opts.master ?? env['BERTH_MASTER'] ?? file.master ?? '127.0.0.1:5050', tokenOf(opts, env, file), tlsOf(opts, env, file));
}

/** The framework host for `berth app` / `berth job`: `--frameworks`, `BERTH_FRAMEWORKS`, the settings file, 127.0.0.1:5060. */
export function frameworksTarget(opts: { frameworks?: string; token?: string; tlsCaFile?: string }, env: NodeJS.ProcessEnv = process.env): ApiTarget {
  const file = cliSettings(env);
  return target(opts.frameworks ?? env['BERTH_FRAMEWORKS'] ?? file.frameworks ?? '127.0.0.1:5060', tokenOf(opts, env, file), tlsOf(opts, env, file));
}

function target(address: string, token: string | undefined, tls: ApiTarget['tls']): ApiTarget {
  return { address, ...(token !== undefined && token !== '' ? { token } : {}), ...(tls !== undefined ? { tls } : {}) };
}

/** A client of one `berth.v1` service, with the token and errors for people. */
export class ApiClient<M extends string = string> {
  private readonly client: UnaryClient;
  private readonly tlsConfigured: boolean;
  private readonly credentials: grpc.ChannelCredentials;

  /**
   * @param service the service's name in `berth.v1` (`Operator`, `Services`, `Jobs`)
   * @param what how the CLI calls the other end in errors ("a master", "the frameworks")
   * @param flag where to point it ("--master HOST:PORT or BERTH_MASTER")
   */
  constructor(
    private readonly service: string,
    private readonly target: ApiTarget,
    private readonly what: string,
    private readonly flag: string,
  ) {
    // Plaintext needs nothing more; TLS material is loaded (and checked) only when configured.
    let credentials = grpc.credentials.createInsecure();
    if (target.tls !== undefined) {
      const { ConfigError } = require('../common/config') as typeof import('../common/config');
      const { channelCredentials, loadTls } = require('../common/tls') as typeof import('../common/tls');
      try {
        credentials = channelCredentials(loadTls(target.tls, 'TLS settings', 'client'));
      } catch (err) {
        if (err instanceof ConfigError) throw new BerthError('INVALID_ARGUMENT', err.problems.map((p) => p.message).join('; '));
        throw err;
      }
    }
    this.tlsConfigured = target.tls !== undefined;
    this.credentials = credentials;
    this.client = new UnaryClient(service, { address: target.address, timeoutMs: target.timeoutMs ?? 10_000, credentials });
  }

  /**
   * Calls `method`.
   * @throws BerthError('UNREACHABLE' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | the gRPC code) with a
   *   message for people.
   */
  async call<Res>(method: M, request: object = {}): Promise<Res> {
    const md = new grpc.Metadata();
    if (this.target.token !== undefined) md.set('authorization', `Bearer ${this.target.token}`);
    try {
      return await this.client.call<Res>(method, request, md);
    } catch (err) {
      throw err instanceof UnaryCallError ? await this.explain(err) : err;
    }
  }

  close(): void {
    this.client.close();
  }

  private async explain(err: UnaryCallError): Promise<BerthError> {
    const where = this.target.address;
    const details = ((err.cause as grpc.ServiceError | undefined)?.details ?? err.message) || err.code;
    switch (err.status) {
      case grpc.status.UNAVAILABLE:
      case grpc.status.DEADLINE_EXCEEDED: {
        const tls = err.status === grpc.status.UNAVAILABLE ? await (require('../common/tls') as typeof import('../common/tls')).explainPlaintextFailure(where, this.tlsConfigured) : undefined;
        if (tls !== undefined) return new BerthError('UNREACHABLE', `cannot talk to ${this.what}: ${tls}`);
        if (notGrpc(details)) {
          return new BerthError('UNREACHABLE', `${where} does not speak gRPC: it looks like an HTTP port (a master's dashboard and /metrics port?). Point ${this.flag} at ${portFor(this.service)}`);
        }
        return new BerthError('UNREACHABLE', `cannot reach ${this.what} at ${where} (${details}); is it running? Point to it with ${this.flag}`);
      }
      case grpc.status.UNAUTHENTICATED:
        return new BerthError('UNAUTHENTICATED', `${this.what} at ${where} wants a token: pass --token or set BERTH_TOKEN (${details})`);
      case grpc.status.PERMISSION_DENIED:
        return new BerthError('PERMISSION_DENIED', `${this.what} at ${where} refused: ${details}`);
      case grpc.status.INVALID_ARGUMENT:
        return new BerthError('INVALID_ARGUMENT', details);
      case grpc.status.UNIMPLEMENTED: {
        if (!lacksService(details, this.service)) return new BerthError(err.code, details);
        const reached = await whichDaemon(where, this.credentials);
        return new BerthError('WRONG_SERVER', `${where} is ${reached ?? 'a gRPC server'} and does not serve berth.v1.${this.service}. Point ${this.flag} at ${portFor(this.service)}`);
      }
      default:
        return new BerthError(err.code, details);
    }
  }
}

/** The master's Operator API. */
export class Operator extends ApiClient<OperatorMethod> {
  constructor(target: ApiTarget) {
    super('Operator', target, 'a master', '--master HOST:PORT or BERTH_MASTER');
  }
}

/** A framework API of the framework host (`Services`, `Jobs`). */
export function frameworksClient(service: 'Services' | 'Jobs' | 'Batch', target: ApiTarget): ApiClient {
  return new ApiClient(service, target, 'the frameworks', '--frameworks HOST:PORT or BERTH_FRAMEWORKS (berth dev serves them on 127.0.0.1:5060)');
}
