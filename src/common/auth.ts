/**
 * Authentication (who is calling) and authorization (may they do this), for frameworks, agents and
 * operators alike. Off only when the config says `auth.enabled: false` (see `config.ts`): Mesos's
 * off-by-default was its most exploited weakness.
 *
 * **Tokens file** (YAML or JSON). Callers send `authorization: Bearer <token>` (gRPC metadata or HTTP
 * header). Prefer `tokenSha256` — the file then holds no secret; `hashToken(token)` (later
 * `berth auth hash-token`) computes it. Plain `token`s must be at least 16 characters.
 *
 *     principals:
 *       - name: marathon
 *         tokenSha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *       - name: ops
 *         token: a-long-random-string-from-a-secret-store
 *       - name: agent
 *         certificate: true      # authenticates by a client certificate with CN=agent (mutual TLS)
 *
 * A client certificate that the TLS layer verified authenticates the principal its common name
 * names, if the tokens file lists it (with `certificate: true`, or with a token as well).
 *
 * **ACLs file.** Rules are evaluated in order and the first that matches decides (Mesos's local
 * authorizer); `effect` defaults to `allow`, `deny` carves out exceptions above broader rules.
 *
 *     rules:
 *       - { principal: marathon, action: register_framework, objects: [web, eng/*] }
 *       - { principal: ops, action: [drain_agent, maintenance, set_quota, set_weights] }   # objects: any
 *       - { principal: '*', action: view, effect: deny, objects: [secret] }
 *
 * - `principal`: a name or `*` (any authenticated principal); a list of them works too.
 * - `objects`: what the action is on — the role for register_framework, reserve, unreserve,
 *   create_volume, destroy_volume, set_quota, set_weights and run_task; the framework's principal for teardown; the agent id for
 *   register_agent (a new agent has none: only rules for any object match) and drain_agent; each
 *   machine's lowercase hostname for maintenance. Patterns: `web` (exactly), `eng/*` (every role below
 *   `eng`, not `eng` itself, as Mesos), `*` (anything, including no object). Omitted: `['*']`.
 * - `users` (run_task only): the Unix users tasks may run as — names or `*`. Omitted, or `*`: every
 *   user but `root`; running as root takes a rule that names `root` (a deny rule without `users`, or
 *   with `*`, covers root too). A task's user is CommandInfo.user, else FrameworkInfo.user, else `''`
 *   (the agent's default task user).
 * - No matching rule: **denied**, except `view`, which any authenticated principal may do unless a
 *   rule denies it — read access is what dashboards and CLIs need first, and every caller is already
 *   authenticated; writes stay default-deny.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Metadata } from '@grpc/grpc-js';
import { z } from 'zod';
import { ConfigError, readConfigDocument, type ConfigProblem } from './config';
import { BerthError } from './errors';
import { nullLogger, type Logger } from './logging';

/** The actions ACLs govern. */
export const AUTH_ACTIONS = [
  'register_framework', 'teardown', 'reserve', 'unreserve', 'set_quota', 'set_weights',
  'register_agent', 'run_task', 'view', 'drain_agent', 'maintenance', 'create_volume', 'destroy_volume',
  // What a principal reads of other principals' frameworks (src/master/visibility.ts): object = the
  // framework's principal; without a rule, only one's own.
  'view_frameworks', 'view_tasks', 'access_sandboxes',
  // The framework host's APIs (src/frameworks/sdk/access.ts): object = the app or job id.
  'view_app', 'manage_app', 'view_job', 'manage_job',
] as const;

/** Actions allowed when no rule matches: reading. Everything else is denied by default. */
const READ_ACTIONS: ReadonlySet<AuthAction> = new Set(['view', 'view_app', 'view_job']);
/** Actions allowed when no rule matches only on one's own work (the object names the principal). */
const OWN_ACTIONS: ReadonlySet<AuthAction> = new Set(['view_frameworks', 'view_tasks', 'access_sandboxes']);
export type AuthAction = (typeof AUTH_ACTIONS)[number];

/** An authenticated caller. */
export interface Principal {
  readonly name: string;
}

/** The lowercase hex SHA-256 of a token, the `tokenSha256` of the tokens file. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export type AuthErrorCode = 'UNAUTHENTICATED' | 'PERMISSION_DENIED';

/** A refused call; the gRPC adapter maps the code to the status of the same name. Never carries a token. */
export class AuthError extends BerthError {
  declare readonly code: AuthErrorCode;

  constructor(
    code: AuthErrorCode,
    message: string,
    /** The principal refused (PERMISSION_DENIED only). */
    readonly principal?: string,
    readonly action?: AuthAction,
    readonly object?: string,
  ) {
    super(code, message);
  }
}

