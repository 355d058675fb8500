import * as grpc from '@grpc/grpc-js';
import { berthV1 } from '../../src/common/rpc/proto';
import { FakeAgent, launch, waitFor, startTestMaster, TestOperator, TestScheduler, type TestMaster, closeAfterEach } from '../support/master-harness';

/**
 * The master over real gRPC (loopback, ephemeral port) with a fake clock and simulated agents:
 * subscribe → offer → accept → run → status → acknowledge, and what bad input gets.
 */
describe('master: the framework cycle', () => {
  let master: TestMaster;
  const track = closeAfterEach();

  beforeEach(async () => {
    master = await startTestMaster();
  });

  afterEach(async () => {
    await master.stop();
  });

  async function offered(fw: TestScheduler) {
    master.clock.advance(1000); // the allocation interval
    const event = await fw.nextOffers();
    return event.offers!.offers;
  }

  test('subscribe → offer → accept → RUNNING → acknowledge → FINISHED frees the resources', async () => {
    const agent = track(await FakeAgent.register(master.address, { resources: 'cpus:4;mem:4096;ports:[31000-31009]' }));
    const fw = track(await TestScheduler.subscribe(master.address, { roles: ['web'] }));
    const [offer] = await offered(fw);
    expect(offer!.agent_id!.value).toBe(agent.agentId);
    expect(offer!.allocation_info!.role).toBe('web');

    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 't1', 'cpus:1;mem:128')], filters: { refuse_seconds: 0 } } });
    const run = await agent.nextRun();
    expect(run.run_task!.task!.task_id!.value).toBe('t1');
    expect(run.run_task!.role).toBe('web');

    const uuid = agent.status(fw.frameworkId, 't1', 'TASK_RUNNING');
    const running = await fw.nextUpdate('t1', 'TASK_RUNNING');
    expect(Buffer.from(running.uuid).equals(uuid)).toBe(true);
    fw.ack(running);
    const ack = await agent.messages.next((m) => m.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT', 'ack');
    expect(Buffer.from(ack.status_update_acknowledgement!.uuid).equals(uuid)).toBe(true);

    // The unused part of the offer comes back in the next cycle; the task's part does not.
    const [second] = await offered(fw);
    const cpus = (o: typeof second) => o!.resources.filter((r) => r.name === 'cpus').reduce((s, r) => s + r.scalar!.value, 0);
    expect(cpus(second)).toBe(3);
    fw.send({ type: 'DECLINE', decline: { offer_ids: [second!.id!], filters: { refuse_seconds: 0 } } });

    agent.status(fw.frameworkId, 't1', 'TASK_FINISHED');
    const finished = await fw.nextUpdate('t1', 'TASK_FINISHED');
    fw.ack(finished);
    await agent.messages.next((m) => m.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT', 'ack of FINISHED'); // the master has handled it
    const [third] = await offered(fw);
    expect(cpus(third)).toBe(4);
    expect(master.daemon.core!.frameworks.get(fw.frameworkId)!.tasks.size).toBe(0);
    expect(master.daemon.core!.frameworks.get(fw.frameworkId)!.completed.map((t) => t.taskId)).toEqual(['t1']);
  });

  test('LAUNCH_GROUP reaches the agent as one RUN_TASK_GROUP; FrameworkInfo is sent once per agent connection', async () => {
    const agent = track(await FakeAgent.register(master.address));
    const fw = track(await TestScheduler.subscribe(master.address, { name: 'grouper' }));
    const [offer] = await offered(fw);
    const group = [launch(offer!, 'g1', 'cpus:1;mem:64'), launch(offer!, 'g2', 'cpus:1;mem:64')].map((op) => op.launch.task_infos[0]!);
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 'solo', 'cpus:0.5;mem:64'), { type: 'LAUNCH_GROUP', launch_group: { task_group: { tasks: group } } }], filters: { refuse_seconds: 0 } } });
    const solo = await agent.nextRun();
    expect(solo.run_task!.framework_info!.name).toBe('grouper');
    const run = await agent.messages.next((m) => m.type === 'RUN_TASK_GROUP', 'RUN_TASK_GROUP');
    expect(run.run_task_group!.task_group!.tasks.map((t) => t.task_id!.value)).toEqual(['g1', 'g2']);
    // Already sent whole with "solo": now only its id.
    expect([run.run_task_group!.framework_info!.id!.value, run.run_task_group!.framework_info!.name]).toEqual([fw.frameworkId, '']);
    expect([...master.daemon.core!.frameworks.get(fw.frameworkId)!.tasks.keys()].sort()).toEqual(['g1', 'g2', 'solo']);
  });

  test('reconciliation: explicit answers per task, implicit lists every active task', async () => {
    const agent = track(await FakeAgent.register(master.address));
    const fw = track(await TestScheduler.subscribe(master.address, { capabilities: [{ type: 'PARTITION_AWARE' }] }));
    const [offer] = await offered(fw);
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 'a', 'cpus:1;mem:64'), launch(offer!, 'b', 'cpus:1;mem:64')] } });
    await agent.nextRun();
    await agent.nextRun();
    agent.status(fw.frameworkId, 'a', 'TASK_RUNNING');
    await fw.nextUpdate('a', 'TASK_RUNNING');

    fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 'a' } }, { task_id: { value: 'nope' }, agent_id: { value: agent.agentId } }] } });
    const a = await fw.nextUpdate('a');
    expect([a.state, a.reason, a.uuid.length]).toEqual(['TASK_RUNNING', 'REASON_RECONCILIATION', 0]);
    const nope = await fw.nextUpdate('nope');
    expect([nope.state, nope.reason]).toEqual(['TASK_GONE', 'REASON_RECONCILIATION']);

    fw.send({ type: 'RECONCILE', reconcile: { tasks: [] } });
    const states = new Map<string, string>();
    for (let i = 0; i < 2; i++) {
      const s = (await fw.events.next((e) => e.type === 'UPDATE' && e.update!.status!.reason === 'REASON_RECONCILIATION', 'implicit')).update!.status!;
      states.set(s.task_id!.value, s.state);
    }
    expect(Object.fromEntries(states)).toEqual({ a: 'TASK_RUNNING', b: 'TASK_STAGING' });
  });

  describe('validation: every rejection names the field and value, and nothing is lost', () => {
    test('a call before SUBSCRIBE ends the stream with FAILED_PRECONDITION', async () => {
      const s = track(TestScheduler.open(master.address));
      s.send({ type: 'REVIVE', revive: { roles: [] } });
      const err = await s.nextError();
      expect([err.code, err.fatal]).toEqual([grpc.status.FAILED_PRECONDITION, true]);
      expect(err.message).toMatch(/first call must be SUBSCRIBE, got REVIVE/);
    });

    test('an invalid role is refused at SUBSCRIBE', async () => {
      await expect(TestScheduler.subscribe(master.address, { roles: ['bad role'] })).rejects.toThrow(/roles\[0\].*bad role/);
    });

    test('a call for another framework id ends the stream', async () => {
      const fw = track(await TestScheduler.subscribe(master.address));
      fw.send({ framework_id: { value: 'someone-else' }, type: 'REVIVE', revive: {} } as never);
      const err = await fw.nextError();
      expect(err.fatal).toBe(true);
      expect(err.message).toMatch(/someone-else/);
    });

    test('unknown offers: an ERROR naming them, and the tasks are dropped (LOST for non-partition-aware)', async () => {
      track(await FakeAgent.register(master.address));
      const fw = track(await TestScheduler.subscribe(master.address));
      const [offer] = await offered(fw);
      fw.send({ type: 'ACCEPT', request_id: 'r1', accept: { offer_ids: [offer!.id!, { value: 'no-such-offer' }], operations: [launch(offer!, 't', 'cpus:1;mem:64')] } });
      const lost = await fw.nextUpdate('t');
      expect([lost.state, lost.reason]).toEqual(['TASK_LOST', 'REASON_INVALID_OFFERS']);
      const err = await fw.nextError();
      expect(err.request_id).toBe('r1');
      expect(err.message).toMatch(/accept\.offer_ids\[1\]: unknown or already used offer "no-such-offer"/);
      // The valid offer's resources were returned: offered again.
      expect((await offered(fw)).length).toBe(1);
    });

    // Duplicate task ids and oversized fields: "ACCEPT: bad input is refused" below.
    test('resources beyond the offer get TASK_ERROR; the rest is returned', async () => {
      const agent = track(await FakeAgent.register(master.address, { resources: 'cpus:2;mem:1024' }));
      const fw = track(await TestScheduler.subscribe(master.address));
      const [offer] = await offered(fw);
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 'big', 'cpus:8;mem:64'), launch(offer!, 'ok', 'cpus:1;mem:64')], filters: { refuse_seconds: 0 } } });
      const big = await fw.nextUpdate('big');
      expect([big.state, big.reason]).toEqual(['TASK_ERROR', 'REASON_TASK_INVALID']);
      expect(big.message).toMatch(/cpus/);
      expect((await agent.nextRun()).run_task!.task!.task_id!.value).toBe('ok');
      const [again] = await offered(fw);
      expect(again!.resources.find((r) => r.name === 'cpus')!.scalar!.value).toBe(1);
    });

    test('an oversized message is rejected with RESOURCE_EXHAUSTED and the master keeps serving', async () => {
      const fw = track(await TestScheduler.subscribe(master.address));
      fw.send({ type: 'MESSAGE', message: { agent_id: { value: 'x' }, data: Buffer.alloc(5 * 1024 * 1024) } });
      const ended = (await fw.events.whenEnded('the framework stream')) as grpc.ServiceError;
      expect(ended.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const other = track(await TestScheduler.subscribe(master.address));
      expect(other.frameworkId).not.toBe('');
    });
  });

  describe('framework failover', () => {
    test('within failover_timeout it keeps its tasks; after it, its tasks are killed and the id is gone', async () => {
      const agent = track(await FakeAgent.register(master.address));
      const fw = await TestScheduler.subscribe(master.address, { failover_timeout: 60 });
      const id = fw.frameworkId;
      const [offer] = await offered(fw);
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 't', 'cpus:1;mem:64')] } });
      await agent.nextRun();
      fw.close();
      await waitFor(() => master.daemon.core!.frameworks.get(id)!.connected === false, 'disconnect noticed');

      master.clock.advance(30_000);
      const back = track(await TestScheduler.subscribe(master.address, { id: { value: id }, failover_timeout: 60 }));
      expect(back.frameworkId).toBe(id);
      expect(master.daemon.core!.frameworks.get(id)!.tasks.has('t')).toBe(true);
      back.close();
      await waitFor(() => master.daemon.core!.frameworks.get(id)?.connected === false, 'second disconnect noticed');

      master.clock.advance(60_000);
      const kill = await agent.messages.next((m) => m.type === 'KILL_TASK', 'KILL_TASK');
      expect(kill.kill_task!.task_id!.value).toBe('t');
      expect(master.daemon.core!.frameworks.has(id)).toBe(false);
      await expect(TestScheduler.subscribe(master.address, { id: { value: id } })).rejects.toThrow(/has been removed/);
    });

    test('a newer SUBSCRIBE with the same id closes the older stream', async () => {
      const first = track(await TestScheduler.subscribe(master.address, { failover_timeout: 60 }));
      const second = track(await TestScheduler.subscribe(master.address, { id: { value: first.frameworkId }, failover_timeout: 60 }));
      const err = await first.nextError();
      expect(err.message).toMatch(/failed over/);
      expect(second.frameworkId).toBe(first.frameworkId);
    });
  });

  test('berth_tasks counts active tasks by state as they launch, change, complete and their framework is removed', async () => {
    const agent = track(await FakeAgent.register(master.address));
    const fw = track(await TestScheduler.subscribe(master.address));
    const [offer] = await offered(fw);
    const core = master.daemon.core!;
    /** The tracker's running counts, and what walking every active task finds: always the same. */
    const counts = () => {
      const walked: Record<string, number> = {};
      for (const f of core.frameworks.values()) for (const t of f.tasks.values()) walked[t.state] = (walked[t.state] ?? 0) + 1;
      const kept = Object.fromEntries(core.tasks.countsByState());
      expect(kept).toEqual(walked);
      return kept;
    };
    expect(counts()).toEqual({});
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: ['a', 'b', 'c'].map((id) => launch(offer!, id, 'cpus:0.1;mem:16')) } });
    for (let i = 0; i < 3; i++) await agent.nextRun();
    expect(counts()).toEqual({ TASK_STAGING: 3 });

    agent.status(fw.frameworkId, 'a', 'TASK_RUNNING');
    await fw.nextUpdate('a', 'TASK_RUNNING');
    const uuid = agent.status(fw.frameworkId, 'b', 'TASK_RUNNING');
    await fw.nextUpdate('b', 'TASK_RUNNING');
    expect(counts()).toEqual({ TASK_STAGING: 1, TASK_RUNNING: 2 });
    agent.status(fw.frameworkId, 'b', 'TASK_RUNNING', { uuid }); // resent (not acknowledged yet): no change of the task
    await fw.nextUpdate('b', 'TASK_RUNNING');
    expect(counts()).toEqual({ TASK_STAGING: 1, TASK_RUNNING: 2 });

    agent.status(fw.frameworkId, 'a', 'TASK_FINISHED');
    const finished = await fw.nextUpdate('a', 'TASK_FINISHED');
    expect(counts()).toEqual({ TASK_STAGING: 1, TASK_RUNNING: 1, TASK_FINISHED: 1 }); // until acknowledged
    fw.ack(finished);
    await agent.messages.next((m) => m.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT' && m.status_update_acknowledgement!.task_id!.value === 'a', 'ack of FINISHED');
    expect(counts()).toEqual({ TASK_STAGING: 1, TASK_RUNNING: 1 });

    await track(new TestOperator(master.address)).call('Teardown', { framework_id: { value: fw.frameworkId } });
    await waitFor(() => !core.frameworks.has(fw.frameworkId), 'the framework removed');
    expect(counts()).toEqual({});
  });

  test('maintenance: offers carry the window, frameworks on the machine get inverse offers, answers are reported', async () => {
    const agent = track(await FakeAgent.register(master.address, { hostname: 'maint-1' }));
    const fw = track(await TestScheduler.subscribe(master.address));
    const [offer] = await offered(fw);
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 't', 'cpus:1;mem:64')], filters: { refuse_seconds: 0 } } });
    await agent.nextRun();
    const client = new (berthV1().Operator)(master.address, grpc.credentials.createInsecure());
    const call = <T>(method: string, req: unknown) => new Promise<T>((resolve, reject) => (client as never as Record<string, (r: unknown, cb: (e: Error | null, x: T) => void) => void>)[method]!(req, (e, x) => (e ? reject(e) : resolve(x))));
    try {
      const start = { nanoseconds: String(BigInt(master.clock.now() + 3_600_000) * 1_000_000n) };
      await call('UpdateMaintenanceSchedule', { schedule: { windows: [{ machine_ids: [{ hostname: 'maint-1' }], unavailability: { start } }] } });
      const inverse = (await fw.events.next((e) => e.type === 'INVERSE_OFFERS', 'INVERSE_OFFERS')).inverse_offers!.inverse_offers;
      expect(inverse.map((o) => [o.agent_id!.value, o.hostname, o.unavailability!.start!.nanoseconds])).toEqual([[agent.agentId, 'maint-1', start.nanoseconds]]);
      const [next] = await offered(fw);
      expect(next!.unavailability!.start!.nanoseconds).toBe(start.nanoseconds);
      fw.send({ type: 'DECLINE_INVERSE_OFFERS', decline_inverse_offers: { inverse_offer_ids: [inverse[0]!.id!] } });
      fw.send({ type: 'DECLINE', decline: { offer_ids: [next!.id!] } });
      // Calls are handled in order: once this reconciliation is answered, both were handled.
      fw.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't' } }] } });
      await fw.nextUpdate('t');
      const status = await call<{ draining_machines: { id: { hostname: string }; statuses: { status: string }[] }[] }>('GetMaintenanceStatus', {});
      expect(status.draining_machines.map((m) => [m.id.hostname, m.statuses.map((x) => x.status)])).toEqual([['maint-1', ['DECLINE']]]);
    } finally {
      client.close();
    }
  });

  test('operator API answers with the cluster state', async () => {
    const agent = track(await FakeAgent.register(master.address, { hostname: 'h1', resources: 'cpus:4;mem:1024;cpus(web):2' }));
    const fw = track(await TestScheduler.subscribe(master.address, { roles: ['web'] }));
    await offered(fw);
    const client = new (berthV1().Operator)(master.address, grpc.credentials.createInsecure());
    try {
      type Q = { name: string; value: number }[];
      const roles = await new Promise<{ roles: { name: string; offered: Q; reserved: Q }[] }>((resolve, reject) => client.GetRoles({}, ((err: Error | null, res: never) => (err ? reject(err) : resolve(res))) as never));
      const web = roles.roles.find((r) => r.name === 'web')!;
      expect(web.offered.find((q) => q.name === 'cpus')!.value).toBe(6);
      expect(web.reserved.find((q) => q.name === 'cpus')!.value).toBe(2);
      const agents = await new Promise<{ agents: { agent_info: { id: { value: string }; hostname: string } }[] }>((resolve, reject) => client.GetAgents({}, ((err: Error | null, res: never) => (err ? reject(err) : resolve(res))) as never));
      expect(agents.agents.map((a) => [a.agent_info.id.value, a.agent_info.hostname])).toEqual([[agent.agentId, 'h1']]);
      const err = await new Promise<grpc.ServiceError>((resolve) => client.DrainAgent({ agent_id: { value: 'nope' } }, ((e: grpc.ServiceError) => resolve(e)) as never));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(err.details).toMatch(/agent_id: unknown agent "nope"/);
    } finally {
      client.close();
    }
  });

  // Issue 15, point 15: a status update about a task id is about the one task that has the id, and
  // nothing the master cannot keep small is launched.
  describe('ACCEPT: bad input is refused, and what the framework is told is true', () => {
    const cpus = (offer: { resources: { name: string; scalar?: { value: number } | null }[] }): number =>
      offer.resources.filter((r) => r.name === 'cpus').reduce((s, r) => s + r.scalar!.value, 0);

    const updatesFor = (fw: TestScheduler, taskId: string) => fw.events.log.filter((e) => e.type === 'UPDATE' && e.update?.status?.task_id?.value === taskId).map((e) => e.update!.status!.state);

    test('two tasks with one id: the whole ACCEPT is refused, nothing runs, one TASK_ERROR per id, the offer comes back whole', async () => {
      const agent = track(await FakeAgent.register(master.address, { resources: 'cpus:4;mem:1024' }));
      const fw = track(await TestScheduler.subscribe(master.address));
      const [offer] = await offered(fw);
      fw.send({
        type: 'ACCEPT',
        request_id: 'accept-1',
        accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 'dup', 'cpus:1;mem:64'), launch(offer!, 'other', 'cpus:1;mem:64'), launch(offer!, 'dup', 'cpus:1;mem:64')], filters: { refuse_seconds: 60 } },
      });
      const error = await fw.nextError();
      expect(error).toMatchObject({ code: 3, fatal: false, request_id: 'accept-1' });
      expect(error.message).toBe(
        'accept: refused as a whole, nothing launched or converted: duplicate task id "dup" at operations[0].launch.task_infos[0].task_id.value and operations[2].launch.task_infos[0].task_id.value (a task id may appear once in an ACCEPT)',
      );
      const dup = await fw.nextUpdate('dup');
      expect([dup.state, dup.reason]).toEqual(['TASK_ERROR', 'REASON_TASK_INVALID']);
      expect(dup.message).toBe(`not launched: the ACCEPT was ${error.message.slice('accept: '.length)}`);
      expect((await fw.nextUpdate('other')).state).toBe('TASK_ERROR');

      // The offer's resources went back without the ACCEPT's 60 s filter: offered again at once, whole.
      const [again] = await offered(fw);
      expect(cpus(again!)).toBe(4);
      // A corrected ACCEPT runs; its RUN_TASK is the first the agent ever got (one stream, in order).
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [again!.id!], operations: [launch(again!, 'dup', 'cpus:1;mem:64')] } });
      const run = await agent.nextRun();
      expect(run.run_task!.task!.task_id!.value).toBe('dup');
      expect(agent.messages.log.filter((m) => m.type === 'RUN_TASK')).toHaveLength(1);
      agent.status(fw.frameworkId, 'dup', 'TASK_RUNNING');
      await fw.nextUpdate('dup', 'TASK_RUNNING');
      // For "dup" the framework heard: TASK_ERROR (the refused ACCEPT, in which nothing ran), then the running task.
      expect(updatesFor(fw, 'dup')).toEqual(['TASK_ERROR', 'TASK_RUNNING']);
    });

    test('a launch with the id of a running task is an ERROR event, never an update that would speak of the running task', async () => {
      const agent = track(await FakeAgent.register(master.address, { resources: 'cpus:4;mem:1024' }));
      const fw = track(await TestScheduler.subscribe(master.address));
      const [offer] = await offered(fw);
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [launch(offer!, 'web', 'cpus:1;mem:64')], filters: { refuse_seconds: 0 } } });
      await agent.nextRun();
      agent.status(fw.frameworkId, 'web', 'TASK_RUNNING');
      await fw.nextUpdate('web', 'TASK_RUNNING');

      const [next] = await offered(fw);
      fw.send({ type: 'ACCEPT', request_id: 'again', accept: { offer_ids: [next!.id!], operations: [launch(next!, 'web', 'cpus:1;mem:64'), launch(next!, 'api', 'cpus:1;mem:64')] } });
      const error = await fw.nextError();
      expect(error).toMatchObject({ code: 3, fatal: false, request_id: 'again' });
      expect(error.message).toContain('operations[0].launch.task_infos[0].task_id.value: duplicate task id "web": the framework already has a task with this id');
      expect((await agent.nextRun()).run_task!.task!.task_id!.value).toBe('api');
      await fw.settled();
      expect(updatesFor(fw, 'web')).toEqual(['TASK_RUNNING']);
      const tasks = await track(new TestOperator(master.address)).call<{ tasks: { task_id: { value: string }; state: string }[] }>('GetTasks');
      expect(tasks.tasks.map((t) => [t.task_id.value, t.state]).sort()).toEqual([['api', 'TASK_STAGING'], ['web', 'TASK_RUNNING']]);
    });

    test('a 1 MiB task name gets TASK_ERROR naming the field, the limit and a shortened value; nothing is kept or run', async () => {
      const agent = track(await FakeAgent.register(master.address, { resources: 'cpus:4;mem:1024' }));
      const fw = track(await TestScheduler.subscribe(master.address));
      const [offer] = await offered(fw);
      const big = launch(offer!, 'big-name', 'cpus:1;mem:64', { name: 'n'.repeat(1 << 20) });
      const env = launch(offer!, 'big-env', 'cpus:1;mem:64', { command: { value: 'true', environment: { variables: [{ name: 'BLOB', value: 'x'.repeat(100_000) }] } } });
      fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [big, env], filters: { refuse_seconds: 0 } } });
      const name = await fw.nextUpdate('big-name');
      expect([name.state, name.reason]).toEqual(['TASK_ERROR', 'REASON_TASK_INVALID']);
      expect(name.message).toBe(`operations[0].launch.task_infos[0].name: must be at most 255 characters, got 1048576: "${'n'.repeat(80)}…"`);
      const blob = await fw.nextUpdate('big-env');
      expect(blob.message).toMatch(/^operations\[1\]\.launch\.task_infos\[0\]\.command\.environment\.variables\[0\]\.value: must be at most 65536 characters, got 100000: "x{80}…"$/);

      const [again] = await offered(fw);
      expect(cpus(again!)).toBe(4);
      expect(agent.messages.log.filter((m) => m.type === 'RUN_TASK')).toEqual([]);
      const tasks = await track(new TestOperator(master.address)).call<{ tasks: unknown[] }>('GetTasks', { include_completed: true });
      expect(tasks.tasks).toEqual([]);
    });
  });
});
