import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { natsAuthOptions } from '../../../src/common/nats-auth';
import { configProblems } from '../../support/config-problems';

describe('natsAuthOptions', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-nats-auth-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it('reads a token, a password or a creds file, and TLS files', () => {
    expect(natsAuthOptions({ tokenFile: file('t', 's3cret-token\n') }, 'nats')).toEqual({ token: 's3cret-token' });
    expect(natsAuthOptions({ user: 'master', passwordFile: file('p', 'pw\n') }, 'nats')).toEqual({ user: 'master', pass: 'pw' });
    const creds = file('c.creds', '-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.x\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUAM\n------END USER NKEY SEED------\n');
    expect(typeof natsAuthOptions({ credsFile: creds }, 'nats').authenticator).toBe('function');
    const ca = file('ca.pem', 'x');
    expect(natsAuthOptions({ tls: { caFile: ca } }, 'nats')).toEqual({ tls: { caFile: ca } });
    expect(natsAuthOptions(undefined, 'nats')).toEqual({});
  });

  it('names the setting and the file, every problem at once', () => {
    const missing = path.join(dir, 'missing');
    expect(configProblems(() => natsAuthOptions({ user: 'a', tokenFile: missing, tls: { caFile: missing, certFile: missing } }, 'store.nats'))).toEqual([
      'store.nats: give one of token(File), user with password(File), or credsFile',
      'store.nats.password: store.nats.user needs password or passwordFile',
      `store.nats.tokenFile: cannot read file ${missing}: ENOENT`,
      `store.nats.tls.caFile: file ${missing} does not exist`,
      `store.nats.tls.certFile: file ${missing} does not exist`,
      'store.nats.tls: certFile and keyFile go together: set both or neither',
    ]);
  });
});
