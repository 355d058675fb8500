import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLogger } from '../../../src/common/logging';
import { MAX_EVENT_STREAM_BUFFER, startHttpServer, type ApiHandler, type EventStream, type HttpServerHandle, type HttpServerOptions } from '../../../src/common/http-server';
import { MasterMetrics } from '../../../src/master/metrics';
import { get, SseClient } from '../../support/dashboard';

/** The HTTP server's generic parts for the dashboard: `/api/*` replies, event streams and fixed files. */
describe('HTTP server: /api/*, event streams, fixed files', () => {
  let server: HttpServerHandle;
  let dir: string;
  const clients: SseClient[] = [];

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-http-api-'));
    fs.writeFileSync(path.join(dir, 'lib.mjs'), 'export default 1;\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  async function start(api: ApiHandler, extra: Partial<HttpServerOptions> = {}): Promise<string> {
    server = await startHttpServer({ port: 0, metrics: new MasterMetrics({ processMetrics: false }), ready: () => ({ ready: true }), api, ...extra });
    return `http://${server.address}`;
  }
  async function open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = await SseClient.open(url, headers);
    clients.push(c);
    return c;
  }

  test('JSON and text replies; the path below /api and the query reach the handler; undefined is 404', async () => {
    const seen: string[] = [];
    const url = await start((req) => {
      seen.push(`${req.path}?${req.query.toString()}`);
      if (req.path === '/json') return { json: { bytes: Buffer.from('hi'), n: 1 } };
      if (req.path === '/text') return { status: 202, body: Buffer.from('raw\n'), headers: { 'X-Extra': 'yes' } };
      return undefined;
    });
    const json = await get(`${url}/api/json?a=1&b=two`);
    expect([json.status, json.headers['content-type'], JSON.parse(json.body)]).toEqual([200, 'application/json; charset=utf-8', { bytes: 'aGk=', n: 1 }]);
    const text = await get(`${url}/api/text`);
    expect([text.status, text.headers['content-type'], text.headers['x-extra'], text.body]).toEqual([202, 'text/plain; charset=utf-8', 'yes', 'raw\n']);
    const missing = await get(`${url}/api/missing%2Fpart`);
    expect([missing.status, JSON.parse(missing.body)]).toEqual([404, { error: 'no such API: /api/missing%2Fpart' }]);
    expect(seen).toEqual(['/json?a=1&b=two', '/text?', '/missing%2Fpart?']);
    expect((await get(`${url}/apix`)).status).toBe(404);
  });

  test('a throwing handler is a logged 500', async () => {
    const logger = memoryLogger();
    const url = await start(async () => {
      throw new Error('handler broke');
    }, { logger });
    expect((await get(`${url}/api/x`)).status).toBe(500);
    expect(logger.entries[0]).toMatchObject({ level: 'error', message: 'HTTP request failed', fields: { err: { message: 'handler broke' } } });
  });

  test('authorizeMetrics guards /api/* like /metrics', async () => {
    const url = await start(() => ({ json: {} }), { authorizeMetrics: (h) => h.authorization === 'Bearer ok' });
    const denied = await get(`${url}/api/x`);
    expect([denied.status, denied.headers['www-authenticate']]).toEqual([401, 'Bearer']);
    expect((await get(`${url}/api/x`, { authorization: 'Bearer ok' })).status).toBe(200);
  });

  test('an event stream: named events with ids and JSON data, Last-Event-ID, end()', async () => {
    let stream: EventStream | undefined;
    const url = await start(() => ({ events: (s) => (stream = s) }));
    const client = await open(`${url}/api/events`, { 'last-event-id': '7@epoch' });
    expect([client.status, client.headers['content-type'], client.headers['cache-control']]).toEqual([200, 'text/event-stream; charset=utf-8', 'no-store']);
    expect(stream!.lastEventId).toBe('7@epoch');
    stream!.send({ event: 'cluster\ninjected: x', id: '8@epoch', data: { text: 'two\nlines' } });
    stream!.send({ data: [1, 2] });
    expect(await client.events.next(() => true, 'the first event')).toEqual({ event: 'clusterinjected: x', id: '8@epoch', data: { text: 'two\nlines' } });
    expect(await client.events.next(() => true, 'the second event')).toEqual({ event: 'message', id: undefined, data: [1, 2] });
    const closed = new Promise<void>((resolve) => stream!.onClose(resolve));
    stream!.end();
    await closed;
    expect(stream!.closed).toBe(true);
    stream!.send({ data: 'after the end' }); // a no-op, not a throw
    await client.events.whenEnded('the stream');
  });

  test('an idle event stream gets keep-alive comments', async () => {
    const url = await start(() => ({ events: () => undefined }), { eventStreamKeepAliveMs: 20 });
    const raw = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${url}/api/events`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes(': keep-alive\n\n')) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on('error', reject);
    });
    expect(raw).toBe('retry: 2000\n\n: keep-alive\n\n');
  });

  test('the client going away closes the stream (onClose runs once)', async () => {
    let stream: EventStream | undefined;
    const url = await start(() => ({ events: (s) => (stream = s) }));
    const client = await open(`${url}/api/events`);
    let calls = 0;
    const closed = new Promise<void>((resolve) => stream!.onClose(() => (calls++, resolve())));
    client.close();
    await closed;
    expect(stream!.closed).toBe(true);
    stream!.onClose(() => calls++); // already closed: runs at once
    expect(calls).toBe(2);
  });

  test('fixed files are served at their paths with their content type; a missing one is 404', async () => {
    const url = await start(() => undefined, { files: { '/ui/vendor/lib.mjs': path.join(dir, 'lib.mjs'), '/ui/vendor/gone.mjs': path.join(dir, 'gone.mjs') } });
    const lib = await get(`${url}/ui/vendor/lib.mjs`);
    expect([lib.status, lib.headers['content-type'], lib.body]).toEqual([200, 'text/javascript; charset=utf-8', 'export default 1;\n']);
    expect((await get(`${url}/ui/vendor/gone.mjs`)).status).toBe(404);
  });

  test('a client that does not read its event stream is cut off instead of buffering without bound', async () => {
    let stream: EventStream | undefined;
    const url = await start(() => ({ events: (st) => (stream = st) }));
    const req = http.get(`${url}/api/events`, (res) => {
      res.pause(); // never reads
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    for (let i = 0; i < 100 && stream === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    const big = 'x'.repeat(512 * 1024);
    let ended = false;
    stream!.onClose(() => (ended = true));
    for (let i = 0; i < 200 && !ended; i++) {
      stream!.send({ event: 'big', data: big });
      await new Promise((r) => setImmediate(r));
    }
    expect(ended).toBe(true);
    expect(stream!.buffered).toBeLessThanOrEqual(MAX_EVENT_STREAM_BUFFER + 2 * big.length);
    req.destroy();
  });
});

