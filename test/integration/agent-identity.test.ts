import * as grpc from '@grpc/grpc-js';
import { Authenticator, Authorizer } from '../../src/common/auth';
import { MasterMetrics } from '../../src/master/metrics';
import type { GetAgentsResponse__Output } from '../../src/generated/berth/v1/GetAgentsResponse';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import {
  bearer, closeAfterEach, FakeAgent, launch, reportedTask, scalar, startTestMaster, TestOperator, TestScheduler, type TestMaster,
} from '../support/master-harness';

const TOKEN = {
  'agent-a': 'token-of-the-agent-on-host-a',
  'agent-b': 'token-of-the-agent-on-host-b',
  'agent-c': 'token-of-an-agent-scoped-to-ids',
  web: 'token-of-the-web-framework',
  ops: 'token-of-the-operators',
} as const;
type Who = keyof typeof TOKEN;

/**
 * An agent acts only as itself: its id is bound to the principal that registered it, and the master
 * believes it only about the tasks it placed there. Over real gRPC with TLS, authentication and ACLs on.
 */
describe('master: agent identity', () => {
  let master: TestMaster;
  let metrics: MasterMetrics;
  const track = closeAfterEach();

  beforeEach(async () => {
    const authenticate = new Authenticator(Object.entries(TOKEN).map(([name, token]) => ({ name, token })));
    const authorizer = new Authorizer([
      { principals: ['agent-a', 'agent-b'], actions: ['register_agent'], objects: ['*'], effect: 'allow' },
      { principals: ['agent-c'], actions: ['register_agent'], objects: ['agent-c-1'], effect: 'allow' },
      { principals: ['web'], actions: ['register_framework', 'run_task'], objects: ['*'], effect: 'allow' },
      { principals: ['ops'], actions: ['maintenance'], objects: ['host-a'], effect: 'allow' },
      { principals: ['ops'], actions: ['view_frameworks', 'view_tasks'], objects: ['*'], effect: 'allow' },
    ]);
    metrics = new MasterMetrics({ processMetrics: false });
    master = await startTestMaster({ authenticate, authorizer, metrics, tls: true });
  });

  afterEach(async () => {
    await master.stop();
  });

  const agentAs = (who: Who, opts: Parameters<typeof FakeAgent.register>[1] = {}) => FakeAgent.register(master.address, { metadata: bearer(TOKEN[who]), ...opts }).then(track);
  const operator = () => track(new TestOperator(master.address, bearer(TOKEN.ops)));

  async function runningTaskOn(agent: FakeAgent, fw: TestScheduler, taskId: string): Promise<void> {
    master.clock.advance(1000);
    const offer = (await fw.nextOffers()).offers!.offers.find((o) => o.agent_id!.value === agent.agentId)!;
    fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations: [launch(offer, taskId, 'cpus:1;mem:64')], filters: { refuse_seconds: 3600 } } });
    await agent.nextRun();
    agent.status(fw.frameworkId, taskId, 'TASK_RUNNING');
    fw.ack(await fw.nextUpdate(taskId, 'TASK_RUNNING'));
  }

  /** Per agent: the cpus the allocator holds for tasks, and the cpus of that agent's live tasks. */
  async function books(): Promise<Map<string, { allocated: number; tasks: number }>> {
    const ops = operator();
    const { agents } = await ops.call<GetAgentsResponse__Output>('GetAgents');
    const { tasks } = await ops.call<GetTasksResponse__Output>('GetTasks');
    return new Map(agents.map((a) => {
      const id = a.agent_info!.id!.value;
      const live = tasks.filter((t) => t.agent_id?.value === id && !/FINISHED|FAILED|KILLED|LOST|GONE|ERROR|DROPPED/.test(String(t.state)));
      return [id, { allocated: scalar(a.allocated_resources, 'cpus'), tasks: live.reduce((s, t) => s + scalar(t.resources, 'cpus'), 0) }];
    }));
  }

  test('a second agent principal can neither take over another agent id nor change its tasks', async () => {
    const a = await agentAs('agent-a', { hostname: 'host-a' });
    const web = track(await TestScheduler.subscribe(master.address, { name: 'web', roles: ['*'] }, { metadata: bearer(TOKEN.web) }));
    await runningTaskOn(a, web, 'on-a');
    const b = await agentAs('agent-b', { hostname: 'host-b' });

    // B re-registers under A's id, reporting A's task as finished and a framework of its own making.
    const impostor = track(FakeAgent.connect(master.address, {
      metadata: bearer(TOKEN['agent-b']), id: a.agentId, hostname: 'host-a',
      tasks: [reportedTask(web.frameworkId, 'on-a', 'cpus:1;mem:64', { state: 'TASK_FINISHED' })],
      frameworks: [{ id: { value: 'injected-framework' }, name: 'injected', user: 'root', roles: ['*'], principal: 'web' }],
    }));
    const refused = (await impostor.messages.whenEnded('the impostor stream')) as grpc.ServiceError;
    expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(refused.details).toMatch(new RegExp(`agent ${a.agentId} is bound to another principal; principal "agent-b" may not re-register it`));

    // B on its own stream: a status update for A's task changes nothing.
    const forged = b.status(web.frameworkId, 'on-a', 'TASK_FINISHED');
    // B is answered (so it stops resending), and nobody else hears of it.
    await b.messages.next((m) => m.type === 'STATUS_UPDATE_ACKNOWLEDGEMENT' && Buffer.from(m.status_update_acknowledgement!.uuid).equals(forged), 'the acknowledgement of the refused update');
    await web.settled();
    expect(web.events.log.filter((e) => e.type === 'UPDATE' && e.update?.status?.state === 'TASK_FINISHED')).toEqual([]);

    // A's stream is untouched and still its own: A can report, and its report counts.
    const { agents } = await operator().call<GetAgentsResponse__Output>('GetAgents');
    expect(agents.find((x) => x.agent_info!.id!.value === a.agentId)).toMatchObject({ connected: true, lifecycle: 'REGISTERED' });
    expect((await operator().call<{ frameworks: { framework_info?: { id?: { value: string } } }[] }>('GetFrameworks')).frameworks.map((f) => f.framework_info?.id?.value)).toEqual([web.frameworkId]);
    const before = await books();
    expect(before.get(a.agentId)).toEqual({ allocated: 1, tasks: 1 });
    expect(before.get(b.agentId)).toEqual({ allocated: 0, tasks: 0 });

    const refusals = await metrics.registry.getSingleMetric('berth_agent_identity_refusals_total')!.get();
    expect(Object.fromEntries(refusals.values.map((v) => [v.labels.kind, v.value]))).toEqual({ reregister: 1, status_update: 1 });

    a.status(web.frameworkId, 'on-a', 'TASK_FINISHED');
    await web.nextUpdate('on-a', 'TASK_FINISHED');
    for (const [, b2] of await books()) expect(b2.allocated).toBe(b2.tasks);
  });

  test('the owner re-registers its own id on a new connection', async () => {
    const a = await agentAs('agent-a', { hostname: 'host-a' });
    const again = await agentAs('agent-a', { hostname: 'host-a', id: a.agentId });
    expect(again.agentId).toBe(a.agentId);
    expect(((await a.messages.whenEnded('the older stream')) as grpc.ServiceError).code).toBe(grpc.status.ABORTED);
  });

  test('register_agent is checked with the agent id as its object; maintenance with the hostname', async () => {
    // Scoped to one id: it may re-register that id, and nothing else (a new agent has no id yet).
    const fresh = track(FakeAgent.connect(master.address, { metadata: bearer(TOKEN['agent-c']), hostname: 'host-c' }));
    expect(((await fresh.messages.whenEnded('REGISTER')) as grpc.ServiceError).details).toMatch(/principal "agent-c" may not register new agents/);
    const other = track(FakeAgent.connect(master.address, { metadata: bearer(TOKEN['agent-c']), hostname: 'host-c', id: 'agent-c-2' }));
    expect(((await other.messages.whenEnded('REREGISTER')) as grpc.ServiceError).details).toMatch(/may not re-register agent agent-c-2/);
    const own = await agentAs('agent-c', { hostname: 'host-c', id: 'agent-c-1' });
    expect(own.agentId).toBe('agent-c-1');

    const ops = operator();
    await ops.call('StartMaintenance', { machines: [{ hostname: 'HOST-A' }] });
    const refused = await ops.refusal('StartMaintenance', { machines: [{ hostname: 'host-a' }, { hostname: 'host-b' }] });
    expect([refused.code, refused.details]).toEqual([grpc.status.PERMISSION_DENIED, 'principal "ops" may not change maintenance of machine "host-b"']);
  });
});
