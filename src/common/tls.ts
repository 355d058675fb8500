/**
 * Transport security for every Berth connection: the settings each daemon and client takes (a
 * certificate, its key and the CA that signs its peers), checked when the process starts, and the
 * gRPC and HTTPS credentials built from them.
 *
 * - A **server** with `certFile`/`keyFile` speaks TLS only; a plaintext client is refused by the TLS
 *   handshake (and Berth's own clients say so: {@link explainPlaintextFailure}). With `caFile` and
 *   `clientCertificates: require` it also demands a client certificate signed by that CA (mutual
 *   TLS); the certificate's subject common name is then the caller's principal, an alternative to a
 *   bearer token. Only certificates the handshake verified are ever read.
 * - A **client** with `caFile` verifies the server against that CA (else the system's roots) and
 *   dials TLS; with `certFile`/`keyFile` it presents its own certificate.
 *
 * Every problem with the files — missing, unreadable, not PEM, a key that does not belong to its
 * certificate, a certificate that has expired or is not valid yet — is a {@link ConfigError} naming
 * the setting, the file and the problem, so daemons exit 78 instead of failing on the first handshake.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, type ConfigProblem } from './config';
import type { TlsSettings } from './tls-settings';

export { tlsSettingsSchema, type TlsSettings } from './tls-settings';

/** TLS material read and checked from {@link TlsSettings}. */
export interface TlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
  readonly clientCertificates: TlsSettings['clientCertificates'];
}

/**
 * Reads and checks the files of `settings` (`at` names the settings in messages, e.g. `tls`).
 * Returns undefined when no file is set (plaintext). `role: 'server'` needs a certificate and key.
 * @throws ConfigError listing every problem at once.
 */
export function loadTls(settings: Partial<TlsSettings> | undefined, at: string, role: 'server' | 'client', now = Date.now()): TlsMaterial | undefined {
  if (settings === undefined || (settings.certFile === undefined && settings.keyFile === undefined && settings.caFile === undefined)) return undefined;
  const problems: ConfigProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ path: `${at}.${field}`, message: `${at}.${field}: ${message}` });
  const read = (field: 'certFile' | 'keyFile' | 'caFile'): Buffer | undefined => {
    const file = settings[field];
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problem(field, code === 'ENOENT' ? `file ${file} does not exist` : code === 'EACCES' ? `file ${file} is not readable by this process` : `cannot read file ${file}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const cert = read('certFile');
  const key = read('keyFile');
  const ca = read('caFile');
  if ((settings.certFile === undefined) !== (settings.keyFile === undefined)) {
    problem(settings.certFile === undefined ? 'certFile' : 'keyFile', 'certFile and keyFile go together: set both or neither');
  }
  if (role === 'server' && settings.certFile === undefined && settings.keyFile === undefined) {
    problem('certFile', 'a server needs certFile and keyFile to speak TLS');
  }
  const clientCertificates = settings.clientCertificates ?? 'none';
  if (role === 'server' && clientCertificates !== 'none' && settings.caFile === undefined) {
    problem('caFile', `clientCertificates "${clientCertificates}" needs caFile, the CA that signs client certificates`);
  }
  let leaf: X509Certificate | undefined;
  if (cert !== undefined) leaf = checkCertificate(cert, settings.certFile!, 'certFile', now, problem);
  if (ca !== undefined) checkCertificate(ca, settings.caFile!, 'caFile', now, problem);
  let privateKey: KeyObject | undefined;
  if (key !== undefined) {
    try {
      privateKey = createPrivateKey(key);
    } catch {
      problem('keyFile', `file ${settings.keyFile} is not a PEM private key (or it is encrypted: Berth reads unencrypted keys)`);
    }
  }
  if (leaf !== undefined && privateKey !== undefined && !leaf.checkPrivateKey(privateKey)) {
    problem('keyFile', `the key in ${settings.keyFile} does not belong to the certificate in ${settings.certFile}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}), ...(ca !== undefined ? { ca } : {}), clientCertificates };
}

