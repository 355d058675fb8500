import * as grpc from '@grpc/grpc-js';
import { Resources } from '../../src/common/resources';
import { resourcesToWire } from '../../src/common/wire';
import type { GetAgentsResponse__Output } from '../../src/generated/berth/v1/GetAgentsResponse';
import type { GetQuotaResponse__Output } from '../../src/generated/berth/v1/GetQuotaResponse';
import type { GetRolesResponse__Output } from '../../src/generated/berth/v1/GetRolesResponse';
import type { GetWeightsResponse__Output } from '../../src/generated/berth/v1/GetWeightsResponse';
import type { Offer__Output } from '../../src/generated/berth/v1/Offer';
import type { Resource__Output } from '../../src/generated/berth/v1/Resource';
import { FakeAgent, scalar, startTestMaster, TestOperator, TestScheduler, type TestMaster, closeAfterEach } from '../support/master-harness';

/**
 * Allocation policy through the operator API, over real gRPC: weights and quota change who is
 * offered what, reservations (operator or framework) steer resources to one role, and invalid
 * values are refused with the field named.
 */
describe('master: weights, quota and reservations', () => {
  let master: TestMaster;
  let operator: TestOperator;
  const track = closeAfterEach();

  beforeEach(async () => {
    master = await startTestMaster();
    operator = track(new TestOperator(master.address));
  });

  afterEach(async () => {
    await master.stop();
  });

  const agents = async (n: number, resources: string) => {
    const out: FakeAgent[] = [];
    for (let i = 0; i < n; i++) out.push(track(await FakeAgent.register(master.address, { hostname: `host-${i}`, resources })));
    return out;
  };
  const framework = async (role: string) => track(await TestScheduler.subscribe(master.address, { name: role, roles: [role] }));

  /** Runs one allocation cycle and returns the offers each framework gets (one OFFERS event each). */
  async function cycle(...fws: TestScheduler[]): Promise<Offer__Output[][]> {
    master.clock.advance(1000); // the allocation interval
    return Promise.all(fws.map(async (fw) => (await fw.nextOffers()).offers!.offers));
  }

  /** Declines offers with refuse_seconds 0 (until the next batch) and waits until the master has taken them back. */
  async function decline(fw: TestScheduler, offers: readonly Offer__Output[]): Promise<void> {
    fw.send({ type: 'DECLINE', decline: { offer_ids: offers.map((o) => o.id!), filters: { refuse_seconds: 0 } } });
    await fw.settled();
  }

  const quantity = (list: readonly { name: string; value: number }[], name: string) => list.find((q) => q.name === name)?.value ?? 0;
  const cpus = (offers: readonly Offer__Output[]) => offers.reduce((sum, o) => sum + scalar(o.resources, 'cpus'), 0);
  const reserved = (resources: readonly Resource__Output[]) => resources.filter((r) => r.reservations.length > 0);
  const reservedFor = (role: string, text: string) => resourcesToWire(Resources.parse(text).pushReservation({ type: 'DYNAMIC', role }));

  async function agentTotal(agentId: string): Promise<Resource__Output[]> {
    const { agents: all } = await operator.call<GetAgentsResponse__Output>('GetAgents');
    return all.find((a) => a.agent_info!.id!.value === agentId)!.total_resources;
  }

  /** What of an agent sits in outstanding offers, whoever holds them. */
  async function agentOffered(agentId: string): Promise<Resource__Output[]> {
    const { agents: all } = await operator.call<GetAgentsResponse__Output>('GetAgents');
    return all.find((a) => a.agent_info!.id!.value === agentId)!.offered_resources;
  }

  describe('weights', () => {
    test('UpdateWeights changes the split of the cluster between two roles from the next cycle on; GetRoles shows the equalised shares', async () => {
      await agents(8, 'cpus:1;mem:1024');
      const web = await framework('web');
      const batch = await framework('batch');

      const [webEven, batchEven] = await cycle(web, batch);
      expect([webEven!.length, batchEven!.length]).toEqual([4, 4]);
      await decline(web, webEven!);
      await decline(batch, batchEven!);
      // The prompt cycle after the declines offers each framework what the other declined (declined
      // resources return to the decliner only at the next batch); declined too, all wait for it.
      master.clock.advance(0);
      const swapped = await Promise.all([web, batch].map(async (fw) => (await fw.nextOffers()).offers!.offers));
      expect(swapped.map((offers) => offers.length)).toEqual([4, 4]);
      await decline(web, swapped[0]!);
      await decline(batch, swapped[1]!);

      await operator.call('UpdateWeights', { weights: [{ role: 'web', weight: 3 }] });
      const [webHeavy, batchLight] = await cycle(web, batch);
      expect([webHeavy!.length, batchLight!.length]).toEqual([6, 2]);

      const { weights } = await operator.call<GetWeightsResponse__Output>('GetWeights');
      expect(weights.map((w) => [w.role, w.weight])).toEqual([['web', 3]]);
      const { roles } = await operator.call<GetRolesResponse__Output>('GetRoles');
      const byName = new Map(roles.map((r) => [r.name, r]));
      // DRF equalises dominant share ÷ weight: web holds 6/8 with weight 3, batch 2/8 with weight 1.
      expect(byName.get('web')!.dominant_share).toBeCloseTo(0.25);
      expect(byName.get('batch')!.dominant_share).toBeCloseTo(0.25);
      expect([quantity(byName.get('web')!.allocated, 'cpus'), quantity(byName.get('batch')!.allocated, 'cpus')]).toEqual([6, 2]);
      expect(byName.get('web')!.frameworks.map((f) => f.value)).toEqual([web.frameworkId]);
    });
  });

  describe('quota', () => {
    test('a quota limit caps what a role is offered; the other role gets the rest', async () => {
      await agents(4, 'cpus:1;mem:1024');
      await operator.call('UpdateQuota', { configs: [{ role: 'batch', limits: [{ name: 'cpus', value: 1 }, { name: 'mem', value: 1024 }] }] });
      const web = await framework('web');
      const batch = await framework('batch');

      const [toWeb, toBatch] = await cycle(web, batch);
      expect(cpus(toBatch!)).toBe(1);
      expect(cpus(toWeb!)).toBe(3);
      const { configs } = await operator.call<GetQuotaResponse__Output>('GetQuota');
      expect(configs.map((c) => [c.role, c.limits.map((l) => [l.name, l.value])])).toEqual([['batch', [['cpus', 1], ['mem', 1024]]]]);
    });

    test("a quota change rescinds the role's outstanding offers, and only that role's", async () => {
      await agents(2, 'cpus:2;mem:2048');
      const web = await framework('web');
      const batch = await framework('batch');
      const [toWeb, toBatch] = await cycle(web, batch);
      expect([toWeb!.length, toBatch!.length]).toEqual([1, 1]);

      await operator.call('UpdateQuota', { configs: [{ role: 'batch', limits: [{ name: 'cpus', value: 1 }] }] });
      const rescind = await batch.events.next((e) => e.type === 'RESCIND', 'RESCIND');
      expect(rescind.rescind!.offer_id!.value).toBe(toBatch![0]!.id!.value);
      await web.settled(); // a RESCIND to web would have come before this answer on its stream
      expect(web.events.log.filter((e) => e.type === 'RESCIND')).toEqual([]);

      const [again] = await cycle(batch);
      expect(cpus(again!)).toBe(1);
    });
  });

  describe('reservations', () => {
    test('operator ReserveResources: only the role is offered the reserved resources; UnreserveResources reverts', async () => {
      const [agent] = await agents(1, 'cpus:4;mem:4096');
      await operator.call('ReserveResources', { agent_id: { value: agent!.agentId }, resources: reservedFor('web', 'cpus:2;mem:1024') });
      const total = await agentTotal(agent!.agentId);
      expect(scalar(reserved(total), 'cpus')).toBe(2);
      expect(reserved(total).every((r) => r.reservations.at(-1)!.role === 'web' && r.reservations.at(-1)!.type === 'DYNAMIC')).toBe(true);

      // Another role is offered only what is not reserved; the reserved part waits for its role.
      const batch = await framework('batch');
      const [toBatch] = await cycle(batch);
      expect(reserved(toBatch!.flatMap((o) => o.resources))).toEqual([]);
      expect(cpus(toBatch!)).toBe(2);
      const web = await framework('web');
      const [toWeb] = await cycle(web);
      expect(scalar(reserved(toWeb!.flatMap((o) => o.resources)), 'cpus')).toBe(2);
      expect(cpus(toWeb!)).toBe(2);
      await decline(web, toWeb!);
      await decline(batch, toBatch!);

      await operator.call('UnreserveResources', { agent_id: { value: agent!.agentId }, resources: reservedFor('web', 'cpus:2;mem:1024') });
      expect(reserved(await agentTotal(agent!.agentId))).toEqual([]);
      master.clock.advance(1000);
      const offered = await agentOffered(agent!.agentId);
      expect([scalar(offered, 'cpus'), reserved(offered)]).toEqual([4, []]);
    });

    test('ReserveResources on resources held in an offer rescinds the offer first, as the contract says', async () => {
      const [agent] = await agents(1, 'cpus:4;mem:4096');
      const web = await framework('web');
      const [held] = await cycle(web);

      await operator.call('ReserveResources', { agent_id: { value: agent!.agentId }, resources: reservedFor('web', 'cpus:1;mem:512') });
      expect((await web.events.next((e) => e.type === 'RESCIND', 'RESCIND')).rescind!.offer_id!.value).toBe(held![0]!.id!.value);
      const [again] = await cycle(web);
      expect(scalar(reserved(again![0]!.resources), 'cpus')).toBe(1);
      expect(cpus(again!)).toBe(4);
    });

    test("a framework's RESERVE in ACCEPT reserves for its role: the agent's total and the next offer carry it, and the registry keeps it", async () => {
      const [agent] = await agents(1, 'cpus:4;mem:4096');
      const web = await framework('web');
      const [[offer]] = (await cycle(web)) as [Offer__Output[]];
      web.send({ type: 'ACCEPT', accept: { offer_ids: [offer!.id!], operations: [{ type: 'RESERVE', reserve: { resources: reservedFor('web', 'cpus:1;mem:512') } }], filters: { refuse_seconds: 0 } } });
      await web.settled();

      expect(scalar(reserved(await agentTotal(agent!.agentId)), 'cpus')).toBe(1);
      const [again] = await cycle(web);
      expect(scalar(reserved(again![0]!.resources), 'cpus')).toBe(1);
      expect(cpus(again!)).toBe(4);
      await master.daemon.core!.flush();
      const record = master.store.records.get(`agents/${agent!.agentId}`) as { total: unknown };
      expect(Resources.fromJSON(record.total).filter((e) => e.reservations.length > 0).toString()).toMatch(/cpus\(web.*\):1/);
    });
  });

  describe('invalid values are refused with the field named, and change nothing', () => {
    test('weights: not positive, or no role → INVALID_ARGUMENT', async () => {
      const negative = await operator.refusal('UpdateWeights', { weights: [{ role: 'web', weight: 2 }, { role: 'batch', weight: -1 }] });
      expect(negative.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(negative.details).toMatch(/weights\[1\]\.weight: .*-1/);
      const noRole = await operator.refusal('UpdateWeights', { weights: [{ role: '', weight: 2 }] });
      expect([noRole.code, noRole.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/weights\[0\]\.role/)]);
      expect((await operator.call<GetWeightsResponse__Output>('GetWeights')).weights).toEqual([]);
    });

    test('quota: negative values, role "*", a guarantee above its limit → INVALID_ARGUMENT, all or nothing', async () => {
      const negative = await operator.refusal('UpdateQuota', { configs: [{ role: 'web', limits: [{ name: 'cpus', value: -1 }] }] });
      expect([negative.code, negative.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/configs\[0\]\.limits\[0\]/)]);
      const star = await operator.refusal('UpdateQuota', { configs: [{ role: '*', limits: [{ name: 'cpus', value: 1 }] }] });
      expect([star.code, star.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/configs\[0\]\.role/)]);
      const aboveLimit = await operator.refusal('UpdateQuota', {
        configs: [
          { role: 'web', limits: [{ name: 'cpus', value: 2 }] },
          { role: 'batch', guarantees: [{ name: 'cpus', value: 3 }], limits: [{ name: 'cpus', value: 2 }] },
        ],
      });
      expect([aboveLimit.code, aboveLimit.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/configs\[1\]\.guarantees\[0\].*cpus/)]);
      expect((await operator.call<GetQuotaResponse__Output>('GetQuota')).configs).toEqual([]);
    });

    test('quota: guarantees beyond the cluster → FAILED_PRECONDITION unless forced', async () => {
      await agents(1, 'cpus:4;mem:4096');
      const request = { configs: [{ role: 'web', guarantees: [{ name: 'cpus', value: 8 }] }] };
      const refused = await operator.refusal('UpdateQuota', request);
      expect([refused.code, refused.details]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringMatching(/configs\[0\]\.guarantees\[0\].*cpus.*8.*4/)]);
      expect((await operator.call<GetQuotaResponse__Output>('GetQuota')).configs).toEqual([]);
      await operator.call('UpdateQuota', { ...request, force: true });
      expect((await operator.call<GetQuotaResponse__Output>('GetQuota')).configs.map((c) => c.role)).toEqual(['web']);
    });

    test('reservations: unknown agent → NOT_FOUND, more than the agent has → FAILED_PRECONDITION, no reservation → INVALID_ARGUMENT', async () => {
      const [agent] = await agents(1, 'cpus:4;mem:4096');
      const unknown = await operator.refusal('ReserveResources', { agent_id: { value: 'no-such-agent' }, resources: reservedFor('web', 'cpus:1') });
      expect([unknown.code, unknown.details]).toEqual([grpc.status.NOT_FOUND, expect.stringMatching(/agent_id: unknown agent "no-such-agent"/)]);
      const tooMuch = await operator.refusal('ReserveResources', { agent_id: { value: agent!.agentId }, resources: reservedFor('web', 'cpus:8') });
      expect([tooMuch.code, tooMuch.details]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringMatching(/resources: .*cpus:8/)]);
      const unreserved = await operator.refusal('ReserveResources', { agent_id: { value: agent!.agentId }, resources: resourcesToWire(Resources.parse('cpus:1')) });
      expect([unreserved.code, unreserved.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/resources\[0\]: .*reservation/)]);
      const notReserved = await operator.refusal('UnreserveResources', { agent_id: { value: agent!.agentId }, resources: reservedFor('web', 'cpus:1') });
      expect([notReserved.code, notReserved.details]).toEqual([grpc.status.FAILED_PRECONDITION, expect.stringMatching(/resources: /)]);
      expect(reserved(await agentTotal(agent!.agentId))).toEqual([]);
    });
  });
});
