import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { channelCredentials, loadTls, serverCredentials, speaksTls } from '../../../src/common/tls';
import { makeCerts, type TestCerts } from '../../support/certs';
import { configProblems } from '../../support/config-problems';

describe('loadTls', () => {
  let certs: TestCerts;
  beforeAll(() => {
    certs = makeCerts(['master', 'agent']);
    certs.add(['expired'], -1);
  });
  afterAll(() => certs.remove());


  it('reads a server certificate, key and CA; plaintext without any file', () => {
    const m = loadTls({ ...certs.files('master'), caFile: certs.caFile, clientCertificates: 'require' }, 'tls', 'server')!;
    expect(m.cert!.toString()).toContain('BEGIN CERTIFICATE');
    expect(m.clientCertificates).toBe('require');
    expect(loadTls({}, 'tls', 'server')).toBeUndefined();
    expect(loadTls({ caFile: certs.caFile }, 'tls', 'client')).toMatchObject({ clientCertificates: 'none' });
  });

  it('names the setting, the file and the problem, all at once', () => {
    const missing = path.join(certs.dir, 'nope.pem');
    expect(configProblems(() => loadTls({ certFile: missing, keyFile: certs.files('master').keyFile, caFile: certs.files('master').keyFile }, 'tls', 'server'))).toEqual([
      `tls.certFile: file ${missing} does not exist`,
      `tls.caFile: file ${certs.files('master').keyFile} is not a PEM certificate`,
    ]);
    expect(configProblems(() => loadTls({ certFile: certs.files('master').certFile, keyFile: certs.files('agent').keyFile }, 'tls', 'server'))).toEqual([
      `tls.keyFile: the key in ${certs.files('agent').keyFile} does not belong to the certificate in ${certs.files('master').certFile}`,
    ]);
    expect(configProblems(() => loadTls({ ...certs.files('expired') }, 'tls', 'server'))).toEqual([
      expect.stringMatching(new RegExp(`^tls\\.certFile: the certificate in ${certs.files('expired').certFile} \\(CN=expired\\) expired on \\d{4}-`)),
    ]);
    expect(configProblems(() => loadTls({ certFile: certs.files('master').certFile }, 'nats.tls', 'client'))).toEqual(['nats.tls.keyFile: certFile and keyFile go together: set both or neither']);
    expect(configProblems(() => loadTls({ caFile: certs.caFile }, 'tls', 'server'))).toEqual(['tls.certFile: a server needs certFile and keyFile to speak TLS']);
    expect(configProblems(() => loadTls({ ...certs.files('master'), clientCertificates: 'require' }, 'tls', 'server'))).toEqual(['tls.caFile: clientCertificates "require" needs caFile, the CA that signs client certificates']);
  });

  it('says when a file cannot be read', () => {
    if (process.getuid?.() === 0) {
      // root reads every file: a directory stands in for an unreadable one.
      expect(configProblems(() => loadTls({ caFile: certs.dir }, 'tls', 'client'))).toEqual([expect.stringMatching(/^tls\.caFile: cannot read file .*EISDIR/)]);
    } else {
      const locked = path.join(certs.dir, 'locked.pem');
      fs.copyFileSync(certs.caFile, locked);
      fs.chmodSync(locked, 0);
      expect(configProblems(() => loadTls({ caFile: locked }, 'tls', 'client'))).toEqual([`tls.caFile: file ${locked} is not readable by this process`]);
    }
  });
});

describe('TLS over gRPC', () => {
  let certs: TestCerts;
  let server: grpc.Server;
  let address: string;
  beforeAll(async () => {
    certs = makeCerts(['master']);
    server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(loadTls(certs.files('master'), 'tls', 'server')), (err, p) => (err ? reject(err) : resolve(p))));
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => {
    server.forceShutdown();
    certs.remove();
  });

  it('tells a TLS server from a plaintext one', async () => {
    expect(await speaksTls(address)).toBe(true);
    const plain = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) => plain.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    try {
      expect(await speaksTls(`127.0.0.1:${port}`)).toBe(false);
    } finally {
      plain.forceShutdown();
    }
  });

  it('builds channel credentials that verify the server against the CA', () => {
    expect(channelCredentials(loadTls({ caFile: certs.caFile }, 'tls', 'client'))._isSecure()).toBe(true);
    expect(channelCredentials(undefined)._isSecure()).toBe(false);
  });
});