/** Where a bearer token can come from: gRPC metadata or HTTP request headers. */
export type Credentials = Metadata | IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>;

interface TokenEntry {
  readonly name: string;
  /** Absent for a principal that authenticates by certificate only. */
  readonly hash: Buffer | undefined;
}

/**
 * The `authenticator` extension point: who a caller is. Called synchronously on every authenticated
 * gRPC call and HTTP request (master and framework host) before anything else: answer from memory,
 * never throw, never do I/O on that path. `certificatePrincipal` is the name a client certificate
 * verified by the TLS layer gives (mutual TLS), when there is one. Undefined: not authenticated (the
 * call is refused with UNAUTHENTICATED).
 */
export interface CallerAuthenticator {
  authenticate(credentials: Credentials, certificatePrincipal?: string): Principal | undefined;
}

/** The built-in authenticator (`bearer-file`): maps bearer tokens to principals. */
export class Authenticator implements CallerAuthenticator {
  private readonly entries: readonly TokenEntry[];

  /** @param principals names with tokens or their SHA-256 (hex); validated by {@link loadTokensFile}. */
  constructor(principals: readonly { name: string; token?: string; tokenSha256?: string }[]) {
    this.entries = principals.map((p) => {
      const hex = p.tokenSha256 ?? (p.token === undefined ? undefined : hashToken(p.token));
      return { name: p.name, hash: hex === undefined ? undefined : Buffer.from(hex, 'hex') };
    });
  }

  /** Names of the known principals. */
  get principals(): string[] {
    return this.entries.map((e) => e.name);
  }

  /**
   * The caller's principal, or undefined without exactly one valid `Bearer` token. A caller that
   * sends no token at all but presented a client certificate the TLS layer verified is the
   * principal that certificate names (`certificatePrincipal`, mutual TLS). Never throws.
   */
  authenticate(credentials: Credentials, certificatePrincipal?: string): Principal | undefined {
    if (certificatePrincipal !== undefined && authorizationValues(credentials).length === 0) {
      return this.entries.some((e) => e.name === certificatePrincipal) ? { name: certificatePrincipal } : undefined;
    }
    const r = this.identify(credentials);
    return 'principal' in r ? r.principal : undefined;
  }

  /** The caller's principal. @throws AuthError `UNAUTHENTICATED` saying what was wrong (never echoing the token). */
  require(credentials: Credentials): Principal {
    const r = this.identify(credentials);
    if ('principal' in r) return r.principal;
    throw new AuthError('UNAUTHENTICATED', r.reason);
  }

  private identify(credentials: Credentials): { principal: Principal } | { reason: string } {
    const values = authorizationValues(credentials);
    if (values.length === 0) return { reason: 'authentication required: send "authorization: Bearer <token>"' };
    if (values.length > 1) return { reason: 'more than one authorization header' };
    const m = /^Bearer +(\S+) *$/i.exec(values[0]!);
    if (m === null) return { reason: 'malformed authorization header: expected "Bearer <token>"' };
    const presented = createHash('sha256').update(m[1]!, 'utf8').digest();
    // Compare against every entry, without stopping at a match, so timing says nothing about which.
    let found: TokenEntry | undefined;
    for (const e of this.entries) if (e.hash !== undefined && timingSafeEqual(presented, e.hash) && found === undefined) found = e;
    return found === undefined ? { reason: 'invalid bearer token' } : { principal: { name: found.name } };
  }
}

