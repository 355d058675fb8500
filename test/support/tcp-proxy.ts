/**
 * A loopback TCP proxy whose traffic can be held and released, so that a test can keep a
 * client's messages "in flight" while something else happens on the server and then let them
 * arrive in their original order — or, holding both directions, freeze a client as SIGSTOP
 * would. `cut()` drops every connection (a network cut); `partition()` drops them and refuses new
 * ones until `heal()` (a partition); `delay(ms)` slows every byte down; `retarget()` sends new
 * connections elsewhere (a virtual address that follows, say, the leading master).
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
  /** Destroys every connection and refuses new ones until {@link heal}. */
  partition(): void;
  /** Ends a partition. */
  heal(): void;
  /** Forwards every chunk (both ways) `ms` later, in order; 0 ends the delay. */
  delay(ms: number): void;
  /** New connections go to `target` (`scheme://127.0.0.1:PORT`); existing ones are cut. */
  retarget(target: string): void;
  /** Whether the proxy is partitioned now. */
  readonly partitioned: boolean;
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
  const { protocol } = new URL(target);
  let { hostname, port } = new URL(target);
  const links = new Set<Link>();
  let held: 'none' | 'to-server' | 'both' = 'none';
  let partitioned = false;
  let delayMs = 0;
  const forward = (socket: net.Socket, chunk: Buffer): void => {
    if (delayMs === 0) socket.write(chunk);
    else setTimeout(() => socket.destroyed || socket.write(chunk), delayMs);
  };

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
    if (partitioned) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: hostname, port: Number(port) });
    const link: Link = { client, upstream, toServer: [], toClient: [] };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (held !== 'none') link.toServer.push(chunk);
      else forward(upstream, chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (held === 'both') link.toClient.push(chunk);
      else forward(client, chunk);
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
    partition: () => {
      partitioned = true;
      for (const link of [...links]) destroy(link);
    },
    heal: () => {
      partitioned = false;
    },
    delay: (ms) => {
      delayMs = ms;
    },
    retarget: (next) => {
      ({ hostname, port } = new URL(next));
      for (const link of [...links]) destroy(link);
    },
    get partitioned() {
      return partitioned;
    },
    close: async () => {
      for (const link of [...links]) destroy(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
