import { FakeAgent, launch, startTestMaster, TestOperator, TestScheduler, type TestMaster, closeAfterEach } from '../support/master-harness';

/**
 * What a framework is told about an ACCEPT it got wrong (issue 15, point 15), over real gRPC with a
 * fake clock and a simulated agent: a status update about a task id is about the one task that has
 * the id, and nothing the master cannot keep small is launched.
 */
describe('ACCEPT: bad input is refused, and what the framework is told is true', () => {
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