function authorizationValues(credentials: Credentials): string[] {
  if (typeof (credentials as Metadata).get === 'function' && typeof (credentials as Metadata).getMap === 'function') {
    return (credentials as Metadata).get('authorization').map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
  }
  const out: string[] = [];
  for (const [key, value] of Object.entries(credentials as Record<string, unknown>)) {
    if (key.toLowerCase() !== 'authorization' || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push(String(v));
  }
  return out;
}

/** One ACL rule, as validated by {@link loadAclsFile}. */
export interface AclRule {
  readonly principals: readonly string[];
  readonly actions: readonly AuthAction[];
  /** Patterns: exact, `*`, or `prefix/*` (strictly below `prefix`). */
  readonly objects: readonly string[];
  readonly effect: 'allow' | 'deny';
  /** run_task only: Unix users (names or `*`); see the file comment. Absent: every user but root. */
  readonly users?: readonly string[];
}

/**
 * What decides whether a principal may do an action on an object: the contract of the `authorizer`
 * extension point (docs/modules.md). Called synchronously on the request path of every authorized
 * call (subscribe, launch, operator calls, reads): it must answer from memory, never block, and give
 * the same answer for the same question until its policy changes.
 */
export interface AccessPolicy {
  /** Whether `principal` may do `action` on `object` (for run_task: in role `object` as Unix user `user`). */
  allowed(principal: Principal | undefined, action: AuthAction, object?: string, user?: string): boolean;
}

/** The built-in authorizer: the ACLs file's rules; see the file comment for how they decide. */
export class Authorizer implements AccessPolicy {
  constructor(private readonly rules: readonly AclRule[]) {}

  /**
   * Whether `principal` may do `action` on `object` (for run_task: in role `object` as Unix user
   * `user`, '' meaning the agent's default). An undefined principal may do nothing.
   */
  allowed(principal: Principal | undefined, action: AuthAction, object?: string, user?: string): boolean {
    if (principal === undefined) return false;
    for (const rule of this.rules) {
      if (!rule.actions.includes(action)) continue;
      if (!rule.principals.some((p) => p === '*' || p === principal.name)) continue;
      if (!rule.objects.some((pattern) => objectMatches(pattern, object))) continue;
      if (action === 'run_task' && !userMatches(rule, user ?? '')) continue;
      return rule.effect === 'allow';
    }
    return READ_ACTIONS.has(action) || (OWN_ACTIONS.has(action) && object === principal.name);
  }

  /** Every principal name the rules mention (including `*`), once each. */
  principalsNamed(): string[] {
    return [...new Set(this.rules.flatMap((r) => r.principals))];
  }

  /** @throws AuthError `PERMISSION_DENIED` naming principal, action and object, unless {@link allowed}. */
  check(principal: Principal | undefined, action: AuthAction, object?: string): void {
    if (this.allowed(principal, action, object)) return;
    const who = principal === undefined ? 'an unauthenticated caller' : `principal "${principal.name}"`;
    const on = object === undefined ? '' : ` on "${object}"`;
    throw new AuthError('PERMISSION_DENIED', `${who} is not allowed to ${action}${on}`, principal?.name, action, object);
  }
}

/** Root is never matched by default or by `*` in an allow rule: it must be named. */
function userMatches(rule: AclRule, user: string): boolean {
  const deny = rule.effect === 'deny';
  if (rule.users === undefined) return deny || user !== 'root';
  if (user === 'root') return rule.users.includes('root') || (deny && rule.users.includes('*'));
  return rule.users.some((u) => u === '*' || u === user);
}

function objectMatches(pattern: string, object: string | undefined): boolean {
  if (pattern === '*') return true;
  if (object === undefined) return false;
  if (pattern.endsWith('/*')) return object.startsWith(pattern.slice(0, -1)); // `eng/*` → starts with `eng/`
  return object === pattern;
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

const MIN_TOKEN_LENGTH = 16;

const tokensSchema = z.strictObject({
  principals: z.array(z.strictObject({
    name: z.string().regex(/^\S+$/, 'must be a non-empty name without spaces'),
    token: z.string().min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters (better: use tokenSha256)`).optional(),
    tokenSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal characters, as hashToken() prints').optional(),
    certificate: z.boolean().optional(),
  })).min(1, 'must list at least one principal'),
});

// `principal: ops` and `principal: [ops, ci]` both work; errors then point into the list (`action[0]`).
const oneOrMany = <T extends z.ZodType>(t: T) => z.preprocess((v) => (Array.isArray(v) ? v : [v]), z.array(t).min(1));
const objectPattern = z.string().regex(/^(\*|[^*]+|[^*]+\/\*)$/, 'must be a name, "*", or "prefix/*"');
const aclsSchema = z.strictObject({
  rules: z.array(z.strictObject({
    principal: oneOrMany(z.string().min(1)),
    action: oneOrMany(z.enum(AUTH_ACTIONS)),
    objects: z.array(objectPattern).min(1).default(['*']),
    effect: z.enum(['allow', 'deny']).default('allow'),
    users: z.array(z.string().regex(/^(\*|[A-Za-z0-9_.][A-Za-z0-9_.-]*)$/, 'must be a Unix user name or "*"')).min(1).optional(),
  }).refine((r) => r.users === undefined || r.action.every((a) => a === 'run_task'), { path: ['users'], message: 'applies to the run_task action only' })).default([]),
});

function parseFile<S extends z.ZodType>(schema: S, file: string, namedBy: string): z.output<S> {
  const result = schema.safeParse(readConfigDocument(file, namedBy));
  if (result.success) return result.data;
  // zod's messages name keys and limits but never the input value, so no token leaks into a message.
  const problems: ConfigProblem[] = result.error.issues.map((issue) => {
    const at = issue.path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`)).join('') || '(file)';
    return { path: at, message: `${at}: ${issue.message} (in file ${file}, named by ${namedBy})` };
  });
  throw new ConfigError(problems);
}

/**
 * Reads and validates a tokens file.
 * @throws ConfigError naming each bad entry (never its token); duplicate names or tokens are errors.
 */
export function loadTokensFile(file: string, logger: Logger = nullLogger): Authenticator {
  const namedBy = 'auth.tokensFile';
  const { principals } = parseFile(tokensSchema, file, namedBy);
  const problems: ConfigProblem[] = [];
  const names = new Set<string>();
  const hashes = new Map<string, string>();
  principals.forEach((p, i) => {
    const at = `principals[${i}]`;
    const where = `(in file ${file}, named by ${namedBy})`;
    if (p.token !== undefined && p.tokenSha256 !== undefined) problems.push({ path: at, message: `${at}: give token or tokenSha256, not both ${where}` });
    else if (p.token === undefined && p.tokenSha256 === undefined && p.certificate !== true) problems.push({ path: at, message: `${at}: needs token, tokenSha256 or certificate: true ${where}` });
    if (names.has(p.name)) problems.push({ path: `${at}.name`, message: `${at}.name: principal "${p.name}" is listed twice ${where}` });
    names.add(p.name);
    const hash = p.tokenSha256?.toLowerCase() ?? (p.token === undefined ? undefined : hashToken(p.token));
    if (hash !== undefined && hashes.has(hash)) problems.push({ path: at, message: `${at}: same token as principal "${hashes.get(hash)}" ${where}` });
    if (hash !== undefined) hashes.set(hash, p.name);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  if (principals.some((p) => p.token !== undefined) && (fs.statSync(file).mode & 0o044) !== 0) {
    logger.warn('tokens file holds plain tokens and is readable by group or others; use tokenSha256 or chmod 600', { file });
  }
  return new Authenticator(principals);
}

/** Reads and validates an ACLs file. @throws ConfigError naming each bad rule. */
export function loadAclsFile(file: string): Authorizer {
  const { rules } = parseFile(aclsSchema, file, 'auth.aclsFile');
  return new Authorizer(rules.map((r) => ({ principals: r.principal, actions: r.action, objects: r.objects, effect: r.effect, ...(r.users !== undefined ? { users: r.users } : {}) })));
}

/** Authentication and authorization as configured; both undefined when `auth.enabled` is false. */
export interface AuthSetup {
  readonly authenticator?: CallerAuthenticator;
  readonly authorizer?: AccessPolicy;
}

/**
 * Loads the files named by the `auth` config. Without an ACLs file every action but `view` is
 * denied. An ACL rule naming a principal the tokens file does not know is an error: it is a typo.
 * `authenticator`: one an `authenticator` module made; then no tokens file is needed, and the ACLs'
 * principals are the module's business.
 * @throws ConfigError
 */
export function loadAuth(auth: { readonly enabled: boolean; readonly tokensFile?: string; readonly aclsFile?: string }, logger: Logger = nullLogger, authenticator?: CallerAuthenticator): AuthSetup {
  if (!auth.enabled) return {};
  if (authenticator !== undefined) return { authenticator, authorizer: auth.aclsFile === undefined ? new Authorizer([]) : loadAclsFile(auth.aclsFile) };
  if (auth.tokensFile === undefined) throw new ConfigError([{ path: 'auth.tokensFile', message: 'auth.tokensFile: is required while auth.enabled is true (or load an authenticator module)' }]);
  const tokens = loadTokensFile(auth.tokensFile, logger);
  if (auth.aclsFile === undefined) {
    logger.warn('no ACLs file: every action but view is denied', { tokensFile: auth.tokensFile });
    return { authenticator: tokens, authorizer: new Authorizer([]) };
  }
  const authorizer = loadAclsFile(auth.aclsFile);
  const known = new Set(tokens.principals);
  const unknown = authorizer.principalsNamed().filter((p) => p !== '*' && !known.has(p));
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((p) => ({ path: 'rules', message: `rules: principal "${p}" is not in the tokens file ${auth.tokensFile} (in file ${auth.aclsFile}, named by auth.aclsFile)` })));
  }
  return { authenticator: tokens, authorizer };
}

/**
 * The HTTP servers' guard of `/metrics` (and the master's `/api/*`) with authentication on (`authorizeMetrics`): a
 * valid bearer token whose principal may `view` the cluster.
 */
export function authorizeView(authenticator: CallerAuthenticator, authorizer: AccessPolicy | undefined): (headers: IncomingHttpHeaders) => boolean {
  return (headers) => {
    const principal = authenticator.authenticate(headers);
    return principal !== undefined && (authorizer?.allowed(principal, 'view') ?? true);
  };
}
