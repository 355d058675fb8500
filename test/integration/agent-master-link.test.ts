/**
 * The agent's MasterLink against stand-in masters over real gRPC on loopback (FakeClock for its
 * timers): it follows a REDIRECT to the leader, re-dials when the master stops pinging, answers PING
 * with PONG, and backs off between failed dials.
 */
import type * as grpc from '@grpc/grpc-js';
import { FakeClock } from '../../src/common/clock';
import { agentLinkService } from '../../src/common/rpc/proto';
import { endStreamWithStatus, startGrpcServer, type GrpcServerHandle } from '../../src/common/rpc/server';
import { MasterLink } from '../../src/agent/master-link';
import type { AgentMessage__Output } from '../../src/generated/berth/v1/AgentMessage';
import type { MasterMessage } from '../../src/generated/berth/v1/MasterMessage';
import { waitFor } from '../support/master-harness';

type Stream = grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>;

/** A stand-in master: records what each connection sends; `onHello` decides the answer. */
class StandIn {
  readonly streams: Stream[] = [];
  readonly received: AgentMessage__Output[] = [];
  server: GrpcServerHandle | undefined;

  constructor(private readonly onHello: (stream: Stream) => void) {}

  async start(): Promise<string> {
    this.server = await startGrpcServer({
      services: [agentLinkService({
        Connect: (stream: Stream) => {
          this.streams.push(stream);
          stream.on('error', () => undefined);
          stream.on('data', (msg: AgentMessage__Output) => {
            this.received.push(msg);
            if (msg.type === 'REGISTER' || msg.type === 'REREGISTER') this.onHello(stream);
          });
        },
      } as never)],
    });
    return this.server.address;
  }

  hellos(): number {
    return this.received.filter((m) => m.type === 'REGISTER' || m.type === 'REREGISTER').length;
  }
}

function registered(heartbeatS: number): MasterMessage {
  return { type: 'REGISTERED', registered: { agent_id: { value: 'agent-1' }, heartbeat_interval_seconds: heartbeatS } };
}

