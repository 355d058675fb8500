import { MemoryStore } from '../support/memory-registry';
import { closeAfterEach, FakeAgent, startTestMaster, waitFor, type TestMaster } from '../support/master-harness';

/**
 * An agent's registry record is written when it changes, not on every re-registration: after a
 * failover all agents come back as they were, and a write per agent was a good part of the new
 * leader's work. Every change still reaches the registry.
 */
describe('master: agent records are written when they change', () => {
  const track = closeAfterEach();
  const masters: TestMaster[] = [];
  afterEach(async () => {
    for (const m of masters.splice(0)) await m.stop();
  });

  async function leader(store: MemoryStore): Promise<TestMaster> {
    const m = await startTestMaster({ store, agentReregisterTimeoutMs: 600_000 });
    masters.push(m);
    return m;
  }

  const record = (store: MemoryStore, agentId: string) => store.records.get(`agents/${agentId}`) as { lifecycle: string; total: unknown; info: { hostname: string } } | undefined;

  test('a new leader does not rewrite the record of an agent that re-registers unchanged, and does write a changed one', async () => {
    const store = new MemoryStore();
    const first = await leader(store);
    const agent = await FakeAgent.register(first.address, { hostname: 'h1' });
    await waitFor(() => record(store, agent.agentId) !== undefined, 'the agent record');
    const written = structuredClone(record(store, agent.agentId));
    agent.close();
    await first.stop();

    const next = await leader(store);
    expect(next.daemon.core!.agents.get(agent.agentId)!.lifecycle).toBe('RECOVERED');
    const writes = store.writes;
    const back = track(await FakeAgent.register(next.address, { id: agent.agentId, hostname: 'h1' }));
    expect(next.daemon.core!.agents.get(back.agentId)!.lifecycle).toBe('REGISTERED');
    await next.daemon.core!.flush(); // anything issued is durable by now
    expect(store.writes).toBe(writes);
    expect(record(store, agent.agentId)).toEqual(written);

    // Back again on another host name: the change is written.
    back.close();
    await waitFor(() => next.daemon.core!.agents.get(agent.agentId)!.connected === false, 'the disconnect');
    track(await FakeAgent.register(next.address, { id: agent.agentId, hostname: 'h2' }));
    await waitFor(() => record(store, agent.agentId)?.info.hostname === 'h2', 'the changed record');
    expect(store.writes).toBe(writes + 1);
  });

  test('on one master: an unchanged re-registration writes nothing; unreachable and back are both written', async () => {
    const store = new MemoryStore();
    const m = await leader(store);
    const agent = await FakeAgent.register(m.address, { answerPings: false });
    await waitFor(() => record(store, agent.agentId) !== undefined, 'the agent record');
    await m.daemon.core!.flush();
    const writes = store.writes;
    agent.close();
    await waitFor(() => m.daemon.core!.agents.get(agent.agentId)!.connected === false, 'the disconnect');
    const again = track(await FakeAgent.register(m.address, { id: agent.agentId, answerPings: false }));
    await m.daemon.core!.flush();
    expect(store.writes).toBe(writes);

    // No PONGs: the agent becomes unreachable (written), then re-registers (written again).
    const { agentPingTimeoutMs, maxAgentPingTimeouts } = m.daemon.core!.options;
    for (let i = 0; i <= maxAgentPingTimeouts; i++) m.clock.advance(agentPingTimeoutMs);
    await waitFor(() => record(store, agent.agentId)?.lifecycle === 'UNREACHABLE', 'the unreachable record');
    again.close();
    track(await FakeAgent.register(m.address, { id: agent.agentId }));
    await waitFor(() => record(store, agent.agentId)?.lifecycle === 'REGISTERED', 'the record back to REGISTERED');
    expect(store.writes).toBe(writes + 2);
  });
});
