/**
 * Issue 15, point 9: an operator's change is answered only once it is durable, and a registry write
 * that fails is an error to the caller that changes nothing (Mesos's registrar order: persist, then
 * apply, then answer). Real gRPC; the in-memory registry is made to fail its writes. Each call is
 * shown to fail with UNAVAILABLE naming what failed, with the master's state and the registry as
 * they were, and then to succeed, durably, once the registry writes again.
 */
import * as grpc from '@grpc/grpc-js';
import type { GetAgentsResponse__Output } from '../../src/generated/berth/v1/GetAgentsResponse';
import type { GetFrameworksResponse__Output } from '../../src/generated/berth/v1/GetFrameworksResponse';
import type { GetRolesResponse__Output } from '../../src/generated/berth/v1/GetRolesResponse';
import { closeAfterEach, FakeAgent, startTestMaster, TestOperator, TestScheduler, type TestMaster } from '../support/master-harness';

describe('operator changes: persist, then apply, then answer', () => {
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

  /** Calls `method` while every registry write fails: it must be refused, naming `what`, with the registry untouched. */
  async function refusedWhileWritesFail(method: Parameters<TestOperator['call']>[0], request: object, what: RegExp): Promise<void> {
    const before = structuredClone([...master.store.records]);
    master.store.failWrites = new Error('disk full');
    try {
      const err = (await operator.call(method, request).then(() => undefined, (e: grpc.ServiceError) => e))!;
      expect(err).toBeDefined();
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      expect(err.details).toMatch(what);
      expect(err.details).toMatch(/the registry write failed \(disk full\); nothing was changed/);
    } finally {
      master.store.failWrites = undefined;
    }
    expect([...master.store.records]).toEqual(before);
  }

  async function agentState(agentId: string) {
    const { agents } = await operator.call<GetAgentsResponse__Output>('GetAgents', { include_gone: true });
    const a = agents.find((x) => x.agent_info!.id!.value === agentId)!;
    return { lifecycle: a.lifecycle, deactivated: a.deactivated, drain: a.drain_info?.state ?? null };
  }

  test('UpdateWeights and UpdateQuota: refused unchanged when the write fails, durable when answered', async () => {
    await refusedWhileWritesFail('UpdateWeights', { weights: [{ role: 'web', weight: 3 }] }, /UpdateWeights of "web"/);
    const roles = async () => (await operator.call<GetRolesResponse__Output>('GetRoles')).roles.map((r) => [r.name, r.weight, r.quota?.limits?.length ?? 0]);
    expect(await roles()).toEqual([]);
    expect((await operator.call<{ weights: unknown[] }>('GetWeights')).weights).toEqual([]);

    const quota = { configs: [{ role: 'web', limits: [{ name: 'cpus', value: 2 }] }] };
    await refusedWhileWritesFail('UpdateQuota', quota, /UpdateQuota of "web"/);
    expect((await operator.call<{ configs: unknown[] }>('GetQuota')).configs).toEqual([]);

    await operator.call('UpdateWeights', { weights: [{ role: 'web', weight: 3 }] });
    expect(master.store.records.get('weights/web')).toBe(3);
    await operator.call('UpdateQuota', quota);
    expect(master.store.records.get('quotas/web')).toEqual({ guarantees: [], limits: [['cpus', 2000]] });
    expect(await roles()).toEqual([['web', 3, 1]]);
  });

  test('MarkAgentGone, DeactivateAgent, DrainAgent: refused unchanged when the write fails', async () => {
    const agent = track(await FakeAgent.register(master.address, { resources: 'cpus:2;mem:1024' }));
    const id = { agent_id: { value: agent.agentId } };
    const registered = { lifecycle: 'REGISTERED', deactivated: false, drain: null };

    await refusedWhileWritesFail('MarkAgentGone', id, new RegExp(`mark agent ${agent.agentId} gone`));
    expect(await agentState(agent.agentId)).toEqual(registered);
    expect(agent.messages.peek((m) => m.type === 'SHUTDOWN')).toEqual([]); // the agent was not told either
    await refusedWhileWritesFail('DeactivateAgent', id, new RegExp(`deactivate agent ${agent.agentId}`));
    expect(await agentState(agent.agentId)).toEqual(registered);
    await refusedWhileWritesFail('DrainAgent', id, new RegExp(`drain agent ${agent.agentId}`));
    expect(await agentState(agent.agentId)).toEqual(registered);
    // Still offered: nothing was applied.
    const fw = track(await TestScheduler.subscribe(master.address));
    master.clock.advance(1000);
    expect((await fw.nextOffers()).offers!.offers.map((o) => o.agent_id!.value)).toEqual([agent.agentId]);

    await operator.call('MarkAgentGone', id);
    expect((master.store.records.get(`agents/${agent.agentId}`) as { lifecycle: string }).lifecycle).toBe('GONE');
    expect((await agentState(agent.agentId)).lifecycle).toBe('GONE');
  });

  test('Teardown: refused when the write fails — the framework and its task stay; then removed for good', async () => {
    const agent = track(await FakeAgent.register(master.address, { resources: 'cpus:2;mem:1024' }));
    const fw = track(await TestScheduler.subscribe(master.address, { name: 'keeper' }));
    const frameworks = async () => (await operator.call<GetFrameworksResponse__Output>('GetFrameworks')).frameworks.map((f) => f.framework_info!.id!.value);

    await refusedWhileWritesFail('Teardown', { framework_id: { value: fw.frameworkId } }, new RegExp(`teardown of framework ${fw.frameworkId}`));
    expect(await frameworks()).toEqual([fw.frameworkId]);
    expect(fw.events.ended).toBeUndefined();
    expect(agent.messages.peek((m) => m.type === 'SHUTDOWN_FRAMEWORK')).toEqual([]);

    // The framework's own TEARDOWN while writes fail: a non-fatal ERROR, and it is still there.
    master.store.failWrites = new Error('disk full');
    fw.send({ type: 'TEARDOWN', teardown: {} });
    const error = await fw.nextError();
    master.store.failWrites = undefined;
    expect(error.fatal).toBe(false);
    expect(error.message).toMatch(/teardown of framework .*: the registry write failed \(disk full\); nothing was changed/);
    expect(await frameworks()).toEqual([fw.frameworkId]);

    await operator.call('Teardown', { framework_id: { value: fw.frameworkId } });
    expect(master.store.records.has(`removed-frameworks/${fw.frameworkId}`)).toBe(true);
    expect(await frameworks()).toEqual([]);
    await agent.messages.next((m) => m.type === 'SHUTDOWN_FRAMEWORK', 'SHUTDOWN_FRAMEWORK at the agent');
  });

  test('maintenance and reservations: refused unchanged when the write fails', async () => {
    const agent = track(await FakeAgent.register(master.address, { hostname: 'maint-1', resources: 'cpus:2;mem:1024' }));
    const schedule = { schedule: { windows: [{ machine_ids: [{ hostname: 'maint-1' }], unavailability: { start: { nanoseconds: '1700000100000000000' } } }] } };
    await refusedWhileWritesFail('UpdateMaintenanceSchedule', schedule, /UpdateMaintenanceSchedule/);
    expect((await operator.call<{ schedule: { windows: unknown[] } }>('GetMaintenanceSchedule')).schedule.windows).toEqual([]);

    await refusedWhileWritesFail('StartMaintenance', { machines: [{ hostname: 'maint-1' }] }, /StartMaintenance/);
    expect(await agentState(agent.agentId)).toEqual({ lifecycle: 'REGISTERED', deactivated: false, drain: null });

    const reserve = { agent_id: { value: agent.agentId }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, reservations: [{ type: 'DYNAMIC', role: 'db' }] }] };
    await refusedWhileWritesFail('ReserveResources', reserve, new RegExp(`reservation change on agent ${agent.agentId}`));
    const { agents } = await operator.call<GetAgentsResponse__Output>('GetAgents');
    expect(agents[0]!.total_resources.every((r) => r.reservations.length === 0)).toBe(true);

    await operator.call('ReserveResources', reserve);
    const after = await operator.call<GetAgentsResponse__Output>('GetAgents');
    expect(after.agents[0]!.total_resources.filter((r) => r.reservations.length > 0).map((r) => [r.name, r.scalar?.value])).toEqual([['cpus', 1]]);
  });
});
