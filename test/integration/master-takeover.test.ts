import { MemoryStore } from '../support/memory-registry';
import { startTestMaster, waitFor, type TestMaster } from '../support/master-harness';
import type { Registry } from '../../src/master/registry/registry';

/**
 * A master that wins an election but cannot open the registry (NATS just regained quorum and
 * answers "JetStream system temporarily unavailable") must give the leadership up and campaign
 * again, not hold the lease without serving: every other master would keep pointing clients at
 * a leader that refuses them. Found by the fault suite (test/fault/nats-quorum.test.ts).
 */
class FlakyStore extends MemoryStore {
  failures = 1;
  override open(term: number): Registry {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('JetStream system temporarily unavailable');
    }
    return super.open(term);
  }
}

/** Counts what each master does with the registry: opens, loads and closes. */
class CountingStore extends MemoryStore {
  opens: number[] = [];
  loads = 0;
  closes = 0;
  override open(term: number): Registry {
    this.opens.push(term);
    const registry = super.open(term);
    return {
      load: () => (this.loads++, registry.load()),
      write: (ops) => registry.write(ops),
      close: () => (this.closes++, registry.close()),
    };
  }
}

describe('master: taking over leadership', () => {
  let master: TestMaster | undefined;
  afterEach(async () => {
    await master?.stop();
    master = undefined;
  });

  test('a registry that cannot be opened: the lease is given up, then won again and served', async () => {
    const store = new FlakyStore();
    master = await startTestMaster({ store });
    expect(master.daemon.core).toBeUndefined();
    expect(master.election.isLeader).toBe(false); // given up, not held
    expect(master.logs.entries.some((e) => e.message.startsWith('taking over leadership failed'))).toBe(true);
    master.clock.advance(5000); // campaigns again
    await waitFor(() => master!.daemon.core !== undefined, 'the master to lead after campaigning again');
    expect(master.election.isLeader).toBe(true);
  });

  test('a term won is read ahead while the election waits: elected, the master leads without reading the registry again', async () => {
    const store = new CountingStore();
    store.records.set('weights/web', 3);
    master = await startTestMaster({ store, autoElect: false });
    const term = master.election.win();
    await waitFor(() => store.loads === 1, 'the registry read ahead');
    expect(master.daemon.core).toBeUndefined(); // won, not yet acting
    master.election.elect(term);
    await master.daemon.settled();
    expect(master.daemon.core).toBeDefined();
    expect(store.opens).toEqual([term]);
    expect(store.loads).toBe(1);
    expect(master.daemon.core!.allocator.roles().find((r) => r.role === 'web')?.weight).toBe(3); // recovered from what was read ahead
  });

  test('a term won and lost before it is acted on: what was read ahead is closed, and the next term reads afresh', async () => {
    const store = new CountingStore();
    master = await startTestMaster({ store, autoElect: false });
    master.election.win();
    await waitFor(() => store.loads === 1, 'the registry read ahead');
    master.election.depose('lost the lease before acting');
    await waitFor(() => store.closes === 1, 'the registry read ahead to be closed');
    await master.daemon.settled();
    expect(master.daemon.core).toBeUndefined();

    master.election.elect(); // a later term, never "won" ahead: opened and read when it is led
    await master.daemon.settled();
    expect(master.daemon.core).toBeDefined();
    expect(store.opens).toHaveLength(2);
    expect(store.loads).toBe(2);
  });
});