describe('MasterLink', () => {
  const servers: StandIn[] = [];
  let link: MasterLink | undefined;
  let clock: FakeClock;
  const events: string[] = [];

  beforeEach(() => {
    clock = new FakeClock(1_000_000);
    events.length = 0;
  });

  afterEach(async () => {
    link?.stop();
    link = undefined;
    for (const s of servers.splice(0)) await s.server?.shutdown(0);
  });

  function startLink(master: string): MasterLink {
    link = new MasterLink({
      master,
      clock,
      hello: () => ({ type: 'REGISTER', register: { agent_info: { hostname: 'h' }, version: '0' } }),
      onRegistered: (id) => events.push(`registered ${id}`),
      onDisconnected: () => events.push('disconnected'),
      onMessage: (m) => events.push(`message ${m.type}`),
      onShutdown: (m) => events.push(`shutdown ${m}`),
      backoffMinMs: 100,
      backoffMaxMs: 1000,
    });
    link.start();
    return link;
  }

  it('follows a REDIRECT from a standby to the leader it names', async () => {
    const leader = new StandIn((s) => s.write(registered(0)));
    servers.push(leader);
    const leaderAddress = await leader.start();
    const [host, port] = leaderAddress.split(':');
    const standby = new StandIn((s) => {
      s.write({ type: 'REDIRECT', redirect: { leader: { address: { ip: host, port: Number(port) } } } });
      s.end();
    });
    servers.push(standby);
    const l = startLink(await standby.start());
    // The re-dial after a REDIRECT is due at once (a 0 ms timer of the fake clock).
    await waitFor(() => {
      clock.advance(0);
      return l.registered;
    }, 'registration at the leader');
    expect(l.address).toBe(leaderAddress);
    expect(standby.hellos()).toBe(1);
    expect(leader.hellos()).toBe(1);
    expect(events).toEqual(['registered agent-1']);
  });

  it('answers PING with PONG, and re-dials when the master stops pinging for 5 intervals', async () => {
    const master = new StandIn((s) => s.write(registered(1)));
    servers.push(master);
    const l = startLink(await master.start());
    await waitFor(() => l.registered, 'registration');

    master.streams[0]!.write({ type: 'PING' });
    await waitFor(() => master.received.some((m) => m.type === 'PONG'), 'a PONG');
    clock.advance(4_900); // the ping 0.1 s ago resets the watch: 5 s without one are needed
    expect(l.registered).toBe(true);
    expect(master.hellos()).toBe(1);

    clock.advance(200); // now 5 intervals without a PING: the link drops and dials again within 250 ms
    expect(events).toContain('disconnected');
    await waitFor(() => {
      clock.advance(50);
      return master.hellos() === 2;
    }, 'a second registration on a new stream');
    await waitFor(() => l.registered, 're-registration');
    expect(master.streams).toHaveLength(2);
  });

  it('after losing its master, dials every ~250 ms (not with a growing backoff), and dials again a master that names itself the leader while it takes over', async () => {
    let refusals = 0;
    let address = '';
    const master = new StandIn((st) => {
      if (master.hellos() === 1) return void st.write(registered(0));
      // Elected, still taking over: the refusal points at this very master.
      if (++refusals <= 3) return void endStreamWithStatus(st as never, 14, `this master was elected and is taking over leadership; retry shortly; the leader is m1 at ${address}`);
      st.write(registered(0));
    });
    servers.push(master);
    address = await master.start();
    // The other configured master is a standby pointing at it.
    const [host, port] = address.split(':');
    const other = new StandIn((st) => {
      st.write({ type: 'REDIRECT', redirect: { leader: { address: { ip: host, port: Number(port) } } } });
      st.end();
    });
    servers.push(other);
    const l = startLink(`${address},${await other.start()}`);
    await waitFor(() => l.registered, 'registration');
    master.streams[0]!.end(); // the stream breaks (a failover): the link tries the other master
    await waitFor(() => events.includes('disconnected'), 'the disconnection');
    const lostAt = clock.now();
    // Each re-dial is due within 250 ms of the fake clock: the standby, then the master it points to,
    // refused three times while it takes over (dialled again each time, never left), then accepted.
    await waitFor(() => {
      clock.advance(10);
      return l.registered;
    }, 're-registration at the master that took over');
    expect(clock.now() - lostAt).toBeLessThanOrEqual(4 * 250 + 10);
    expect(refusals).toBe(4);
    expect(l.address).toBe(address);
    expect(other.hellos()).toBe(1); // pointed there once, never sent back to it
  });

  it('backs off between dials to a master that is down, then registers when it is up', async () => {
    const master = new StandIn((s) => s.write(registered(0)));
    servers.push(master);
    const address = await master.start();
    await master.server!.shutdown(0); // down, port known
    const l = startLink(address);
    // Each failed dial schedules the next after 100, 200, 400 … ms (capped at 1 s) of the fake clock.
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 30));
      clock.advance(1000);
    }
    expect(l.registered).toBe(false);

    const again = new StandIn((s) => s.write(registered(0)));
    servers.push(again);
    // The same port again (free now that the first server is down).
    again.server = await startGrpcServer({
      port: Number(address.split(':')[1]),
      services: [agentLinkService({
        Connect: (stream: Stream) => {
          again.streams.push(stream);
          stream.on('error', () => undefined);
          stream.on('data', (msg: AgentMessage__Output) => {
            again.received.push(msg);
            if (msg.type === 'REGISTER') stream.write(registered(0));
          });
        },
      } as never)],
    });
    await waitFor(() => {
      clock.advance(1000);
      return l.registered;
    }, 'registration once the master is back');
    expect(again.hellos()).toBeGreaterThanOrEqual(1);
  });

  it('goes back to the configured masters when the leader it was pointed to dies (none is left stranded)', async () => {
    const leader = new StandIn((st) => st.write(registered(0)));
    servers.push(leader);
    const leaderAddress = await leader.start();
    const [host, port] = leaderAddress.split(':');
    let aLeads = false;
    const a = new StandIn((st) => {
      if (aLeads) {
        st.write(registered(0));
        return;
      }
      st.write({ type: 'REDIRECT', redirect: { leader: { address: { ip: host, port: Number(port) } } } });
      st.end();
    });
    servers.push(a);
    const l = startLink(await a.start());
    await waitFor(() => {
      clock.advance(0);
      return l.registered;
    }, 'registration at the leader');
    expect(l.address).toBe(leaderAddress);

    // The leader dies; A is elected.
    aLeads = true;
    await leader.server!.shutdown(0);
    await waitFor(() => {
      clock.advance(100);
      return l.registered && l.address !== leaderAddress;
    }, 're-registration at the configured master, now the leader');
    expect(a.hellos()).toBe(2);
  });
});

