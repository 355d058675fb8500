import { connect } from '@nats-io/transport-node';
import { startNats, type NatsTestServers } from '../support/nats';
import { FakeAgent, launch, TestScheduler } from '../support/master-harness';
import { health, startMasterProcess, waitForLeader, type MasterProcess } from '../support/master-process';

/**
 * High availability against a real 3-node NATS JetStream cluster on loopback, with three real
 * `berth master` processes: the leader is SIGKILLed, a standby takes over within the lease, the
 * agent and the framework follow it, and the task is neither lost nor launched twice. A leader that
 * is paused past its lease (SIGSTOP) must not act as leader when it resumes.
 */
const LEASE_MS = 1500;

jest.setTimeout(90_000);

describe('master HA on NATS JetStream', () => {
  let nats: NatsTestServers;
  let masters: MasterProcess[] = [];
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    nats = await startNats({ cluster: 3 });
    const args = ['--auth-enabled', 'false', '--registry-kind', 'nats', '--nats-servers', nats.urls.join(','), '--nats-replicas', '3', '--nats-lease-ms', String(LEASE_MS), '--allocation-interval-ms', '200'];
    masters = await Promise.all(['m1', 'm2', 'm3'].map((id) => startMasterProcess(id, args)));
  });

  afterAll(async () => {
    for (const close of closers.splice(0)) close();
    for (const m of masters) await m.signal('SIGKILL');
    await nats?.cleanup();
  });

  test('the leader is killed: a standby leads, agent and framework follow, the task survives once', async () => {
    const leader = await waitForLeader(masters, 20_000);
    // Standbys refuse work and say who leads.
    const standby = masters.find((m) => m !== leader)!;
    await expect(TestScheduler.subscribe(standby.grpcAddress)).rejects.toThrow(/not the leader; the leader is/);

    // Cluster events are mirrored to NATS subjects.
    const nc = await connect({ servers: nats.urls[0] });
    const sub = nc.subscribe('berth.events.>', { max: 1 });
    const mirrored = (async () => {
      for await (const m of sub) return { subject: m.subject, event: m.json<{ kind: string; payload: { hostname?: string } }>() };
      return undefined;
    })();
    await nc.flush();

    const agent = await FakeAgent.register(leader.grpcAddress, { hostname: 'ha-agent', resources: 'cpus:2;mem:1024' });
    closers.push(() => agent.close());
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([mirrored, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 5000)))]);
    clearTimeout(timer);
    await nc.close();
    expect(first?.subject).toBe('berth.events.AGENT_ADDED');
    expect(first?.event.payload.hostname).toBe('ha-agent');
    const fw = await TestScheduler.subscribe(leader.grpcAddress, { failover_timeout: 3600, capabilities: [{ type: 'PARTITION_AWARE' }] });
    closers.push(() => fw.close());
    const offers = (await fw.nextOffers()).offers!.offers;
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offers[0]!.id!], operations: [launch(offers[0]!, 'ha-task', 'cpus:1;mem:128')] } });
    const run = await agent.nextRun();
    const running = agent.status(fw.frameworkId, 'ha-task', 'TASK_RUNNING');
    fw.ack(await fw.nextUpdate('ha-task', 'TASK_RUNNING'));
    await agent.messages.next((m) => m.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT', 'ack');
    expect(running.length).toBe(16);

    const killedAt = Date.now();
    await leader.signal('SIGKILL');
    const next = await waitForLeader(masters.filter((m) => m !== leader), LEASE_MS + 3000 + 5000);
    const takeover = Date.now() - killedAt;
    process.stdout.write(`HA takeover after SIGKILL: ${takeover} ms (lease ${LEASE_MS} ms)\n`);
    // Lease + one renew interval (the new leader waits one before acting) + 3 s.
    expect(takeover).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 3000);

    // The agent and the framework follow the new leader: re-register with the task, re-subscribe.
    const agent2 = await FakeAgent.register(next.grpcAddress, {
      id: agent.agentId,
      hostname: 'ha-agent',
      resources: 'cpus:2;mem:1024',
      tasks: [{ name: 'ha-task', task_id: { value: 'ha-task' }, framework_id: { value: fw.frameworkId }, agent_id: { value: agent.agentId }, state: 'TASK_RUNNING', resources: run.run_task!.task!.resources, role: '*' }],
      frameworks: [run.run_task!.framework_info! as never],
    });
    closers.push(() => agent2.close());
    expect(agent2.agentId).toBe(agent.agentId);
    const fw2 = await TestScheduler.subscribe(next.grpcAddress, { id: { value: fw.frameworkId }, failover_timeout: 3600, capabilities: [{ type: 'PARTITION_AWARE' }] });
    closers.push(() => fw2.close());
    fw2.send({ type: 'RECONCILE', reconcile: { tasks: [] } });
    const reconciled = await fw2.nextUpdate('ha-task');
    expect([reconciled.state, reconciled.reason]).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION']);
    // Launched exactly once: the new leader sent no RUN_TASK for it.
    expect(agent2.messages.peek((m) => m.type === 'RUN_TASK')).toHaveLength(0);
    // The remaining resources are offered again by the new leader, the task's are not.
    const again = (await fw2.nextOffers()).offers!.offers;
    expect(again[0]!.resources.find((r) => r.name === 'cpus')!.scalar!.value).toBe(1);
  });

  test('a leader paused past its lease does not act as leader when it resumes', async () => {
    const alive = masters.filter((m) => m.child.exitCode === null && m.child.signalCode === null);
    const leader = await waitForLeader(alive, 20_000);
    await leader.signal('SIGSTOP');
    const next = await waitForLeader(alive.filter((m) => m !== leader), LEASE_MS + 3000 + 5000);
    expect(next).not.toBe(leader);
    await leader.signal('SIGCONT');
    // Once its timers run again it notices the lost lease; it then refuses leader work.
    const end = Date.now() + 5000;
    let h = await health(leader.grpcAddress);
    while (h?.leader !== false && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      h = await health(leader.grpcAddress);
    }
    expect(h?.leader).toBe(false);
    await expect(TestScheduler.subscribe(leader.grpcAddress)).rejects.toThrow(/not the leader/);
    expect((await health(next.grpcAddress))?.leader).toBe(true);
  });
});
