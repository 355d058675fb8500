import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpReadinessProbe } from '../../../../src/frameworks/services/readiness';

describe('httpReadinessProbe (loopback only)', () => {
  let server: http.Server;
  let port: number;
  const sockets = new Set<import('node:net').Socket>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      res.statusCode = req.url === '/ready' ? 200 : 503;
      res.end('body');
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('answers the status code of a GET', async () => {
    expect(await httpReadinessProbe({ protocol: 'HTTP', host: '127.0.0.1', port, path: '/ready' }, 2000)).toEqual({ status: 200 });
    expect(await httpReadinessProbe({ protocol: 'HTTP', host: '127.0.0.1', port, path: '/other' }, 2000)).toEqual({ status: 503 });
  });

  it('reports a timeout and a refused connection as errors, never rejecting', async () => {
    expect(await httpReadinessProbe({ protocol: 'HTTP', host: '127.0.0.1', port, path: '/slow' }, 100)).toEqual({ error: 'no answer within 100 ms' });
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await httpReadinessProbe({ protocol: 'HTTP', host: '127.0.0.1', port: closedPort, path: '/' }, 1000);
    expect(r).toEqual({ error: expect.stringMatching(/ECONNREFUSED/) });
  });
});
