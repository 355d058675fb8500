import * as grpc from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import type { ClusterEvent__Output } from '../../src/generated/berth/v1/ClusterEvent';
import type { GetAgentsResponse__Output } from '../../src/generated/berth/v1/GetAgentsResponse';
import type { GetFrameworksResponse__Output } from '../../src/generated/berth/v1/GetFrameworksResponse';
import type { GetHealthResponse__Output } from '../../src/generated/berth/v1/GetHealthResponse';
import type { GetMasterResponse__Output } from '../../src/generated/berth/v1/GetMasterResponse';
import type { GetQuotaResponse__Output } from '../../src/generated/berth/v1/GetQuotaResponse';
import type { GetWeightsResponse__Output } from '../../src/generated/berth/v1/GetWeightsResponse';
import {
  closeAfterEach, FakeAgent, launch, reportedTask, startTestMaster, TestOperator, TestScheduler, type Inbox, type TestMaster, type TestMasterOptions,
} from '../support/master-harness';

/**
 * Operator.Watch (a snapshot, then numbered deltas, resumable from a sequence number) and
 * leadership (a standby serves nothing, a deposed leader drops every stream, a new term recovers
 * from the registry and fences the old one), over real gRPC. Also what operator.proto promises:
 * suppressed-role and allocation changes are events, a watcher from the future gets a snapshot, and
 * a standby names the leader and says it is alive but not serving.
 */
