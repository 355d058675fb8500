/**
 * Leader election on a 3-node NATS cluster with a short lease (1.5 s, renew every 0.5 s): one
 * leader at a time; a dead leader is replaced within lease + one renew interval (+1 s of slack); a
 * leader that stops hands over at once; a leader frozen past its lease comes back deposed, never
 * leading again without a new, higher term; standbys always know where the leader is.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { SystemClock, type Clock, type TimerHandle } from '../../src/common/clock';
import { NatsLeaderElection } from '../../src/master/registry/nats-election';
import type { LeaderInfo, LeadershipChange } from '../../src/master/registry/registry';
import { startNats, type NatsTestServers } from '../support/nats';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

jest.setTimeout(60_000);

const LEASE = 1500;
const RENEW = 500;

/** The system clock, except that timers due while paused run only on `resume()` — a frozen process. */
class PausableClock implements Clock {
  private readonly real = new SystemClock();
  private paused = false;
  private held: Array<() => void> = [];

  now(): number {
    return this.real.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.real.setTimeout(() => (this.paused ? this.held.push(fn) : fn()), ms);
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    this.real.clearTimeout(handle);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.real.setInterval(() => (this.paused ? this.held.push(fn) : fn()), ms);
  }
  clearInterval(handle: TimerHandle | undefined): void {
    this.real.clearInterval(handle);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    for (const fn of this.held.splice(0)) fn();
  }
}

interface Candidate {
  readonly name: string;
  readonly info: LeaderInfo;
  readonly election: NatsLeaderElection;
  readonly nc: NatsConnection;
  readonly changes: LeadershipChange[];
  readonly clock: PausableClock;
  readonly proxy: TcpProxy | undefined;
}

let nats: NatsTestServers;
let bucketNo = 0;
const candidates: Candidate[] = [];

beforeAll(async () => {
  nats = await startNats({ cluster: 3 });
});

afterEach(async () => {
  for (const c of candidates.splice(0)) {
    c.proxy?.release();
    await c.election.stop();
    await c.nc.close().catch(() => undefined);
    await c.proxy?.close();
  }
});

afterAll(async () => {
  await nats?.cleanup();
});

async function startCandidates(n: number, options: { viaProxy?: boolean; worker?: { stuckMs: number } } = {}): Promise<Candidate[]> {
  const bucket = `election-${++bucketNo}`;
  const started = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const name = `m${i + 1}`;
    const url = nats.urls[i % nats.urls.length]!;
    const proxy = options.viaProxy === true ? await startTcpProxy(url) : undefined;
    const nc = await connect({ servers: proxy?.url ?? url });
    const info = { id: name, grpcAddress: `127.0.0.1:${7000 + i}`, httpAddress: `127.0.0.1:${8000 + i}` };
    const clock = new PausableClock();
    const renewFrom = options.worker === undefined ? 'loop' as const : { worker: { servers: [url], stuckMs: options.worker.stuckMs } };
    const election = new NatsLeaderElection({ nc, self: info, bucket, replicas: 3, leaseMs: LEASE, renewIntervalMs: RENEW, clock, renewFrom });
    const changes: LeadershipChange[] = [];
    election.onChange((c) => changes.push(c));
    const candidate: Candidate = { name, info, election, nc, changes, clock, proxy };
    candidates.push(candidate);
    return candidate;
  }));
  // Start one after another: three first-time creations of an R3 bucket at once is slow on 2 cores.
  for (const c of started) await c.election.start();
  return started;
}

