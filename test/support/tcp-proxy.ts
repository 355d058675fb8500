/**
 * A loopback TCP proxy whose traffic can be held and released, so that a test can keep a
 * client's messages "in flight" while something else happens on the server and then let them
 * arrive in their original order — or, holding both directions, freeze a client as SIGSTOP
 * would. `cut()` drops every connection (a network cut).
 */
import * as net from 'node:net';

export interface TcpProxy {
  /** `nats://127.0.0.1:PORT` (the target's scheme) pointing at the proxy. */
  readonly url: string;
  /** Stops forwarding client→server bytes (and server→client ones with `both`); they queue, in order. */
  hold(direction?: 'to-server' | 'both'): void;
  /** Forwards everything held, in order, and resumes. */
  release(): void;
  /** Destroys every proxied connection (clients may reconnect through the proxy). */
  cut(): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
}

/** Starts a proxy on 127.0.0.1 in front of `target` (`scheme://127.0.0.1:PORT`). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { protocol, hostname, port } = new URL(target);
  const links = new Set<Link>();
  let held: 'none' | 'to-server' | 'both' = 'none';

  const flush = (link: Link): void => {
    for (const chunk of link.toServer.splice(0)) link.upstream.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
  };
  const destroy = (link: Link): void => {
    links.delete(link);
    link.client.destroy();
    link.upstream.destroy();
  };

  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port) });
    const link: Link = { client, upstream, toServer: [], toClient: [] };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (held !== 'none') link.toServer.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (held === 'both') link.toClient.push(chunk);
      else client.write(chunk);
    });
    for (const socket of [client, upstream]) socket.on('error', () => destroy(link)).on('close', () => destroy(link));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const local = (server.address() as net.AddressInfo).port;

  return {
    url: `${protocol}//127.0.0.1:${local}`,
    hold: (direction = 'to-server') => {
      held = direction;
    },
    release: () => {
      held = 'none';
      for (const link of links) flush(link);
    },
    cut: () => {
      for (const link of [...links]) destroy(link);
    },
    close: async () => {
      for (const link of [...links]) destroy(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
