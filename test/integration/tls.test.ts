import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../../src/agent/agent';
import { ProcessContainerizer } from '../../src/agent/containerizer/process-containerizer';
import { startFrameworks } from '../../src/cli/frameworks-command';
import { main } from '../../src/cli/main';
import { startMaster, type RunningMaster } from '../../src/cli/master-command';
import { SystemClock } from '../../src/common/clock';
import { memoryLogger, nullLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import { UnaryClient, UnaryCallError } from '../../src/common/rpc/client';
import { channelCredentials, loadTls } from '../../src/common/tls';
import { frameworksConfigSchema } from '../../src/frameworks/host/config';
import { SchedulerDriver } from '../../src/frameworks/sdk/driver';
import { masterConfigSchema } from '../../src/master/config';
import { makeCerts, type TestCerts } from '../support/certs';
import { freePort } from '../support/master-process';
import { waitFor } from '../support/master-harness';

jest.setTimeout(30_000);

const TOKEN = { ops: 'token-of-the-operators-0123', shop: 'token-of-the-shop-team-0123', frameworks: 'token-of-the-framework-host' } as const;

/**
 * A master and a framework host as their composition roots build them, with TLS, mutual TLS and
 * authentication on, over real sockets: who gets in, who is told why not, and which certificate
 * problems stop a daemon (exit 78, naming the file).
 */
describe('TLS everywhere', () => {
  let certs: TestCerts;
  let dir: string;
  let master: RunningMaster;
  /** A master that requires client certificates (mutual TLS). */
  let mtls: RunningMaster;
  const stops: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    certs = makeCerts(['master', 'agent', 'web', 'frameworks']);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tls-'));
    fs.writeFileSync(path.join(dir, 'tokens.yaml'), `principals:\n${Object.entries(TOKEN).map(([name, token]) => `  - { name: ${name}, token: ${token} }`).join('\n')}\n  - { name: agent, certificate: true }\n  - { name: web, certificate: true }\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'acls.yaml'), [
      'rules:',
      '  - { principal: agent, action: register_agent }',
      '  - { principal: [web, frameworks], action: [register_framework, run_task] }',
      "  - { principal: shop, action: manage_app, objects: ['/shop/*'] }",
      '  - { principal: ops, action: [view_frameworks, view_tasks] }',
      '',
    ].join('\n'));
    master = await startMaster(masterConfigSchema.parse({
      grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'master'),
      auth: { tokensFile: path.join(dir, 'tokens.yaml'), aclsFile: path.join(dir, 'acls.yaml') },
      tls: { ...certs.files('master'), caFile: certs.caFile },
      logLevel: 'error',
    }), nullLogger);
    stops.push(() => master.stop());
    mtls = await startMaster(masterConfigSchema.parse({
      grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'mtls-master'),
      auth: { tokensFile: path.join(dir, 'tokens.yaml'), aclsFile: path.join(dir, 'acls.yaml') },
      tls: { ...certs.files('master'), caFile: certs.caFile, clientCertificates: 'require' },
      logLevel: 'error',
    }), nullLogger);
    stops.push(() => mtls.stop());
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    certs.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function berth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main(['node', 'berth', ...args], { stdout: (x) => void (stdout += x), stderr: (x) => void (stderr += x) });
    return { code, stdout, stderr };
  }

  test('a plaintext client to a TLS master fails saying TLS is required; with the CA it gets in', async () => {
    const plain = await berth('agent', 'list', '--master', master.grpcAddress, '--token', TOKEN.ops);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain(`the server at ${master.grpcAddress} requires TLS: give the CA that signs its certificate (--tls-ca-file, BERTH_TLS_CA_FILE or tls.caFile)`);
    const secure = await berth('agent', 'list', '--master', master.grpcAddress, '--token', TOKEN.ops, '--tls-ca-file', certs.caFile, '--json');
    expect(secure).toMatchObject({ code: 0, stderr: '' });
    // Without a token, the TLS connection is not enough: the CLI has no client certificate.
    expect((await berth('agent', 'list', '--master', master.grpcAddress, '--tls-ca-file', certs.caFile)).stderr).toMatch(/wants a token/);
  });

  test('an agent and a framework authenticate with client certificates alone (mutual TLS)', async () => {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tls-agent-'));
    const clock = new SystemClock();
    const agent = new Agent({
      master: mtls.grpcAddress, hostname: 'tls-agent', resources: Resources.parse('cpus:1;mem:128;disk:10;ports:[31000-31001]'),
      workDir, clock, containerizer: new ProcessContainerizer({ runtimeDir: path.join(workDir, 'containers'), clock }),
      tls: loadTls({ caFile: certs.caFile, ...certs.files('agent') }, 'tls', 'client')!, logger: memoryLogger('warn'),
    });
    stops.push(async () => {
      await agent.stop({ killTasks: true });
      fs.rmSync(workDir, { recursive: true, force: true });
    });
    await agent.start();
    await agent.whenRegistered();

    let registered: string | undefined;
    const driver = new SchedulerDriver({
      masters: [mtls.grpcAddress], clock,
      tls: { caFile: certs.caFile, ...certs.files('web') },
      framework: { frameworkInfo: () => ({ name: 'tls-web', roles: ['*'] }), registered: (r) => void (registered = r.frameworkId), offers: () => undefined, statusUpdate: () => undefined },
    });
    stops.push(() => driver.stop());
    await driver.start();
    await waitFor(() => registered !== undefined, 'the framework to subscribe with its certificate');

    // The CLI presents a certificate of its own (here the framework host's), and a token on top.
    const env = { BERTH_TLS_CERT_FILE: certs.files('frameworks').certFile, BERTH_TLS_KEY_FILE: certs.files('frameworks').keyFile };
    Object.assign(process.env, env);
    try {
      const state = JSON.parse((await berth('framework', 'list', '--master', mtls.grpcAddress, '--token', TOKEN.ops, '--tls-ca-file', certs.caFile, '--json')).stdout) as { frameworks: { framework_info: { principal: string } }[] };
      expect(state.frameworks.map((f) => f.framework_info.principal)).toEqual(['web']);
      const agents = JSON.parse((await berth('agent', 'list', '--master', mtls.grpcAddress, '--token', TOKEN.ops, '--tls-ca-file', certs.caFile, '--json')).stdout) as { agents: { agent_info: { hostname: string } }[] };
      expect(agents.agents.map((a) => a.agent_info.hostname)).toEqual(['tls-agent']);
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
    // Without a client certificate the handshake itself fails.
    expect((await berth('agent', 'list', '--master', mtls.grpcAddress, '--token', TOKEN.ops, '--tls-ca-file', certs.caFile)).code).not.toBe(0);
  });

  test('the framework host\'s API: UNAUTHENTICATED without credentials, authorized by app id prefix', async () => {
    const port = await freePort();
    const host = await startFrameworks(frameworksConfigSchema.parse({
      masters: [master.grpcAddress], plugins: ['services'], grpc: { port }, http: { port: 0 }, workDir: path.join(dir, 'frameworks'), token: TOKEN.frameworks,
      auth: { tokensFile: path.join(dir, 'tokens.yaml'), aclsFile: path.join(dir, 'acls.yaml') },
      tls: { ...certs.files('frameworks'), caFile: certs.caFile },
      logLevel: 'error',
    }), nullLogger);
    stops.push(() => host.stop());
    const address = `127.0.0.1:${port}`;
    const client = new UnaryClient('Services', { address, credentials: channelCredentials(loadTls({ caFile: certs.caFile }, 'tls', 'client')) });
    stops.push(() => client.close());
    const as = (token?: string) => {
      const md = new grpc.Metadata();
      if (token !== undefined) md.set('authorization', `Bearer ${token}`);
      return md;
    };
    const put = (id: string, token?: string) => client.call('PutApp', { definition: JSON.stringify({ id, cmd: 'sleep 1000', instances: 0, cpus: 0.1, mem: 16 }) }, as(token)).then(() => 'OK', (e: UnaryCallError) => e.code);

    expect(await put('/shop/web')).toBe('UNAUTHENTICATED');
    expect(await put('/shop/web', TOKEN.shop)).toBe('OK');
    expect(await put('/other/web', TOKEN.shop)).toBe('PERMISSION_DENIED');
    expect(await put('/shop/web', TOKEN.ops)).toBe('PERMISSION_DENIED');
    const listed = await client.call<{ apps: { id: string }[] }>('ListApps', {}, as(TOKEN.ops));
    expect(listed.apps.map((a) => a.id)).toEqual(['/shop/web']);

    // The CLI sends its token and CA to the framework host too.
    const cli = await berth('app', 'list', '--frameworks', address, '--tls-ca-file', certs.caFile, '--token', TOKEN.shop, '--json');
    expect(cli).toMatchObject({ code: 0 });
    expect(await berth('app', 'list', '--frameworks', address, '--tls-ca-file', certs.caFile)).toMatchObject({ stderr: expect.stringMatching(/wants a token/) });

    // The host's /metrics: over HTTPS, only for a principal that may view.
    const metrics = (token?: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get(`https://${host.httpAddress}/metrics`, { ca: fs.readFileSync(certs.caFile), headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('GET /metrics timed out')));
    });
    expect((await metrics()).status).toBe(401);
    const scraped = await metrics(TOKEN.ops);
    expect(scraped.status).toBe(200);
    expect(scraped.body).toContain('berth_frameworks_plugin_up{plugin="services"} 1');
  });

  test('a missing, mismatched or expired certificate stops the daemon with exit 78 naming the file', async () => {
    certs.add(['expired'], -1);
    const missing = path.join(certs.dir, 'missing.pem');
    const base = ['master', '--grpc-port', '0', '--http-port', '0', '--auth-enabled', 'false', '--work-dir', path.join(dir, 'bad')];
    const cases: [string[], RegExp][] = [
      [['--tls-cert-file', missing, '--tls-key-file', certs.files('master').keyFile], new RegExp(`tls\\.certFile: file ${missing} does not exist`)],
      [['--tls-cert-file', certs.files('master').certFile, '--tls-key-file', certs.files('agent').keyFile], /tls\.keyFile: the key in .*agent\.key does not belong to the certificate in .*master\.pem/],
      [['--tls-cert-file', certs.files('expired').certFile, '--tls-key-file', certs.files('expired').keyFile], /tls\.certFile: the certificate in .*expired\.pem \(CN=expired\) expired on/],
    ];
    for (const [flags, message] of cases) {
      const r = await berth(...base, ...flags);
      expect([r.code, r.stderr]).toEqual([78, expect.stringMatching(message)]);
    }
    const agent = await berth('agent', '--master', master.grpcAddress, '--work-dir', path.join(dir, 'bad-agent'), '--http-port', '0', '--tls-ca-file', missing);
    expect([agent.code, agent.stderr]).toEqual([78, expect.stringMatching(/tls\.caFile: file .*missing\.pem does not exist/)]);
  });
});