/** Resolves with the first change among `among` that matches, failing after `boundMs`. */
function nextChange(among: readonly Candidate[], match: (c: LeadershipChange, who: Candidate) => boolean, boundMs: number): Promise<{ who: Candidate; change: LeadershipChange; at: number }> {
  return new Promise((resolve, reject) => {
    const unsubscribers: Array<() => void> = [];
    const done = (): void => unsubscribers.forEach((u) => u());
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no matching leadership change within ${boundMs} ms`));
    }, boundMs);
    for (const who of among) {
      unsubscribers.push(who.election.onChange((change) => {
        if (!match(change, who)) return;
        clearTimeout(timer);
        done();
        resolve({ who, change, at: Date.now() });
      }));
    }
  });
}

const elected = (among: readonly Candidate[], boundMs: number) => nextChange(among, (c) => c.kind === 'elected', boundMs);

/** The first leader of freshly started candidates (`start()` may already have won; `elected` follows one renew later). */
async function firstLeader(all: readonly Candidate[]): Promise<{ who: Candidate; change: LeadershipChange; at: number }> {
  const who = all.find((c) => c.changes.some((x) => x.kind === 'elected'));
  if (who !== undefined) return { who, change: who.changes.find((x) => x.kind === 'elected')!, at: Date.now() };
  return elected(all, LEASE + 2 * RENEW + 1000);
}
const termOf = (change: LeadershipChange): number => (change.kind === 'elected' ? change.term : NaN);

/** Waits until every standby's `leader()` names `leader` (event-driven, bounded). */
async function standbysSee(standbys: readonly Candidate[], leader: Candidate, boundMs = 3000): Promise<void> {
  await Promise.all(standbys.map((s) => (s.election.leader()?.id === leader.name
    ? undefined
    : nextChange([s], (c) => c.kind === 'leader' && c.leader?.id === leader.name, boundMs))));
  for (const s of standbys) expect(s.election.leader()).toEqual(leader.info);
}

function leaders(among: readonly Candidate[]): Candidate[] {
  return among.filter((c) => c.election.isLeader);
}

describe('NatsLeaderElection on a 3-node cluster', () => {
  test('three candidates: exactly one leads, and the standbys point at it', async () => {
    const all = await startCandidates(3);
    const first = await firstLeader(all);
    const standbys = all.filter((c) => c !== first.who);
    await standbysSee(standbys, first.who);
    expect(leaders(all)).toEqual([first.who]);
    expect(first.who.election.leader()).toEqual(first.who.info);
    for (const s of standbys) expect(s.changes.some((c) => c.kind === 'elected' || c.kind === 'won')).toBe(false);
    expect(termOf(first.change)).toBeGreaterThan(0);
    // The term is announced as won first (the winner may read its state meanwhile), then elected.
    const terms = first.who.changes.filter((c) => c.kind === 'won' || c.kind === 'elected');
    expect(terms).toEqual([{ kind: 'won', term: termOf(first.change) }, first.change]);
  });

  test('a leader that dies without a word is replaced within lease + one renew interval + 1 s', async () => {
    const all = await startCandidates(3);
    const first = await firstLeader(all);
    const standbys = all.filter((c) => c !== first.who);
    await standbysSee(standbys, first.who);

    const killedAt = Date.now();
    await first.who.nc.close(); // stops renewing; the key is left to expire, as after SIGKILL
    const next = await elected(standbys, LEASE + RENEW + 1000);
    const failoverMs = next.at - killedAt;
    expect(failoverMs).toBeLessThanOrEqual(LEASE + RENEW + 1000);
    expect(termOf(next.change)).toBeGreaterThan(termOf(first.change));
    expect(leaders(standbys)).toEqual([next.who]);
    await standbysSee(standbys.filter((c) => c !== next.who), next.who);
  });

  test('a leader that stops gracefully hands over at once', async () => {
    const all = await startCandidates(3);
    const first = await firstLeader(all);
    const standbys = all.filter((c) => c !== first.who);
    await standbysSee(standbys, first.who);

    const stoppedAt = Date.now();
    const successor = elected(standbys, RENEW + 1000);
    await first.who.election.stop();
    expect(first.who.changes).toContainEqual({ kind: 'deposed', reason: 'stopped' });
    const next = await successor;
    expect(next.at - stoppedAt).toBeLessThan(RENEW + 1000); // no lease to wait out
    expect(termOf(next.change)).toBeGreaterThan(termOf(first.change));
    expect(leaders(all)).toEqual([next.who]);
  });

  test('a leader that resigns hands over at once and does not campaign again during its hold-off', async () => {
    const all = await startCandidates(2);
    const first = await firstLeader(all);
    const other = all.find((c) => c !== first.who)!;
    await standbysSee([other], first.who);

    const resignedAt = Date.now();
    const successor = elected([other], RENEW + 1000);
    await first.who.election.resign('cannot open the registry', 60_000);
    expect(first.who.changes).toContainEqual({ kind: 'deposed', reason: 'cannot open the registry' });
    const next = await successor;
    expect(next.at - resignedAt).toBeLessThan(RENEW + 1000); // the key was deleted: no lease to wait out
    // The successor stops: the key is free, but the resigned candidate holds off.
    await other.election.stop();
    await new Promise((r) => setTimeout(r, LEASE + RENEW));
    expect(first.who.election.isLeader).toBe(false);
  });

  test('a leader frozen past its lease comes back deposed and does not lead again without a new term', async () => {
    const all = await startCandidates(3, { viaProxy: true });
    const first = await firstLeader(all);
    const frozen = first.who;
    const others = all.filter((c) => c !== frozen);
    await standbysSee(others, frozen);

    // Freeze it as SIGSTOP would: no timers fire, no bytes move in either direction.
    frozen.clock.pause();
    frozen.proxy!.hold('both');
    const next = await elected(others, LEASE + RENEW + 1000);
    expect(termOf(next.change)).toBeGreaterThan(termOf(first.change));
    // Its lease is over by its own clock, even though it has not run a single step since.
    expect(frozen.election.isLeader).toBe(false);

    const deposed = nextChange([frozen], (c) => c.kind === 'deposed', RENEW + 2000);
    frozen.clock.resume();
    frozen.proxy!.release();
    const { change } = await deposed;
    expect(change).toMatchObject({ kind: 'deposed', reason: expect.stringMatching(/lease expired|holds the leader key|renew failed/) });
    await standbysSee([frozen], next.who);
    expect(leaders(all)).toEqual([next.who]);
    expect(frozen.changes.filter((c) => c.kind === 'elected')).toEqual([first.change]);
  });

  test('a leader whose key is taken over is deposed', async () => {
    const all = await startCandidates(2);
    const first = await firstLeader(all);
    const deposed = nextChange([first.who], (c) => c.kind === 'deposed', 2 * RENEW + 1000);
    const kv = await new Kvm(first.who.nc).open(`election-${bucketNo}`);
    await kv.put('leader', JSON.stringify({ id: 'intruder', grpcAddress: '127.0.0.1:1', instance: 'x' }));
    await deposed;
    expect(first.who.election.isLeader).toBe(false);
  });

  test('a candidate whose lease differs from the bucket\'s TTL refuses to start', async () => {
    await startCandidates(1);
    const nc = await connect({ servers: nats.urls[0] });
    try {
      const odd = new NatsLeaderElection({ nc, self: { id: 'odd', grpcAddress: '127.0.0.1:1' }, bucket: `election-${bucketNo}`, leaseMs: 3000 });
      await expect(odd.start()).rejects.toMatchObject({ code: 'ELECTION_MISCONFIGURED' });
    } finally {
      await nc.close();
    }
  });
});

/** Blocks this thread's event loop, as a long garbage collection or a burst of work would. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('NatsLeaderElection renewing from a worker thread', () => {
  test('the leader keeps its lease through a stall of its event loop longer than the lease', async () => {
    const all = await startCandidates(2, { worker: { stuckMs: 4 * LEASE } });
    const first = await firstLeader(all);
    const other = all.find((c) => c !== first.who)!;
    await standbysSee([other], first.who);

    stall(LEASE + 2 * RENEW); // renewing on this loop, the lease would be lost here
    expect(first.who.election.isLeader).toBe(true); // the worker's renews are seen at once
    await settle(2 * RENEW); // the standby's campaign and the queued renew messages run
    expect(leaders(all)).toEqual([first.who]);
    expect(first.who.changes.filter((c) => c.kind === 'deposed')).toEqual([]);
    expect(other.changes.filter((c) => c.kind === 'elected')).toEqual([]);
  });

  test('a leader whose event loop is stuck loses the lease all the same (no zombie leader)', async () => {
    const all = await startCandidates(2, { worker: { stuckMs: 2 * RENEW } });
    const first = await firstLeader(all);
    const other = all.find((c) => c !== first.who)!;
    await standbysSee([other], first.who);

    stall(2 * RENEW + LEASE + RENEW); // the worker stops renewing after 2 renew intervals of silence; the key then expires
    // Listening from here on misses nothing: no event can run before the next await.
    const deposed = nextChange([first.who], (c) => c.kind === 'deposed', LEASE + 2000);
    const successor = elected([other], 3 * LEASE + 2000); // the key's expiry, then the standby's next campaign
    expect(first.who.election.isLeader).toBe(false);
    const { change } = await deposed;
    expect(change).toMatchObject({ kind: 'deposed', reason: expect.stringMatching(/event loop has not run|lease expired/) });
    await successor;
    expect(leaders(all)).toEqual([other]);
  });

  test('a leader that stops gracefully hands over at once and its worker ends', async () => {
    const all = await startCandidates(2, { worker: { stuckMs: LEASE } });
    const first = await firstLeader(all);
    const other = all.find((c) => c !== first.who)!;
    await standbysSee([other], first.who);
    const successor = elected([other], RENEW + 1000);
    const stoppedAt = Date.now();
    await first.who.election.stop();
    const next = await successor;
    expect(next.at - stoppedAt).toBeLessThan(RENEW + 1000);
    expect(leaders(all)).toEqual([other]);
  });
});
