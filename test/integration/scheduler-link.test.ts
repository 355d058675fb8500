/**
 * The SDK's SchedulerLink (the driver's connection) against scripted Scheduler servers over real
 * gRPC, on a fake clock: the hello first, writes only once subscribed, following a leader's pointer
 * at once, not spinning between two masters that point at each other, what the owner's `refused`
 * decides, the heartbeat watchdog, and halt after the master has every call written.
 */
import type * as grpc from '@grpc/grpc-js';
import { FakeClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { schedulerService } from '../../src/common/rpc/proto';
import { startGrpcServer, type GrpcServerHandle } from '../../src/common/rpc/server';
import { MAX_IMMEDIATE_REDIALS, SchedulerLink, type SchedulerLinkOwner } from '../../src/frameworks/sdk/scheduler-link';
import type { Call__Output } from '../../src/generated/berth/v1/Call';
import type { Event, Event__Output } from '../../src/generated/berth/v1/Event';
import { waitFor } from '../support/master-harness';

type ServerStream = grpc.ServerDuplexStream<Call__Output, Event>;

/** A Scheduler server that records its streams and answers each new one with `script`. */
class ScriptedMaster {
  readonly streams: { calls: Call__Output[]; ended: boolean; stream: ServerStream }[] = [];
  script: (stream: ServerStream) => void = () => undefined;
  private constructor(readonly server: GrpcServerHandle) {}

  static async start(): Promise<ScriptedMaster> {
    let self: ScriptedMaster | undefined;
    const server = await startGrpcServer({
      services: [
        schedulerService({
          Connect: (stream: ServerStream) => {
            const record = { calls: [] as Call__Output[], ended: false, stream };
            self!.streams.push(record);
            stream.on('data', (c: Call__Output) => record.calls.push(c));
            stream.on('end', () => {
              record.ended = true;
              stream.end();
            });
            stream.on('error', () => undefined);
            self!.script(stream);
          },
        } as never),
      ],
    });
    self = new ScriptedMaster(server);
    return self;
  }

  get address(): string {
    return this.server.address;
  }
}

const subscribed = (heartbeatSeconds = 0): Event => ({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: 'fw-1' }, heartbeat_interval_seconds: heartbeatSeconds } });
const hostPort = (address: string) => ({ host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)) });
/** A standby's fatal refusal naming the leader at `address`. */
const pointTo = (address: string): Event => {
  const { host, port } = hostPort(address);
  return { type: 'ERROR', error: { fatal: true, code: 14, message: 'not the leader', leader: { id: 'leader', address: { ip: host, port }, hostname: host } } };
};

/** An owner that records what the link tells it; `refuse` answers `refused`. */
class Owner implements SchedulerLinkOwner {
  readonly events: Event__Output[] = [];
  readonly refusals: { code: number; message: string }[] = [];
  readonly ends: boolean[] = [];
  refuse = false;
  /** Dials: the link asks for the hello as it opens each stream. */
  hellos = 0;
  hello() {
    this.hellos++;
    return { type: 'SUBSCRIBE' as const, subscribe: { framework_info: { name: 'link-test', user: '' } } };
  }
  event(event: Event__Output): void {
    this.events.push(event);
  }
  refused(code: number, message: string): boolean {
    this.refusals.push({ code, message });
    return this.refuse;
  }
  ended(wasSubscribed: boolean): void {
    this.ends.push(wasSubscribed);
  }
}

