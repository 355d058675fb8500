import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { httpReadinessProbe } from '../../../../src/frameworks/services/readiness';

describe('httpReadinessProbe (loopback only)', () => {
  let server: http.Server;
  let port: number;
  const sockets = new Set<import('node:net').Socket>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      if (req.url === '/stream') {
        // A 503 whose body never ends.
        res.writeHead(503, { 'content-type': 'text/plain' });
        const tick = setInterval(() => res.write('still not ready\n'), 5);
        res.on('close', () => clearInterval(tick));
        return;
      }
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

  /** Resolves once `cond` holds (polling), or fails after `ms`. */
  async function eventually(cond: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('closes the connection once the status is in, even when the body streams forever', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await httpReadinessProbe({ protocol: 'HTTP', host: '127.0.0.1', port, path: '/stream' }, 2000)).toEqual({ status: 503 });
    }
    // No socket left behind per probe: the server sees every connection closed.
    await eventually(() => sockets.size === 0, 2000, 'the probes\' connections to close');
  });

  it('gives up after timeoutMs in all, even when the server keeps sending a byte at a time', async () => {
    const open = new Set<net.Socket>();
    const trickle = net.createServer((s) => {
      open.add(s);
      s.on('error', () => undefined);
      s.write('HTTP/1.1 200 OK\r\nX-Trickle: ');
      const tick = setInterval(() => s.write('a'), 20); // far more often than the idle time the probe allows
      s.on('close', () => {
        clearInterval(tick);
        open.delete(s);
      });
    });
    await new Promise<void>((resolve) => trickle.listen(0, '127.0.0.1', resolve));
    try {
      const trickled = (trickle.address() as AddressInfo).port;
      const started = Date.now();
      expect(await httpReadinessProbe({ protocol: 'HTTP', host: '127.0.0.1', port: trickled, path: '/' }, 200)).toEqual({ error: 'no answer within 200 ms' });
      expect(Date.now() - started).toBeLessThan(2000);
      await eventually(() => open.size === 0, 2000, 'the trickling connection to close');
    } finally {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => trickle.close(() => resolve()));
    }
  });
});
