import type { Event__Output } from '../../src/generated/berth/v1/Event';
import type { FrameworkInfo } from '../../src/generated/berth/v1/FrameworkInfo';
import { closeAfterEach, FakeAgent, launch, startTestMaster, TestScheduler, waitFor, type TestMaster } from '../support/master-harness';

/**
 * Gang offers over real gRPC: a master (fake clock) and simulated agents on loopback sockets, a
 * framework speaking Scheduler.Connect. A gang is offered whole, refused when answered in part,
 * accepted whole and launched on every agent; one that cannot fit holds nothing; a held gang
 * expires whole at the hold bound (20 s by default); a gang larger than the cluster is refused at
 * SUBSCRIBE with the numbers.
 */
describe('master: gang offers', () => {
  let master: TestMaster;
  const track = closeAfterEach();

  beforeEach(async () => {
    master = await startTestMaster({ allocationIntervalMs: 1000 });
  });

  afterEach(async () => {
    await master.stop();
  });

  function gangInfo(gangId: string, count: number, spread: Record<string, unknown> = { kind: 'ONE_PER_AGENT' }, cpus = 1): Partial<FrameworkInfo> {
    return {
      name: 'gangs',
      demand: { '*': { shapes: [], gangs: [{ gang_id: gangId, shapes: [{ resources: [{ name: 'cpus', value: cpus }, { name: 'mem', value: 128 }], count }], spread }] } },
    };
  }

  async function agents(n: number): Promise<FakeAgent[]> {
    const out: FakeAgent[] = [];
    for (let i = 0; i < n; i++) out.push(track(await FakeAgent.register(master.address, { hostname: `h${i}`, resources: 'cpus:2;mem:1024' })));
    return out;
  }

  const held = () => master.daemon.core!.allocator.heldGangs();

  test('a gang is offered whole, a partial ACCEPT_GANG is refused and changes nothing, the whole one launches every task', async () => {
    const all = await agents(3);
    const fw = track(await TestScheduler.subscribe(master.address, gangInfo('train', 3)));
    master.clock.advance(1000);
    const event = await fw.nextOffers();
    const offers = event.offers!.offers;
    const gang = event.offers!.gangs[0]!;
    expect(gang).toMatchObject({ gang_id: 'train', role: '*', tasks: 3 });
    expect(offers).toHaveLength(3);
    expect(new Set(offers.map((o) => o.agent_id!.value)).size).toBe(3);
    expect(offers.every((o) => o.gang_id === 'train')).toBe(true);
    expect(gang.offer_ids.map((o) => o.value).sort()).toEqual(offers.map((o) => o.id!.value).sort());
    // Each offer holds what its one task needs, not the whole agent.
    for (const o of offers) expect(o.resources.map((r) => [r.name, r.scalar?.value]).sort()).toEqual([['cpus', 1], ['mem', 128]]);

    const task = (o: (typeof offers)[number], i: number) => ({ offer_id: o.id!, operations: [launch(o, `t${i}`, 'cpus:1;mem:128')] });
    // Two of three offers: refused as a whole, nothing launched, the gang still held.
    fw.send({ type: 'ACCEPT_GANG', request_id: 'part', accept_gang: { gang_id: 'train', launches: offers.slice(0, 2).map(task) } });
    const partial = await fw.nextError();
    expect(partial).toMatchObject({ code: 3, fatal: false, request_id: 'part' });
    expect(partial.message).toContain(`accept_gang.launches: 1 of the gang's 3 offers are not listed (${offers[2]!.id!.value})`);
    // Plain ACCEPT and DECLINE cannot take a gang's offer either.
    fw.send({ type: 'DECLINE', decline: { offer_ids: [offers[0]!.id!] } });
    expect((await fw.nextError()).message).toContain(`decline.offer_ids[0]: offer "${offers[0]!.id!.value}" is part of gang "train": answer the whole gang with ACCEPT_GANG or DECLINE_GANG`);
    await fw.settled();
    expect(held()).toHaveLength(1);
    expect(held()[0]!.parts).toHaveLength(3);

    fw.send({ type: 'ACCEPT_GANG', accept_gang: { gang_id: 'train', launches: offers.map(task) } });
    const runs = await Promise.all(all.map((a) => a.nextRun()));
    expect(runs.map((r) => r.run_task!.task!.task_id!.value).sort()).toEqual(['t0', 't1', 't2']);
    expect(held()).toEqual([]);
    // Accepted once: not offered again while declared, and no RESCIND_GANG comes at the old bound.
    master.clock.advance(25_000);
    await fw.settled();
    expect(fw.events.log.filter((e) => e.type === 'OFFERS')).toHaveLength(1);
    expect(fw.events.log.some((e) => e.type === 'RESCIND_GANG')).toBe(false);
  });

  test('a gang that cannot fit now is not offered and holds nothing; it is offered once room appears', async () => {
    await agents(2);
    track(await FakeAgent.register(master.address, { hostname: 'small', resources: 'cpus:1;mem:1024' }));
    // 3 × 1.5 cpus, one per agent: within the cluster's totals, but the small agent cannot take one.
    const fw = track(await TestScheduler.subscribe(master.address, gangInfo('wide', 3, { kind: 'ONE_PER_AGENT' }, 1.5)));
    for (let i = 0; i < 3; i++) master.clock.advance(1000);
    await fw.settled();
    expect(fw.events.log.some((e) => e.type === 'OFFERS')).toBe(false);
    expect(held()).toEqual([]);
    for (const [id, agent] of master.daemon.core!.agents) expect(master.daemon.core!.allocator.available(id)!.equals(agent.total)).toBe(true);
    await agents(1);
    master.clock.advance(1000);
    const event = await fw.nextOffers();
    expect(event.offers!.gangs[0]!.offer_ids).toHaveLength(3);
    expect(event.offers!.offers.some((o) => o.hostname === 'small')).toBe(false);
  });

  test('a held gang is rescinded whole at the hold bound, then offered again after one more hold time', async () => {
    await agents(2);
    const fw = track(await TestScheduler.subscribe(master.address, gangInfo('g', 4, { kind: 'MAX_PER_AGENT', max_per_agent: 2 })));
    master.clock.advance(1000);
    const first = await fw.nextOffers();
    const ids = first.offers!.offers.map((o) => o.id!.value).sort();
    expect(ids).toHaveLength(2);
    const holdUntil = Number(BigInt(first.offers!.gangs[0]!.hold_until!.nanoseconds) / 1_000_000n);
    expect(holdUntil - master.clock.now()).toBeLessThanOrEqual(20_000);
    master.clock.advance(holdUntil - master.clock.now() - 1);
    await fw.settled();
    expect(fw.events.log.some((e) => e.type === 'RESCIND_GANG')).toBe(false);
    master.clock.advance(1);
    const rescind = await fw.events.next((e: Event__Output) => e.type === 'RESCIND_GANG', 'RESCIND_GANG');
    expect(rescind.rescind_gang).toMatchObject({ gang_id: 'g', reason: 'hold_expired' });
    expect(rescind.rescind_gang!.offer_ids.map((o) => o.value).sort()).toEqual(ids);
    expect(fw.events.log.some((e) => e.type === 'RESCIND')).toBe(false);
    expect(held()).toEqual([]);
    for (const id of master.daemon.core!.agents.keys()) expect(master.daemon.core!.allocator.available(id)!.toString()).toBe('cpus:2;mem:1024');
    // Not re-held at once (that would be hoarding by silence): only one hold time later.
    master.clock.advance(19_000);
    await fw.settled();
    expect(fw.events.log.filter((e) => e.type === 'OFFERS')).toHaveLength(1);
    master.clock.advance(2000);
    await waitFor(() => fw.events.log.filter((e) => e.type === 'OFFERS').length === 2, 'the gang offered again');
  });

  test('DECLINE_GANG returns every offer; losing an agent rescinds the whole gang', async () => {
    const all = await agents(2);
    const fw = track(await TestScheduler.subscribe(master.address, gangInfo('g', 2)));
    master.clock.advance(1000);
    await fw.nextOffers();
    fw.send({ type: 'DECLINE_GANG', decline_gang: { gang_id: 'g', filters: { refuse_seconds: 1 } } });
    await fw.settled();
    expect(held()).toEqual([]);
    fw.send({ type: 'DECLINE_GANG', decline_gang: { gang_id: 'g' } });
    expect(await fw.nextError()).toMatchObject({ code: 5, message: expect.stringContaining('decline_gang.gang_id: no gang offer "g" is outstanding') });
    master.clock.advance(1000);
    const again = await fw.nextOffers();
    all[0]!.close();
    const rescind = await fw.events.next((e: Event__Output) => e.type === 'RESCIND_GANG', 'RESCIND_GANG');
    expect(rescind.rescind_gang!.gang_id).toBe('g');
    expect(rescind.rescind_gang!.offer_ids).toHaveLength(again.offers!.offers.length);
    expect(held()).toEqual([]);
  });

  test('a gang larger than the whole cluster is refused at SUBSCRIBE with the numbers', async () => {
    await agents(2);
    const err = await TestScheduler.subscribe(master.address, gangInfo('huge', 5, { kind: 'ANY' }, 1)).then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain('framework_info.demand["*"].gangs[0]: gang "huge" can never be placed: it asks 5 × {cpus 1, mem 128} = cpus 5 of 4, mem 640 of 2048 in the whole cluster (2 agents); cpus exceed the cluster\'s total');
    const spread = await TestScheduler.subscribe(master.address, gangInfo('spread', 3)).then(() => undefined, (e: Error) => e);
    expect(spread?.message).toContain('3 tasks at most 1 per agent need 3 agents; the cluster has 2');
  });
});
