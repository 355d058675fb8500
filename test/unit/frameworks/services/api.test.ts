import * as grpc from '@grpc/grpc-js';
import { createFramework } from '../../../../src/frameworks/services';
import { createServicesApi, servicesDefinition, servicesGrpcHandlers, type ServicesApi } from '../../../../src/frameworks/services/api';
import { nullLogger } from '../../../../src/common/logging';
import { MemoryKeyValueStore } from '../../../../src/frameworks/sdk/store';
import { FakeClock } from '../../../../src/common/clock';
import { FakeSchedulerApi, Harness } from './harness';

/** Calls a handler the way grpc-js does and returns what it answered. */
function callGrpc(api: ServicesApi, method: keyof ServicesApi, request: unknown): Promise<{ err: Partial<grpc.StatusObject> | null; res: unknown }> {
  const handlers = servicesGrpcHandlers(api);
  return new Promise((resolve) => {
    (handlers[method] as grpc.handleUnaryCall<unknown, unknown>)({ request } as grpc.ServerUnaryCall<unknown, unknown>, (err, res) => resolve({ err: err as Partial<grpc.StatusObject> | null, res }));
  });
}

/** Encodes and decodes a response as the wire would (catches fields of the wrong type or name). */
function roundTrip(method: keyof ServicesApi, res: unknown): unknown {
  const m = servicesDefinition()[method];
  return m.responseDeserialize(m.responseSerialize(res as never));
}

