/**
 * How a Berth process authenticates to NATS and protects the connection: one of a token,
 * a user and password, or a credentials file (JWT and nkey seed, as `nsc` writes it), and TLS
 * (`tls.caFile` to verify the servers, `tls.certFile`/`tls.keyFile` for a client certificate).
 * The same settings serve the master (`nats.*`) and the framework host (`store.nats.*`).
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './config';
import { configMeta } from './config-schema';
import { tlsSettingsSchema } from './tls-settings';

export const natsAuthFields = {
  /** Token the NATS servers expect (`authorization.token`). A secret: prefer `tokenFile`. @default unset */
  token: z.string().min(1).optional().describe('NATS token (secret; prefer tokenFile)').register(configMeta, { secret: true, defaultText: 'unset' }),
  /** File holding the NATS token. @default unset */
  tokenFile: z.string().min(1).optional().describe('file holding the NATS token'),
  /** NATS user name (with `password` or `passwordFile`). @default unset */
  user: z.string().min(1).optional().describe('NATS user'),
  /** NATS password. A secret: prefer `passwordFile`. @default unset */
  password: z.string().min(1).optional().describe('NATS password (secret; prefer passwordFile)').register(configMeta, { secret: true, defaultText: 'unset' }),
  /** File holding the NATS password. @default unset */
  passwordFile: z.string().min(1).optional().describe('file holding the NATS password'),
  /** NATS credentials file (a user JWT and its nkey seed). @default unset */
  credsFile: z.string().min(1).optional().describe('NATS credentials file (JWT + nkey seed)'),
  /** TLS to the NATS servers (use `tls://` URLs or let the server require it). */
  tls: tlsSettingsSchema.omit({ clientCertificates: true }).prefault({}),
};

export interface NatsAuthSettings {
  readonly token?: string;
  readonly tokenFile?: string;
  readonly user?: string;
  readonly password?: string;
  readonly passwordFile?: string;
  readonly credsFile?: string;
  readonly tls?: { readonly certFile?: string; readonly keyFile?: string; readonly caFile?: string };
}

/** Connection options of @nats-io/transport-node's `connect` from the settings found `at` (e.g. `nats`). */
export interface NatsAuthOptions {
  token?: string;
  user?: string;
  pass?: string;
  authenticator?: unknown;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * The `connect()` options for `settings`; files are read now.
 * @throws ConfigError naming the setting and the file when one cannot be read, or when more than one
 *   way of authenticating is given.
 */
export function natsAuthOptions(settings: NatsAuthSettings | undefined, at: string): NatsAuthOptions {
  if (settings === undefined) return {};
  const problems: { path: string; message: string }[] = [];
  const read = (field: string, file: string | undefined): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      problems.push({ path: `${at}.${field}`, message: `${at}.${field}: cannot read file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return undefined;
    }
  };
  const ways = [settings.token ?? settings.tokenFile, settings.user, settings.credsFile].filter((w) => w !== undefined).length;
  if (ways > 1) problems.push({ path: at, message: `${at}: give one of token(File), user with password(File), or credsFile` });
  if (settings.token !== undefined && settings.tokenFile !== undefined) problems.push({ path: `${at}.tokenFile`, message: `${at}.tokenFile: give token or tokenFile, not both` });
  if (settings.password !== undefined && settings.passwordFile !== undefined) problems.push({ path: `${at}.passwordFile`, message: `${at}.passwordFile: give password or passwordFile, not both` });
  if (settings.user !== undefined && settings.password === undefined && settings.passwordFile === undefined) problems.push({ path: `${at}.password`, message: `${at}.password: ${at}.user needs password or passwordFile` });
  const token = settings.token ?? read('tokenFile', settings.tokenFile);
  const pass = settings.password ?? read('passwordFile', settings.passwordFile);
  const creds = read('credsFile', settings.credsFile);
  for (const field of ['caFile', 'certFile', 'keyFile'] as const) {
    const file = settings.tls?.[field];
    if (file !== undefined && !fs.existsSync(file)) problems.push({ path: `${at}.tls.${field}`, message: `${at}.tls.${field}: file ${file} does not exist` });
  }
  if ((settings.tls?.certFile === undefined) !== (settings.tls?.keyFile === undefined)) problems.push({ path: `${at}.tls.keyFile`, message: `${at}.tls: certFile and keyFile go together: set both or neither` });
  if (problems.length > 0) throw new ConfigError(problems);
  const out: NatsAuthOptions = {};
  if (token !== undefined) out.token = token;
  if (settings.user !== undefined) Object.assign(out, { user: settings.user, pass });
  if (creds !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { credsAuthenticator } = require('@nats-io/transport-node') as { credsAuthenticator: (c: Uint8Array) => unknown };
    out.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  }
  const tls = settings.tls ?? {};
  if (tls.caFile !== undefined || tls.certFile !== undefined) out.tls = { ...(tls.caFile !== undefined ? { caFile: tls.caFile } : {}), ...(tls.certFile !== undefined ? { certFile: tls.certFile, keyFile: tls.keyFile } : {}) };
  return out;
}
