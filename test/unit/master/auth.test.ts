import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { memoryLogger } from '../../../src/common/logging';
import { AuthError, Authenticator, Authorizer, hashToken, loadAclsFile, loadAuth, loadTokensFile, type AclRule } from '../../../src/common/auth';
import { configProblems } from '../../support/config-problems';

const MARATHON_TOKEN = 'marathon-token-0123456789';
const OPS_TOKEN = 'ops-token-abcdefghijklmnop';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-auth-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode });
  fs.chmodSync(p, mode);
  return p;
}

function bearer(token: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

const tokensYaml = `principals:
  - name: marathon
    tokenSha256: ${hashToken(MARATHON_TOKEN)}
  - name: ops
    token: ${OPS_TOKEN}
`;

describe('hashToken', () => {
  test('is the lowercase hex SHA-256', () => {
    expect(hashToken('test')).toBe('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
  });
});

describe('Authenticator', () => {
  const authn = () => loadTokensFile(file('tokens.yaml', tokensYaml));

  test('hashed and plain tokens both authenticate, from gRPC metadata or HTTP headers', () => {
    const a = authn();
    expect(a.authenticate(bearer(MARATHON_TOKEN))).toEqual({ name: 'marathon' });
    expect(a.authenticate(bearer(OPS_TOKEN))).toEqual({ name: 'ops' });
    expect(a.authenticate({ authorization: `Bearer ${OPS_TOKEN}` })).toEqual({ name: 'ops' });
    expect(a.authenticate({ Authorization: `bearer ${MARATHON_TOKEN}` })).toEqual({ name: 'marathon' });
    expect(a.principals).toEqual(['marathon', 'ops']);
  });

  test('a hash written in uppercase still matches', () => {
    const a = new Authenticator([{ name: 'x', tokenSha256: hashToken(OPS_TOKEN).toUpperCase() }]);
    expect(a.authenticate(bearer(OPS_TOKEN))).toEqual({ name: 'x' });
  });

  test.each([
    ['no header', new Metadata(), /authentication required/],
    ['a wrong token', bearer('not-the-token-at-all'), /invalid bearer token/],
    ['another scheme', { authorization: `Basic ${OPS_TOKEN}` }, /malformed authorization header/],
    ['an empty bearer', { authorization: 'Bearer ' }, /malformed/],
    ['two headers', { authorization: [`Bearer ${OPS_TOKEN}`, `Bearer ${OPS_TOKEN}`] }, /more than one/],
  ])('%s is refused, and the message never echoes a token', (_what, credentials, reason) => {
    const a = authn();
    expect(a.authenticate(credentials)).toBeUndefined();
    let error: unknown;
    try {
      a.require(credentials);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).code).toBe('UNAUTHENTICATED');
    expect((error as AuthError).message).toMatch(reason);
    expect((error as AuthError).message).not.toMatch(/token-/);
  });

  test('require returns the principal', () => {
    expect(authn().require(bearer(MARATHON_TOKEN))).toEqual({ name: 'marathon' });
  });
});

describe('tokens file validation', () => {
  test('every bad entry is named, and no token value appears in the messages', () => {
    const f = file('bad-tokens.yaml', `principals:
  - name: a
    token: short-secret
  - name: b
    tokenSha256: 1234
  - name: c
  - name: d
    token: ${OPS_TOKEN}
    tokenSha256: ${hashToken(OPS_TOKEN)}
  - name: e
    tokn: ${OPS_TOKEN}
`);
    const problems = configProblems(() => loadTokensFile(f));
    expect(problems).toEqual([
      `principals[0].token: must be at least 16 characters (better: use tokenSha256) (in file ${f}, named by auth.tokensFile)`,
      expect.stringMatching(/^principals\[1\]\.tokenSha256: /),
      expect.stringMatching(/^principals\[4\]: Unrecognized key: "tokn"/),
    ]);
    expect(problems.join('\n')).not.toContain('short-secret');
    expect(problems.join('\n')).not.toContain(OPS_TOKEN);
  });

  test('token or tokenSha256 (or certificate only), never both; no duplicate names or tokens', () => {
    const f = file('dup-tokens.yaml', `principals:
  - name: c
  - name: d
    token: ${OPS_TOKEN}
    tokenSha256: ${hashToken(OPS_TOKEN)}
  - name: d
    token: ${MARATHON_TOKEN}
  - name: e
    tokenSha256: ${hashToken(MARATHON_TOKEN)}
`);
    expect(configProblems(() => loadTokensFile(f)).map((p) => p.replace(/ \(in file .*\)$/, ''))).toEqual([
      'principals[0]: needs token, tokenSha256 or certificate: true',
      'principals[1]: give token or tokenSha256, not both',
      'principals[2].name: principal "d" is listed twice',
      'principals[3]: same token as principal "d"',
    ]);
  });

  test('an empty list, a missing file', () => {
    expect(configProblems(() => loadTokensFile(file('empty.yaml', 'principals: []\n')))[0]).toMatch(/^principals: must list at least one principal/);
    expect(configProblems(() => loadTokensFile(path.join(dir, 'absent.yaml')))[0]).toMatch(/absent\.yaml \(named by auth\.tokensFile\): not found/);
  });

  test('plain tokens in a file others can read draw a warning', () => {
    const logger = memoryLogger();
    loadTokensFile(file('open.yaml', tokensYaml, 0o644), logger);
    expect(logger.messages('warn')).toEqual([expect.stringMatching(/readable by group or others/)]);
    logger.clear();
    loadTokensFile(file('closed.yaml', tokensYaml, 0o600), logger);
    expect(logger.entries).toEqual([]);
  });
});

describe('Authorizer', () => {
  const marathon = { name: 'marathon' };
  const ops = { name: 'ops' };
  const rule = (r: Partial<AclRule> & Pick<AclRule, 'principals' | 'actions'>): AclRule => ({ objects: ['*'], effect: 'allow', ...r });

  test('default deny: with no rules only view is allowed, and only to an authenticated principal', () => {
    const z = new Authorizer([]);
    expect(z.allowed(marathon, 'register_framework', 'web')).toBe(false);
    expect(z.allowed(ops, 'set_quota', 'web')).toBe(false);
    expect(z.allowed(ops, 'view')).toBe(true);
    expect(z.allowed(undefined, 'view')).toBe(false);
  });

  test('exact, sub-role and wildcard objects', () => {
    const z = new Authorizer([
      rule({ principals: ['marathon'], actions: ['register_framework'], objects: ['web', 'eng/*'] }),
      rule({ principals: ['ops'], actions: ['set_quota', 'set_weights'] }),
    ]);
    expect(z.allowed(marathon, 'register_framework', 'web')).toBe(true);
    expect(z.allowed(marathon, 'register_framework', 'web/canary')).toBe(false); // exact means exact
    expect(z.allowed(marathon, 'register_framework', 'eng/backend')).toBe(true);
    expect(z.allowed(marathon, 'register_framework', 'eng/backend/db')).toBe(true);
    expect(z.allowed(marathon, 'register_framework', 'eng')).toBe(false); // eng/* is below eng, as Mesos
    expect(z.allowed(marathon, 'register_framework', 'engineering')).toBe(false);
    expect(z.allowed(marathon, 'register_framework')).toBe(false);
    expect(z.allowed(marathon, 'set_quota', 'web')).toBe(false);
    expect(z.allowed(ops, 'set_quota', 'anything')).toBe(true);
    expect(z.allowed(ops, 'set_weights')).toBe(true);
  });

  test('principal * matches any authenticated principal; first matching rule wins', () => {
    const z = new Authorizer([
      rule({ principals: ['*'], actions: ['reserve'], objects: ['prod'], effect: 'deny' }),
      rule({ principals: ['*'], actions: ['reserve'] }),
      rule({ principals: ['marathon'], actions: ['view'], objects: ['secret'], effect: 'deny' }),
    ]);
    expect(z.allowed(marathon, 'reserve', 'dev')).toBe(true);
    expect(z.allowed(ops, 'reserve', 'prod')).toBe(false);
    expect(z.allowed(undefined, 'reserve', 'dev')).toBe(false);
    expect(z.allowed(marathon, 'view', 'secret')).toBe(false);
    expect(z.allowed(marathon, 'view', 'public')).toBe(true);
  });

  test('check throws PERMISSION_DENIED naming principal, action and object', () => {
    const z = new Authorizer([]);
    expect(() => z.check(marathon, 'teardown', 'other-framework')).toThrow('principal "marathon" is not allowed to teardown on "other-framework"');
    try {
      z.check(marathon, 'set_weights');
    } catch (err) {
      expect(err).toMatchObject({ code: 'PERMISSION_DENIED', principal: 'marathon', action: 'set_weights', object: undefined });
      expect((err as Error).message).toBe('principal "marathon" is not allowed to set_weights');
    }
    expect(() => z.check(ops, 'view')).not.toThrow();
  });
});

describe('ACLs file and loadAuth', () => {
  const acls = `rules:
  - principal: marathon
    action: register_framework
    objects: [web, eng/*]
  - principal: [ops]
    action: [drain_agent, maintenance]
  - principal: '*'
    action: view
    effect: deny
    objects: [secret]
`;

  test('rules from a file: one or many principals and actions, objects defaulting to any', () => {
    const z = loadAclsFile(file('acls.yaml', acls));
    expect(z.allowed({ name: 'marathon' }, 'register_framework', 'eng/ml')).toBe(true);
    expect(z.allowed({ name: 'ops' }, 'drain_agent', 'agent-7')).toBe(true);
    expect(z.allowed({ name: 'ops' }, 'maintenance')).toBe(true);
    expect(z.allowed({ name: 'ops' }, 'view', 'secret')).toBe(false);
  });

  test('bad rules are named', () => {
    const f = file('bad-acls.yaml', `rules:
  - principal: marathon
    action: register_frameworks
  - principal: ops
    action: view
    objects: ['eng*']
  - principal: ops
    action: view
    effect: maybe
    object: [x]
`);
    const problems = configProblems(() => loadAclsFile(f));
    expect(problems).toEqual([
      expect.stringMatching(/^rules\[0\]\.action\[0\]: Invalid option: expected one of "register_framework"\|/),
      expect.stringMatching(/^rules\[1\]\.objects\[0\]: must be a name, "\*", or "prefix\/\*"/),
      expect.stringMatching(/^rules\[2\]\.effect: Invalid option: expected one of "allow"\|"deny"/),
      expect.stringMatching(/^rules\[2\]: Unrecognized key: "object"/),
    ]);
  });

  test('loadAuth: disabled loads nothing; enabled without ACLs denies all but view', () => {
    expect(loadAuth({ enabled: false, tokensFile: '/does/not/matter' })).toEqual({});
    const logger = memoryLogger();
    const { authenticator, authorizer } = loadAuth({ enabled: true, tokensFile: file('t1.yaml', tokensYaml) }, logger);
    const who = authenticator!.authenticate(bearer(OPS_TOKEN));
    expect(authorizer!.allowed(who, 'view')).toBe(true);
    expect(authorizer!.allowed(who, 'set_quota', 'web')).toBe(false);
    expect(logger.messages('warn')).toEqual(['no ACLs file: every action but view is denied']);
  });

  test('loadAuth: an ACL naming a principal the tokens file lacks is a typo, not a silent no-op', () => {
    const tokensFile = file('t2.yaml', tokensYaml);
    const aclsFile = file('typo-acls.yaml', 'rules:\n  - { principal: marathn, action: teardown }\n  - { principal: "*", action: view }\n');
    expect(configProblems(() => loadAuth({ enabled: true, tokensFile, aclsFile }))).toEqual([
      expect.stringMatching(/^rules: principal "marathn" is not in the tokens file/),
    ]);
    const ok = loadAuth({ enabled: true, tokensFile, aclsFile: file('ok-acls.yaml', acls) });
    expect(ok.authorizer!.allowed(ok.authenticator!.authenticate(bearer(MARATHON_TOKEN)), 'register_framework', 'web')).toBe(true);
  });
});