describe('SchedulerLink', () => {
  const servers: ScriptedMaster[] = [];
  const links: SchedulerLink[] = [];
  let clock: FakeClock;

  beforeEach(() => {
    clock = new FakeClock(1_000_000);
  });

  afterEach(async () => {
    for (const l of links.splice(0)) await l.halt();
    for (const s of servers.splice(0)) await s.server.shutdown(0);
    expect(clock.pending).toBe(0);
  });

  async function master(script?: (stream: ServerStream) => void): Promise<ScriptedMaster> {
    const m = await ScriptedMaster.start();
    if (script !== undefined) m.script = script;
    servers.push(m);
    return m;
  }

  /** Runs the link's due timers (its immediate re-dials are 0 ms timers) until `cond`. */
  async function drive(cond: () => boolean, what: string): Promise<void> {
    await waitFor(() => {
      clock.advance(0);
      return cond();
    }, what);
  }

  function link(masters: string[], owner: Owner, options: { missedHeartbeats?: number } = {}): SchedulerLink {
    const l = new SchedulerLink({ masters, clock, backoffMinMs: 1_000, backoffMaxMs: 8_000, logger: memoryLogger('error'), ...options }, owner);
    links.push(l);
    l.start();
    return l;
  }

  it('sends the hello first, writes only once subscribed, and passes every event on', async () => {
    let serverSide: ServerStream | undefined;
    const m = await master((s) => (serverSide = s));
    const owner = new Owner();
    const l = link([m.address], owner);
    await waitFor(() => m.streams[0]?.calls.length === 1, 'the hello');
    expect(m.streams[0]!.calls[0]!.type).toBe('SUBSCRIBE');
    expect(l.write({ type: 'REVIVE', revive: {} })).toBe(false);
    expect(l.subscribed).toBe(false);

    serverSide!.write(subscribed());
    await waitFor(() => l.subscribed, 'SUBSCRIBED');
    expect(l.write({ type: 'REVIVE', revive: {} })).toBe(true);
    serverSide!.write({ type: 'ERROR', error: { fatal: false, code: 3, message: 'bad call' } });
    await waitFor(() => owner.events.length === 2 && m.streams[0]!.calls.length === 2, 'the refusal and the write');
    expect(owner.events.map((e) => e.type)).toEqual(['SUBSCRIBED', 'ERROR']);
    expect(m.streams[0]!.calls[1]!.type).toBe('REVIVE');
    expect(owner.refusals).toEqual([]); // a refused call is an event, not the end of the stream
    expect(l.master).toBe(m.address);
  });

  it('follows a pointer to the leader at once, without asking its owner', async () => {
    const leader = await master((s) => s.write(subscribed()));
    const standby = await master((s) => s.write(pointTo(leader.address)));
    const owner = new Owner();
    const l = link([standby.address], owner);
    await drive(() => l.subscribed, 'subscription at the leader'); // time does not move: no backoff
    expect(owner.hellos).toBe(2);
    expect(l.master).toBe(leader.address);
    expect(owner.refusals).toEqual([]);
    expect(owner.ends).toEqual([false]);
    expect(leader.streams[0]!.calls[0]!.type).toBe('SUBSCRIBE');
  });

  it(`follows two masters pointing at each other ${MAX_IMMEDIATE_REDIALS} times in a row, then backs off`, async () => {
    const a = await master();
    const b = await master();
    a.script = (s) => s.write(pointTo(b.address));
    b.script = (s) => s.write(pointTo(a.address));
    const owner = new Owner();
    link([a.address], owner);
    await drive(() => owner.ends.length === MAX_IMMEDIATE_REDIALS + 1, 'the immediate re-dials to end');
    expect(owner.hellos).toBe(MAX_IMMEDIATE_REDIALS + 1);
    clock.advance(999); // the next dial waits for the backoff
    expect(owner.hellos).toBe(MAX_IMMEDIATE_REDIALS + 1);
    clock.advance(1);
    expect(owner.hellos).toBe(MAX_IMMEDIATE_REDIALS + 2);
    await waitFor(() => a.streams.length + b.streams.length === MAX_IMMEDIATE_REDIALS + 2, 'the dial after the backoff at a master');
  });

  it('a fatal refusal goes to the owner: true dials again at once, false after the backoff', async () => {
    const m = await master((s) => s.write({ type: 'ERROR', error: { fatal: true, code: 5, message: 'framework removed' } }));
    const owner = new Owner();
    owner.refuse = true;
    link([m.address], owner);
    await waitFor(() => owner.refusals.length === 1, 'the first refusal');
    owner.refuse = false;
    clock.advance(0);
    expect(owner.hellos).toBe(2); // at once
    await waitFor(() => owner.refusals.length === 2, 'the second refusal');
    expect(owner.refusals[0]).toEqual({ code: 5, message: 'framework removed' });
    clock.advance(999);
    expect(owner.hellos).toBe(2);
    clock.advance(1);
    expect(owner.hellos).toBe(3);
    await waitFor(() => m.streams.length === 3, 'the third stream at the master');
  });

  it('drops a subscribed stream silent for missedHeartbeats intervals and dials again quickly', async () => {
    const m = await master((s) => s.write(subscribed(1)));
    const owner = new Owner();
    const l = link([m.address], owner, { missedHeartbeats: 2 });
    await waitFor(() => l.subscribed, 'SUBSCRIBED');
    clock.advance(1_999);
    expect(l.subscribed).toBe(true);
    clock.advance(1);
    expect(l.subscribed).toBe(false);
    expect(owner.ends).toEqual([true]);
    clock.advance(250); // a lost subscription is re-dialled within the failover delay, not the backoff
    expect(owner.hellos).toBe(2);
    await waitFor(() => l.subscribed && m.streams.length === 2, 'the second subscription');
  });

  it('halt ends the stream after the master has every call written, and dials no more', async () => {
    const m = await master((s) => s.write(subscribed()));
    const owner = new Owner();
    const l = link([m.address], owner);
    await waitFor(() => l.subscribed, 'SUBSCRIBED');
    for (let i = 0; i < 50; i++) l.write({ type: 'DECLINE', decline: { offer_ids: [{ value: `o-${i}` }] } });
    await l.halt();
    await waitFor(() => m.streams[0]!.ended, 'the end of the stream at the master');
    expect(m.streams[0]!.calls).toHaveLength(51);
    expect(l.subscribed).toBe(false);
    expect(owner.ends).toEqual([]); // halted, not ended: the owner asked for it
    clock.advance(60_000);
    expect(owner.hellos).toBe(1);
    expect(clock.pending).toBe(0);
  });
});
