import { AgentFixture, expectStates } from '../support/agent-fixture';
import { launch, TestScheduler, waitFor } from '../support/master-harness';

/**
 * Preemption end to end with a real agent process (`berth agent`, process containerizer) and real
 * task processes: a default-priority framework's task holds the whole agent; a framework of class
 * "high" declares a gang in role "prod" (preemption enabled). The real agent kills the victim with
 * the grace the master set, its framework gets TASK_KILLED with REASON_CONTAINER_PREEMPTED, and the
 * gang is offered the freed agent, accepted and runs a real process.
 */
describe('preemption with a real agent process', () => {
  let f: AgentFixture;
  let high: TestScheduler | undefined;

  beforeEach(async () => {
    f = await AgentFixture.start('preempt', { priorityClasses: { high: 100 }, preemption: { roles: ['prod'], killGraceMs: 2000 } });
  });

  afterEach(async () => {
    high?.close();
    high = undefined;
    await f.close();
  });

  it('a high-priority gang takes the agent from a running default-priority task, which ends TASK_KILLED (preempted)', async () => {
    await f.startAgentProcess();
    await f.launch({ taskId: 'backfill', command: 'sleep 1000', resources: 'cpus:4;mem:256' });
    await f.expectStates('backfill', ['TASK_STARTING', 'TASK_RUNNING']);

    high = await TestScheduler.subscribe(f.master.address, {
      name: 'trainer',
      roles: ['prod'],
      priority_class: 'high',
      demand: { prod: { shapes: [], gangs: [{ gang_id: 'train', shapes: [{ resources: [{ name: 'cpus', value: 3 }, { name: 'mem', value: 64 }], count: 1 }] }] } },
    });
    f.master.clock.advance(1000);
    const [killed] = await f.expectStates('backfill', ['TASK_KILLED']);
    expect(killed!.reason).toBe('REASON_CONTAINER_PREEMPTED');
    expect(killed!.message).toContain(`preempted for gang "train" of framework ${high.frameworkId} (role "prod", priority class "high" 100)`);

    // The freed agent goes to the gang in the prompt cycle after the victim's resources return.
    await waitFor(() => f.master.daemon.core!.allocator.available(killed!.agent_id!.value)?.scalar('cpus') === 4000, 'the victim\'s resources back');
    f.master.clock.advance(0);
    const offers = await high.nextOffers();
    expect(offers.offers!.gangs[0]).toMatchObject({ gang_id: 'train', tasks: 1 });
    const offer = offers.offers!.offers[0]!;
    high.send({ type: 'ACCEPT_GANG', accept_gang: { gang_id: 'train', launches: [{ offer_id: offer.id!, operations: [launch(offer, 'train-0', 'cpus:3;mem:64', { command: { value: 'sleep 1000', shell: true } })] }] } });
    await expectStates(high, 'train-0', ['TASK_STARTING', 'TASK_RUNNING']);
    // The default-priority framework is not offered the claimed cpus meanwhile.
    expect(f.fw.events.log.filter((e) => e.type === 'OFFERS').flatMap((e) => e.offers!.offers).filter((o) => o.resources.some((r) => r.name === 'cpus' && (r.scalar?.value ?? 0) >= 3))).toHaveLength(1);
    high.send({ type: 'KILL', kill: { task_id: { value: 'train-0' }, agent_id: offer.agent_id! } });
    await expectStates(high, 'train-0', ['TASK_KILLED']);
  });
});