describe('master: Watch and leadership', () => {
  const masters: TestMaster[] = [];
  const track = closeAfterEach();

  afterEach(async () => {
    for (const m of masters.splice(0)) await m.stop();
  });

  async function start(options: TestMasterOptions = {}): Promise<TestMaster> {
    const m = await startTestMaster(options);
    masters.push(m);
    return m;
  }

  const next = (watch: Inbox<ClusterEvent__Output>, type: string, match: (e: ClusterEvent__Output) => boolean = () => true) =>
    watch.next((e) => e.type === type && match(e), type);
  const numbered = (watch: Inbox<ClusterEvent__Output>) => watch.log.filter((e) => e.type !== 'HEARTBEAT' && e.type !== 'SNAPSHOT');
  const sequences = (events: readonly ClusterEvent__Output[]) => events.map((e) => Number(e.sequence));

  describe('Watch', () => {
    test('a SNAPSHOT first, then AGENT_ADDED, FRAMEWORK_ADDED, TASK_ADDED and TASK_UPDATED with increasing sequence numbers', async () => {
      const master = await start();
      const first = track(await FakeAgent.register(master.address, { hostname: 'first' }));
      const watch = track(new TestOperator(master.address)).watch();

      const snapshot = await watch.next(() => true, 'the first event');
      expect(snapshot.type).toBe('SNAPSHOT');
      expect(snapshot.epoch).not.toBe('');
      expect(snapshot.snapshot!.state!.agents.map((a) => a.agent_info!.id!.value)).toEqual([first.agentId]);

      const second = track(await FakeAgent.register(master.address, { hostname: 'second' }));
      const added = await next(watch, 'AGENT_ADDED');
      expect(added.agent_added!.agent!.agent_info!.id!.value).toBe(second.agentId);

      const fw = track(await TestScheduler.subscribe(master.address, { name: 'watched' }));
      expect((await next(watch, 'FRAMEWORK_ADDED')).framework_added!.framework!.framework_info!.id!.value).toBe(fw.frameworkId);

      master.clock.advance(1000);
      const [offer] = (await fw.nextOffers()).offers!.offers;
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 't1', 'cpus:1;mem:64')] } });
      const taskAdded = await next(watch, 'TASK_ADDED');
      expect([taskAdded.task_added!.task!.task_id!.value, taskAdded.task_added!.task!.state]).toEqual(['t1', 'TASK_STAGING']);
      const on = [first, second].find((a) => a.agentId === offer!.agent_id!.value)!;
      await on.nextRun();
      on.status(fw.frameworkId, 't1', 'TASK_RUNNING');
      const updated = await next(watch, 'TASK_UPDATED');
      expect([updated.task_updated!.framework_id!.value, updated.task_updated!.state]).toEqual([fw.frameworkId, 'TASK_RUNNING']);

      const deltas = numbered(watch);
      expect(sequences(deltas)[0]).toBeGreaterThan(Number(snapshot.sequence));
      expect(sequences(deltas)).toEqual([...sequences(deltas)].sort((a, b) => a - b));
      expect(new Set(sequences(deltas)).size).toBe(deltas.length);
      expect(deltas.every((e) => e.epoch === snapshot.epoch)).toBe(true);
    });

    test('reconnecting with from_sequence and the epoch replays only the missed events', async () => {
      const master = await start();
      const operator = track(new TestOperator(master.address));
      const before = operator.watch();
      const { epoch } = await next(before, 'SNAPSHOT');
      track(await FakeAgent.register(master.address, { hostname: 'seen' }));
      const seen = await next(before, 'AGENT_ADDED');
      operator.close();

      // Missed while disconnected.
      const fw = track(await TestScheduler.subscribe(master.address, { name: 'missed' }));
      const missedAgent = track(await FakeAgent.register(master.address, { hostname: 'missed' }));

      const after = track(new TestOperator(master.address)).watch({ from_sequence: seen.sequence, epoch });
      track(await FakeAgent.register(master.address, { hostname: 'live' })); // a live event after the replay
      const live = await next(after, 'AGENT_ADDED', (e) => e.agent_added!.agent!.agent_info!.hostname === 'live');

      const events = numbered(after);
      expect(after.log.map((e) => e.type)).not.toContain('SNAPSHOT');
      expect(sequences(events)[0]).toBe(Number(seen.sequence) + 1);
      expect(sequences(events)).toEqual(sequences(events).map((_, i) => Number(seen.sequence) + 1 + i)); // none missing, none twice
      expect(events.at(-1)).toBe(live);
      expect(events.some((e) => e.type === 'FRAMEWORK_ADDED' && e.framework_added!.framework!.framework_info!.id!.value === fw.frameworkId)).toBe(true);
      expect(events.some((e) => e.type === 'AGENT_ADDED' && e.agent_added!.agent!.agent_info!.id!.value === missedAgent.agentId)).toBe(true);
    });

    test('a from_sequence that is no longer buffered, or from another epoch, gets a fresh snapshot', async () => {
      const master = await start({ maxBufferedEvents: 3 });
      const operator = track(new TestOperator(master.address));
      const watch = operator.watch();
      const { epoch, sequence } = await next(watch, 'SNAPSHOT');
      for (const hostname of ['a', 'b', 'c', 'd', 'e']) track(await FakeAgent.register(master.address, { hostname }));

      const tooOld = operator.watch({ from_sequence: sequence, epoch });
      const fresh = await tooOld.next(() => true, 'the first event');
      expect(fresh.type).toBe('SNAPSHOT');
      expect(fresh.snapshot!.state!.agents.map((a) => a.agent_info!.hostname).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(Number(fresh.sequence)).toBeGreaterThanOrEqual(Number(sequence) + 5);

      const otherEpoch = operator.watch({ from_sequence: fresh.sequence, epoch: 'some-other-master@0' });
      expect((await otherEpoch.next(() => true, 'the first event')).type).toBe('SNAPSHOT');
    });
  });

  describe('leadership', () => {
    test('a standby answers UNAVAILABLE on every service until it is elected', async () => {
      const master = await start({ autoElect: false });
      const operator = track(new TestOperator(master.address));
      expect((await operator.refusal('GetState')).code).toBe(grpc.status.UNAVAILABLE);
      expect(((await operator.watch().whenEnded('a standby watch')) as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      await expect(TestScheduler.subscribe(master.address)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      const agent = track(FakeAgent.connect(master.address));
      expect(((await agent.messages.whenEnded('a standby agent stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);

      master.election.elect();
      await master.daemon.settled();
      await operator.call('GetState');
      track(await TestScheduler.subscribe(master.address));
      track(await FakeAgent.register(master.address));
    });

    test('a deposed leader ends every stream, answers UNAVAILABLE, and leaves no timer running', async () => {
      const master = await start();
      const agent = track(await FakeAgent.register(master.address));
      const fw = track(await TestScheduler.subscribe(master.address));
      const operator = track(new TestOperator(master.address));
      const watch = operator.watch();
      await next(watch, 'SNAPSHOT');

      master.election.depose('lost the lease');
      await master.daemon.settled();
      const error = await fw.nextError();
      expect([error.code, error.fatal]).toEqual([grpc.status.UNAVAILABLE, true]);
      await fw.events.whenEnded('the framework stream');
      expect(((await agent.messages.whenEnded('the agent stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      expect(((await watch.whenEnded('the watch stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      expect((await operator.refusal('GetAgents')).code).toBe(grpc.status.UNAVAILABLE);
      expect(master.clock.pending).toBe(0);
      // Losing leadership is worth a warning (a normal stop is not: master-sigterm.test.ts).
      expect(master.logs.entries.filter((e) => e.message === 'stopped leading')).toMatchObject([{ level: 'warn', fields: { reason: 'lost the lease' } }]);
    });

    test('re-elected, the same master starts a new epoch: a watcher of the old term gets a snapshot, not the new term\'s numbers', async () => {
      const master = await start();
      const operator = track(new TestOperator(master.address));
      const old = operator.watch();
      const { epoch, sequence } = await next(old, 'SNAPSHOT');
      master.election.depose();
      await master.daemon.settled();
      master.election.elect();
      await master.daemon.settled();
      track(await FakeAgent.register(master.address)); // the new term numbers its events from 1 again

      const resumed = operator.watch({ from_sequence: sequence, epoch });
      const first = await resumed.next(() => true, 'the first event');
      expect(first.type).toBe('SNAPSHOT');
      expect(first.epoch).not.toBe(epoch);
    });

    test('a new term on another master recovers agents, frameworks, weights and quota from the registry, and fences the old leader', async () => {
      const first = await start();
      const firstOperator = track(new TestOperator(first.address));
      const agent = track(await FakeAgent.register(first.address, { hostname: 'kept' }));
      const fw = track(await TestScheduler.subscribe(first.address, { name: 'kept', roles: ['web'], failover_timeout: 3600, capabilities: [{ type: 'PARTITION_AWARE' }] }));
      first.clock.advance(1000);
      const [offer] = (await fw.nextOffers()).offers!.offers;
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 't1', 'cpus:1;mem:64')] } });
      await agent.nextRun();
      await firstOperator.call('UpdateWeights', { weights: [{ role: 'web', weight: 2 }] });
      await firstOperator.call('UpdateQuota', { configs: [{ role: 'web', limits: [{ name: 'cpus', value: 2 }] }] });
      await first.daemon.core!.flush();

      const second = await start({ store: first.store, autoElect: false });
      second.election.elect();
      await second.daemon.settled();
      const operator = track(new TestOperator(second.address));
      const { agents } = await operator.call<GetAgentsResponse__Output>('GetAgents');
      expect(agents.map((a) => [a.agent_info!.id!.value, a.lifecycle, a.connected])).toEqual([[agent.agentId, 'RECOVERED', false]]);
      const { frameworks } = await operator.call<GetFrameworksResponse__Output>('GetFrameworks');
      expect(frameworks.map((f) => [f.framework_info!.id!.value, f.connected])).toEqual([[fw.frameworkId, false]]);
      expect((await operator.call<GetWeightsResponse__Output>('GetWeights')).weights.map((w) => [w.role, w.weight])).toEqual([['web', 2]]);
      expect((await operator.call<GetQuotaResponse__Output>('GetQuota')).configs.map((c) => [c.role, c.limits.map((l) => [l.name, l.value])])).toEqual([['web', [['cpus', 2]]]]);

      // Agent and framework follow the new leader and keep the task.
      track(await FakeAgent.register(second.address, { id: agent.agentId, hostname: 'kept', tasks: [reportedTask(fw.frameworkId, 't1', 'cpus:1;mem:64', { role: 'web' })] }));
      const back = track(await TestScheduler.subscribe(second.address, { id: { value: fw.frameworkId }, name: 'kept', roles: ['web'], failover_timeout: 3600, capabilities: [{ type: 'PARTITION_AWARE' }] }));
      back.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't1' } }] } });
      expect((await back.nextUpdate('t1')).state).toBe('TASK_RUNNING');

      // The old leader has not heard it lost: its next registry write is fenced, and it steps down.
      const fenced = await firstOperator.refusal('UpdateWeights', { weights: [{ role: 'web', weight: 5 }] });
      expect(fenced.code).toBe(grpc.status.UNAVAILABLE);
      await first.daemon.settled();
      expect(first.daemon.core).toBeUndefined();
      expect(first.store.records.get('weights/web')).toBe(2);
      expect((await firstOperator.refusal('GetState')).code).toBe(grpc.status.UNAVAILABLE);
      expect(((await agent.messages.whenEnded('the old leader\'s agent stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
    });
  });
  describe('what operator.proto documents: events, a watcher from the future, a standby that names the leader', () => {
    const of = (watch: Inbox<ClusterEvent__Output>, type: string) => watch.log.filter((e) => e.type === type);
    const quantity = (list: readonly { name: string; value: number }[] | undefined, name: string) => list?.find((q) => q.name === name)?.value;

    test('SUPPRESS and REVIVE are FRAMEWORK_UPDATED with the suppressed roles; repeating one is not a change', async () => {
      const master = await start();
      const fw = track(await TestScheduler.subscribe(master.address, { roles: ['web', 'batch'] }));
      const watch = track(new TestOperator(master.address)).watch();
      await watch.next((e) => e.type === 'SNAPSHOT', 'SNAPSHOT');

      fw.send({ type: 'SUPPRESS', suppress: { roles: ['web'] } });
      const suppressed = await watch.next((e) => e.type === 'FRAMEWORK_UPDATED', 'FRAMEWORK_UPDATED after SUPPRESS');
      expect([suppressed.framework_updated!.framework!.framework_info!.id!.value, suppressed.framework_updated!.framework!.suppressed_roles]).toEqual([fw.frameworkId, ['web']]);

      fw.send({ type: 'SUPPRESS', suppress: { roles: ['web'] } }); // already suppressed: no event
      fw.send({ type: 'REVIVE', revive: {} });
      const revived = await watch.next((e) => e.type === 'FRAMEWORK_UPDATED', 'FRAMEWORK_UPDATED after REVIVE');
      expect(revived.framework_updated!.framework!.suppressed_roles).toEqual([]);
      await fw.settled();
      expect(of(watch, 'FRAMEWORK_UPDATED')).toHaveLength(2);
    });

    test('ROLE_UPDATED follows allocation changes once per cycle with `allocated` filled, and weight changes carry it too', async () => {
      const master = await start();
      track(await FakeAgent.register(master.address, { resources: 'cpus:4;mem:1024' }));
      track(await FakeAgent.register(master.address, { resources: 'cpus:4;mem:1024' }));
      const fw = track(await TestScheduler.subscribe(master.address, { roles: ['web'] }));
      const operator = track(new TestOperator(master.address));
      const watch = operator.watch();
      await watch.next((e) => e.type === 'SNAPSHOT', 'SNAPSHOT');

      // One cycle offers both agents to web: one ROLE_UPDATED, holding both agents' resources.
      master.clock.advance(1000);
      const offers = (await fw.nextOffers()).offers!.offers;
      expect(offers).toHaveLength(2);
      const offered = await watch.next((e) => e.type === 'ROLE_UPDATED', 'ROLE_UPDATED for the offers');
      expect([offered.role_updated!.role!.name, quantity(offered.role_updated!.role!.allocated, 'cpus'), quantity(offered.role_updated!.role!.offered, 'cpus')]).toEqual(['web', 8, 8]);

      // Declining both (in one call) frees them: the next cycle reports web holding nothing, once.
      fw.send({ type: 'DECLINE', decline: { offer_ids: offers.map((o) => o.id!), filters: { refuse_seconds: 3600 } } });
      await fw.settled();
      master.clock.advance(1000); // the prompt cycle the declines asked for, then the periodic one
      const freed = await watch.next((e) => e.type === 'ROLE_UPDATED' && e.sequence !== offered.sequence, 'ROLE_UPDATED for the declines');
      expect(quantity(freed.role_updated!.role!.allocated, 'cpus')).toBeUndefined();
      master.clock.advance(1000); // a cycle with nothing changed: no event
      await fw.settled();
      expect(of(watch, 'ROLE_UPDATED')).toHaveLength(2);

      // A weight change is a ROLE_UPDATED too, with the role's allocation in it.
      fw.send({ type: 'REVIVE', revive: {} }); // clears the declines' filters
      await fw.settled();
      master.clock.advance(1000);
      await fw.nextOffers('offers again');
      await watch.next((e) => e.type === 'ROLE_UPDATED' && quantity(e.role_updated!.role!.allocated, 'cpus') === 8, 'ROLE_UPDATED for the new offers');
      await operator.call('UpdateWeights', { weights: [{ role: 'web', weight: 2 }] });
      const weighted = await watch.next((e) => e.type === 'ROLE_UPDATED' && e.role_updated!.role!.weight === 2, 'ROLE_UPDATED for the weight');
      expect(quantity(weighted.role_updated!.role!.allocated, 'cpus')).toBe(8);
    });

    test('Watch from a sequence beyond the last, in the right epoch, starts with a fresh SNAPSHOT', async () => {
      const master = await start();
      const operator = track(new TestOperator(master.address));
      const first = operator.watch();
      const { epoch, sequence } = await first.next((e) => e.type === 'SNAPSHOT', 'SNAPSHOT');
      const future = operator.watch({ from_sequence: String(Number(sequence) + 1000), epoch });
      const answer = await future.next(() => true, 'the first event from the future');
      expect([answer.type, answer.epoch, answer.sequence]).toEqual(['SNAPSHOT', epoch, sequence]);
      // …and it follows live from there.
      const agent = track(await FakeAgent.register(master.address));
      expect((await future.next((e) => e.type === 'AGENT_ADDED', 'AGENT_ADDED')).agent_added!.agent!.agent_info!.id!.value).toBe(agent.agentId);
    });

    test('a standby answers GetMaster with the leader, and GetHealth and the health service agree: alive, not serving', async () => {
      const leader = { id: 'the-leader', grpcAddress: '127.0.0.1:7001', httpAddress: '127.0.0.1:7002' };
      const standby = await start({ autoElect: false });
      standby.election.current = leader;
      const operator = track(new TestOperator(standby.address));
      const HealthClient = grpc.makeClientConstructor(healthServiceDefinition as grpc.ServiceDefinition, 'Health');
      const health = track(new HealthClient(standby.address, grpc.credentials.createInsecure()));
      const check = (service: string) => new Promise<string>((resolve, reject) => (health as unknown as Record<string, Function>).Check!.call(health, { service }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))));

      const who = await operator.call<GetMasterResponse__Output>('GetMaster');
      expect([who.master_info!.address!.port, who.master_info!.leader]).toEqual([Number(standby.address.split(':')[1]), false]);
      expect([who.leader_info!.id, `${who.leader_info!.address!.hostname}:${who.leader_info!.address!.port}`, who.leader_info!.http_url, who.leader_info!.leader]).toEqual(['the-leader', '127.0.0.1:7001', 'http://127.0.0.1:7002', true]);
      const standing = await operator.call<GetHealthResponse__Output>('GetHealth');
      expect(standing).toEqual({ healthy: true, alive: true, leader: false, serving: false, message: 'standby; the leader is the-leader at 127.0.0.1:7001' });
      expect([await check(''), await check('berth.v1.Scheduler'), await check('berth.v1.Operator')]).toEqual(['NOT_SERVING', 'NOT_SERVING', 'NOT_SERVING']);

      standby.election.elect();
      await standby.daemon.settled();
      const leading = await operator.call<GetHealthResponse__Output>('GetHealth');
      expect(leading).toEqual({ healthy: true, alive: true, leader: true, serving: true, message: 'leading' });
      expect([await check(''), await check('berth.v1.Scheduler'), await check('berth.v1.AgentLink'), await check('berth.v1.Operator')]).toEqual(['SERVING', 'SERVING', 'SERVING', 'SERVING']);
      const self = await operator.call<GetMasterResponse__Output>('GetMaster');
      expect([self.master_info!.leader, self.leader_info!.id, self.leader_info!.address!.port]).toEqual([true, self.master_info!.id, Number(standby.address.split(':')[1])]);
    });
  });
});
