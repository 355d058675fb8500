import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLogger } from '../../../src/common/logging';
import { startHttpServer, type HttpServerHandle, type HttpServerOptions, type Readiness } from '../../../src/common/http-server';
import { MasterMetrics } from '../../../src/master/metrics';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** One request over a fresh connection (agent: false), so no socket outlives the test. */
function request(port: number, pathname: string, init: { method?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw request line, for paths an HTTP client would normalise (`/ui/../x`). */
function rawRequest(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.on('data', (c) => (data += c.toString('utf8')));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

let dir: string;
let staticDir: string;
let readiness: Readiness;
let server: HttpServerHandle;
let metrics: MasterMetrics;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-http-'));
  staticDir = path.join(dir, 'ui');
  fs.mkdirSync(path.join(staticDir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>Berth</title>');
  fs.writeFileSync(path.join(staticDir, 'assets', 'app.js'), 'console.log("berth")');
  fs.writeFileSync(path.join(staticDir, 'assets', 'style.css'), 'body{}');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'do not serve');
  fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(staticDir, 'link.txt'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function start(extra: Partial<HttpServerOptions> = {}): Promise<void> {
  metrics = new MasterMetrics({ processMetrics: false });
  readiness = { ready: false, reason: 'not the leader' };
  server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, ready: () => readiness, staticDir, ...extra });
}

describe('master HTTP server', () => {
  beforeEach(() => start({ leader: () => ({ id: 'm1', address: '127.0.0.1:5050' }) }));
  afterEach(() => server.close());

  test('binds an ephemeral loopback port', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
  });

  test('GET /metrics is the Prometheus exposition', async () => {
    metrics.setAgentCounts({ registered: 2 });
    const r = await request(server.port, '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('berth_agents{state="registered"} 2');
    expect(r.body).toContain('# TYPE berth_outstanding_offers gauge');
  });

  test('/health/live is 200 while the process runs', async () => {
    const r = await request(server.port, '/health/live');
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { live: true }]);
  });

  test('/health/ready follows ready(): 503 with the reason, then 200', async () => {
    let r = await request(server.port, '/health/ready');
    expect(r.status).toBe(503);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toEqual({ ready: false, reason: 'not the leader' });
    readiness = { ready: true };
    r = await request(server.port, '/health/ready');
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { ready: true }]);
    readiness = { ready: false, reason: 'shutting down' };
    expect(JSON.parse((await request(server.port, '/health/ready')).body).reason).toBe('shutting down');
  });

  test('a throwing ready() reads as not ready', async () => {
    readiness = undefined as unknown as Readiness; // ready() returns undefined → property access throws
    const r = await request(server.port, '/health/ready');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).reason).toMatch(/^readiness check failed/);
  });

  test('/leader tells where the leader is', async () => {
    const r = await request(server.port, '/leader');
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { id: 'm1', address: '127.0.0.1:5050' }]);
  });

  test('static files for / and /ui/*, with content types', async () => {
    const index = await request(server.port, '/');
    expect([index.status, index.headers['content-type'], index.body]).toEqual([200, 'text/html; charset=utf-8', '<!doctype html><title>Berth</title>']);
    expect((await request(server.port, '/ui/')).body).toContain('<title>Berth</title>');
    expect((await request(server.port, '/ui')).status).toBe(200);
    const js = await request(server.port, '/ui/assets/app.js');
    expect([js.status, js.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect((await request(server.port, '/ui/assets/style.css?v=2')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await request(server.port, '/ui/assets/missing.js')).status).toBe(404);
  });

  test('path traversal is refused, encoded or not, and so are symlinks out of the directory', async () => {
    for (const target of ['/ui/../secret.txt', '/ui/..%2fsecret.txt', '/ui/%2e%2e/secret.txt', '/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/ui/assets/../../secret.txt']) {
      const reply = await rawRequest(server.port, target);
      expect(reply).toMatch(/^HTTP\/1\.1 404 /);
      expect(reply).not.toContain('do not serve');
    }
    expect((await request(server.port, '/ui/link.txt')).status).toBe(404);
    expect((await request(server.port, '/ui/a%00b')).status).toBe(404);
    expect((await request(server.port, '/ui/%E0%A4%A')).status).toBe(400);
  });

  test('unknown paths are 404; non-GET methods are 405 with Allow', async () => {
    expect((await request(server.port, '/nope')).status).toBe(404);
    expect((await request(server.port, '/uix')).status).toBe(404);
    const post = await request(server.port, '/metrics', { method: 'POST' });
    expect([post.status, post.headers['allow']]).toEqual([405, 'GET, HEAD']);
    expect((await request(server.port, '/health/live', { method: 'DELETE' })).status).toBe(405);
    const head = await request(server.port, '/health/live', { method: 'HEAD' });
    expect([head.status, head.body]).toEqual([200, '']);
  });

  test('close() ends idle keep-alive connections instead of waiting for them', async () => {
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/health/live', agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    });
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000); // keepAliveTimeout is 5 s: a leaked socket would hold close() that long
    agent.destroy();
    await expect(request(server.port, '/health/live')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('master HTTP server options', () => {
  afterEach(() => server.close());

  test('without staticDir and leader, / and /leader are 404', async () => {
    server = await startHttpServer({ port: 0, metrics: new MasterMetrics({ processMetrics: false }), ready: () => ({ ready: true }) });
    expect((await request(server.port, '/')).status).toBe(404);
    expect((await request(server.port, '/leader')).status).toBe(404);
  });

  test('authorizeMetrics guards /metrics, never the health endpoints', async () => {
    await start({ authorizeMetrics: (h) => h.authorization === 'Bearer ok-token' });
    const denied = await request(server.port, '/metrics');
    expect([denied.status, denied.headers['www-authenticate']]).toEqual([401, 'Bearer']);
    expect((await request(server.port, '/metrics', { headers: { authorization: 'Bearer ok-token' } })).status).toBe(200);
    expect((await request(server.port, '/health/live')).status).toBe(200);
  });

  test('a failing metrics source is a logged 500, not a crash', async () => {
    const logger = memoryLogger();
    server = await startHttpServer({
      port: 0, logger, ready: () => ({ ready: true }),
      metrics: { contentType: 'text/plain', exposition: () => Promise.reject(new Error('collector broke')) },
    });
    expect((await request(server.port, '/metrics')).status).toBe(500);
    expect(logger.entries[0]).toMatchObject({ level: 'error', message: 'HTTP request failed', fields: { err: { message: 'collector broke' } } });
  });

  test('a port in use is an error naming the address', async () => {
    await start();
    await expect(startHttpServer({ port: server.port, metrics, ready: () => ({ ready: true }) }))
      .rejects.toThrow(`cannot listen on 127.0.0.1:${server.port}: listen EADDRINUSE`);
  });
});