describe('services API', () => {
  it('PutApp → GetApp → ScaleApp → RestartApp → ListDeployments → CancelDeployment → DeleteApp', async () => {
    const h = await Harness.started();
    const api = createServicesApi(h.fw);
    const put = await api.PutApp({ definition: 'id: /shop/web\ncmd: serve\ninstances: 2\ncpus: 0.1\nmem: 32\nportDefinitions: [{name: http}]' });
    expect(put).toEqual({ deployment_id: expect.any(String), created: true, app_id: '/shop/web' });
    const launched = await h.offer({ agent: 'a1' });
    await h.running(launched.map((t) => t.taskId));
    // Running is not yet done: the CREATE succeeds once the tasks stayed up minReadySeconds (default 3 s).
    expect((await api.GetApp({ app_id: '/shop/web' })).app?.status?.deployment).toMatchObject({ kind: 'CREATE', state: 'RUNNING' });
    await h.advance(2999);
    expect((await api.GetApp({ app_id: '/shop/web' })).app?.status?.deployment).toMatchObject({ kind: 'CREATE', state: 'RUNNING' });
    await h.advance(1);

    const got = await api.GetApp({ app_id: 'shop/web' });
    expect(roundTrip('GetApp', got)).toMatchObject({
      app: {
        id: '/shop/web',
        definition: { id: '/shop/web', cmd: 'serve', instances: 2, kill_selection: 'YOUNGEST_FIRST' },
        status: { instances: 2, running: 2, healthy: 2, staged: 0, waiting: '', rejected_offers: { considered: 1, launched: 1 }, deployment: null, last_deployment: { kind: 'CREATE', state: 'SUCCEEDED' } },
      },
    });
    expect(JSON.parse(got.app!.definition_json!)).toMatchObject({ id: '/shop/web', portDefinitions: [{ name: 'http', port: 0, protocol: 'tcp' }] });
    expect((got.app!.status!.tasks ?? []).map((t) => t.task_id).sort()).toEqual(launched.map((t) => t.taskId).sort());

    const scaled = await api.ScaleApp({ app_id: '/shop/web', instances: 3 });
    const restarted = await api.RestartApp({ app_id: '/shop/web', force: true });
    const listed = roundTrip('ListDeployments', await api.ListDeployments({ app_id: '/shop/web', include_finished: true })) as { deployments: { id: string; kind: string; state: string }[] };
    expect(listed.deployments.map((d) => [d.kind, d.state])).toEqual([['RESTART', 'RUNNING'], ['SCALE', 'SUPERSEDED'], ['CREATE', 'SUCCEEDED']]);
    expect(listed.deployments.map((d) => d.id)).toEqual([restarted.deployment_id, scaled.deployment_id, put.deployment_id]);
    expect((await api.ListDeployments({})).deployments).toHaveLength(1);

    const cancelled = await api.CancelDeployment({ deployment_id: restarted.deployment_id });
    expect(cancelled.rollback_deployment_id).not.toBe('');
    // Back to the last stable version (2 instances, the running tasks): done at once.
    const rollback = (await api.ListDeployments({ include_finished: true })).deployments?.find((d) => d.id === cancelled.rollback_deployment_id);
    expect(rollback).toMatchObject({ kind: 'ROLLBACK', state: 'SUCCEEDED', rollback_of: restarted.deployment_id, from_version: expect.any(String) });
    expect(roundTrip('GetApp', await api.GetApp({ app_id: '/shop/web' }))).toMatchObject({ app: { status: { instances: 2, running: 2, deployment: null } } });

    const deleted = await api.DeleteApp({ app_id: '/shop/web' });
    expect(deleted.deployment_id).not.toBe('');
    for (const k of h.api.kills) await h.update(k.taskId, 'TASK_KILLED');
    expect((await api.ListApps({})).apps).toEqual([]);
  });

  it('PutApp takes the message form too, and ListApps filters by group', async () => {
    const h = await Harness.started();
    const api = createServicesApi(h.fw);
    await api.PutApp({ app: { id: '/shop/web', cmd: 'serve', instances: 0, constraints: [{ field: 'hostname', operator: 'UNIQUE' }], upgrade_strategy: { minimum_health_capacity: 0.5 } } });
    await api.PutApp({ app: { id: '/shop/db', args: ['db', '--fast'], instances: 0 } });
    await api.PutApp({ definition: '{"id": "/ops/mon", "cmd": "mon", "instances": 0}' });
    expect((await api.ListApps({ prefix: '/shop' })).apps?.map((a) => a.id)).toEqual(['/shop/db', '/shop/web']);
    expect((await api.ListApps({ prefix: '' })).apps).toHaveLength(3);
    const web = (await api.GetApp({ app_id: '/shop/web' })).app!.definition!;
    expect(web).toMatchObject({ constraints: [{ field: 'hostname', operator: 'UNIQUE', value: '' }], upgrade_strategy: { minimum_health_capacity: 0.5, maximum_over_capacity: 1 } });
  });

  it('maps errors to gRPC statuses with the field-level message', async () => {
    const h = await Harness.started();
    const api = createServicesApi(h.fw);
    expect(await callGrpc(api, 'PutApp', { definition: '{"id": "/a", "cmd": "x", "instances": -1}' })).toEqual({
      err: { code: grpc.status.INVALID_ARGUMENT, details: 'instances: must be an integer >= 0, got -1' }, res: undefined,
    });
    expect((await callGrpc(api, 'PutApp', { app: { id: '/a', cmd: 'x', instances: 1, cpus: -2 } })).err).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'cpus: must be a number >= 0.001, got -2' });
    expect((await callGrpc(api, 'PutApp', {})).err?.details).toBe('source: exactly one of definition (JSON/YAML text) and app must be set, got neither');
    expect((await callGrpc(api, 'GetApp', { app_id: '/nope' })).err).toEqual({ code: grpc.status.NOT_FOUND, details: 'app_id: unknown app "/nope"' });
    expect((await callGrpc(api, 'GetApp', { app_id: '' })).err).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'app_id: is required' });
    expect((await callGrpc(api, 'CancelDeployment', { deployment_id: 'x' })).err?.code).toBe(grpc.status.NOT_FOUND);
    await api.PutApp({ definition: '{"id": "/a", "cmd": "x"}' });
    const locked = await callGrpc(api, 'ScaleApp', { app_id: '/a', instances: 3 });
    expect(locked.err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await callGrpc(api, 'ScaleApp', { app_id: '/a', instances: 3, force: true })).err).toBeNull();
    expect((await callGrpc(api, 'ScaleApp', { app_id: '/a', instances: 100001, force: true })).err).toEqual({
      code: grpc.status.INVALID_ARGUMENT, details: 'instances: must be at most 100000, the most instances an app may have, got 100001',
    });
    expect((await callGrpc(api, 'PutApp', { app: { id: '/a', cmd: 'x', instances: 4294967295 } })).err).toEqual({
      code: grpc.status.INVALID_ARGUMENT, details: 'instances: must be at most 100000, the most instances an app may have, got 4294967295',
    });
    expect((await callGrpc(api, 'PutApp', { definition: '{"id": "/b", "cmd": "x", "role": "ops"}' })).err?.details).toBe('role: must be one of the framework\'s roles (*), got "ops"');
  });

  it('createFramework: FrameworkInfo from options, and the Services binding', async () => {
    const fw = await createFramework({ clock: new FakeClock(), logger: nullLogger, store: new MemoryKeyValueStore(), scheduler: new FakeSchedulerApi(), options: { roles: ['web', 'ops'], principal: 'svc' } });
    expect(fw.frameworkInfo()).toEqual({
      name: 'services', roles: ['web', 'ops'], failover_timeout: 604800, checkpoint: true, principal: 'svc',
      capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }],
    });
    const [binding] = fw.grpcServices!();
    expect(Object.values(binding.definition).map((m) => m.path).sort()).toEqual([
      '/berth.v1.Services/CancelDeployment', '/berth.v1.Services/DeleteApp', '/berth.v1.Services/GetApp', '/berth.v1.Services/ListApps',
      '/berth.v1.Services/ListDeployments', '/berth.v1.Services/PutApp', '/berth.v1.Services/RestartApp', '/berth.v1.Services/ScaleApp',
    ]);
    expect(Object.keys(binding.implementation).sort()).toEqual(['CancelDeployment', 'DeleteApp', 'GetApp', 'ListApps', 'ListDeployments', 'PutApp', 'RestartApp', 'ScaleApp']);
    await fw.stop?.();
    await expect(Promise.resolve().then(() => createFramework({ clock: new FakeClock(), logger: nullLogger, store: new MemoryKeyValueStore(), scheduler: new FakeSchedulerApi(), options: { roles: [], refuseSeconds: -1, bogus: 1 } })))
      .rejects.toThrow(/options\.bogus: is not a known option/);
  });
});
