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
});