function checkCertificate(pem: Buffer, file: string, field: string, now: number, problem: (field: string, message: string) => void): X509Certificate | undefined {
  let x: X509Certificate;
  try {
    x = new X509Certificate(pem);
  } catch {
    problem(field, `file ${file} is not a PEM certificate`);
    return undefined;
  }
  if (Date.parse(x.validTo) < now) problem(field, `the certificate in ${file} (${x.subject.replace(/\n/g, ', ')}) expired on ${new Date(x.validTo).toISOString()}`);
  else if (Date.parse(x.validFrom) > now) problem(field, `the certificate in ${file} is not valid before ${new Date(x.validFrom).toISOString()}`);
  return x;
}

/** gRPC server credentials: TLS with `material`, plaintext without. */
export function serverCredentials(material: TlsMaterial | undefined): grpc.ServerCredentials {
  if (material === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(material.ca ?? null, [{ cert_chain: material.cert!, private_key: material.key! }], material.clientCertificates === 'require');
}

/** gRPC channel credentials: TLS with `material` (its CA, and its certificate for mutual TLS), plaintext without. */
export function channelCredentials(material: TlsMaterial | undefined): grpc.ChannelCredentials {
  if (material === undefined) return grpc.credentials.createInsecure();
  quietIpServerName();
  return grpc.credentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null);
}

let quieted = false;
/**
 * grpc-js passes the target's host as the TLS server name even when it is an IP address (as in
 * `127.0.0.1:5050`), for which Node prints deprecation DEP0123 on stderr — into every CLI command's
 * output. Node ignores such a name (the certificate is still checked against the IP), so that one
 * warning is dropped; every other warning is printed as before.
 */
function quietIpServerName(): void {
  if (quieted) return;
  quieted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** Options for `https.createServer` (with a client CA: client certificates requested, verified by it). */
export function httpsOptions(material: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert: boolean; rejectUnauthorized: boolean } {
  const require = material.clientCertificates === 'require';
  return { cert: material.cert!, key: material.key!, ...(material.ca !== undefined ? { ca: material.ca } : {}), requestCert: require, rejectUnauthorized: require };
}

/** The principal a verified client certificate names (its subject's common name), if any. */
export function certificatePrincipal(peer: PeerCertificate | undefined | null): string | undefined {
  const cn = peer?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** The principal of a gRPC server call's verified client certificate, if the connection has one. */
export function callCertificatePrincipal(call: { getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null }): string | undefined {
  const ctx = call.getAuthContext?.();
  return certificatePrincipal(ctx?.sslPeerCertificate);
}

/**
 * Whether the server at `address` (`host:port`) completes a TLS handshake, i.e. requires TLS (its
 * certificate is not checked: this only tells a plaintext client why it was refused). Resolves false
 * on a refused connection, a failed handshake, or after `timeoutMs`.
 */
export function speaksTls(address: string, timeoutMs = 1000): Promise<boolean> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], ...(net.isIP(host) === 0 ? { servername: host } : {}) });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/**
 * For a long-lived plaintext client (an agent's link, a driver): after a failed connection, says
 * why when the server requires TLS — probing each address at most once, so a fleet re-dialling a
 * master during a failover does not also open a TLS handshake per attempt.
 */
export class PlaintextHint {
  private readonly probed = new Set<string>();

  constructor(
    private readonly tlsConfigured: boolean,
    private readonly say: (address: string, why: string) => void,
  ) {}

  /** The connection to `address` failed as unavailable. */
  unavailable(address: string): void {
    if (this.tlsConfigured || this.probed.has(address)) return;
    this.probed.add(address);
    void explainPlaintextFailure(address, false).then((why) => {
      if (why !== undefined) this.say(address, why);
    });
  }
}

/**
 * For a plaintext client whose call to `address` failed as unavailable: a message saying TLS is
 * required when the server speaks TLS, else undefined.
 */
export async function explainPlaintextFailure(address: string, tlsConfigured: boolean): Promise<string | undefined> {
  if (tlsConfigured) return undefined;
  return (await speaksTls(address))
    ? `the server at ${address} requires TLS: give the CA that signs its certificate (--tls-ca-file, BERTH_TLS_CA_FILE or tls.caFile)`
    : undefined;
}
