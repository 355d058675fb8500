import * as grpc from '@grpc/grpc-js';
import { Authenticator, Authorizer } from '../../src/common/auth';
import type { Offer__Output } from '../../src/generated/berth/v1/Offer';
import {
  bearer, closeAfterEach, FakeAgent, launch, startTestMaster, TestOperator, TestScheduler, type TestMaster,
} from '../support/master-harness';

/** Bearer tokens of the test's principals (plain tokens, at least 16 characters as the tokens file requires). */
const TOKEN = {
  web: 'token-of-the-web-framework',
  rogue: 'token-of-a-framework-that-may-not-run-tasks',
  agent: 'token-of-the-agents',
  ops: 'token-of-the-operators',
  viewer: 'token-of-someone-who-only-looks',
  drainer: 'token-of-someone-who-may-drain-agent-a',
} as const;
type Who = keyof typeof TOKEN;

/** The ACLs: first matching rule decides; nothing but `view` without a rule. */
const ACLS = new Authorizer([
  { principals: ['web'], actions: ['register_framework', 'run_task'], objects: ['web'], effect: 'allow' },
  { principals: ['rogue'], actions: ['register_framework'], objects: ['web'], effect: 'allow' },
  { principals: ['agent'], actions: ['register_agent'], objects: ['*'], effect: 'allow' },
  { principals: ['ops'], actions: ['set_quota', 'set_weights', 'teardown', 'drain_agent'], objects: ['*'], effect: 'allow' },
  { principals: ['drainer'], actions: ['drain_agent'], objects: ['agent-a'], effect: 'allow' },
]);

/**
 * A master with authentication and authorization on, over real gRPC: who may connect at all, who may
 * subscribe in which role and launch what, which operator calls need which ACL, and who may
 * register agents.
 */
describe('master: authentication and ACLs', () => {
  let master: TestMaster;
  const track = closeAfterEach();

  beforeEach(async () => {
    const authenticate = new Authenticator(Object.entries(TOKEN).map(([name, token]) => ({ name, token })));
    master = await startTestMaster({ authenticate, authorizer: ACLS });
  });

  afterEach(async () => {
    await master.stop();
  });

  const operatorAs = (who: Who) => track(new TestOperator(master.address, bearer(TOKEN[who])));
  const subscribeAs = async (who: Who, roles: string[], extra: Record<string, unknown> = {}) =>
    track(await TestScheduler.subscribe(master.address, { name: who, roles, ...extra }, { metadata: bearer(TOKEN[who]) }));
  const agentAs = async (who: Who, id?: string) => track(await FakeAgent.register(master.address, { metadata: bearer(TOKEN[who]), id }));

  async function offered(fw: TestScheduler): Promise<Offer__Output[]> {
    master.clock.advance(1000); // the allocation interval
    return (await fw.nextOffers()).offers!.offers;
  }

  test('without a valid bearer token, every service answers UNAUTHENTICATED', async () => {
    for (const metadata of [new grpc.Metadata(), bearer('not-a-token-anyone-has')]) {
      const fw = track(TestScheduler.open(master.address, metadata));
      fw.send({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'x', user: 'x', roles: ['web'] } } });
      expect(((await fw.events.whenEnded('the scheduler stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);

      const agent = track(FakeAgent.connect(master.address, { metadata }));
      expect(((await agent.messages.whenEnded('the agent stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);

      const operator = track(new TestOperator(master.address, metadata));
      expect((await operator.refusal('GetState')).code).toBe(grpc.status.UNAUTHENTICATED);
      expect(((await operator.watch().whenEnded('the watch stream')) as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    }
  });

  describe('frameworks', () => {
    test('a principal may subscribe only in roles an ACL lets it register in, and only as itself', async () => {
      const refused = await subscribeAs('web', ['web', 'batch']).catch((err: grpc.ServiceError) => err);
      expect(refused).toMatchObject({ code: grpc.status.PERMISSION_DENIED, message: expect.stringMatching(/framework_info\.roles: principal "web" may not register in role "batch"/) });
      const impostor = await subscribeAs('rogue', ['web'], { principal: 'web' }).catch((err: grpc.ServiceError) => err);
      expect(impostor).toMatchObject({ code: grpc.status.PERMISSION_DENIED, message: expect.stringMatching(/framework_info\.principal: "web" does not match the authenticated principal "rogue"/) });
      const web = await subscribeAs('web', ['web']);
      expect(web.frameworkId).not.toBe('');
    });

    test('a task its principal may not run gets TASK_ERROR with REASON_TASK_UNAUTHORIZED; an authorized one runs', async () => {
      const agent = await agentAs('agent');
      const rogue = await subscribeAs('rogue', ['web']);
      const [forRogue] = await offered(rogue);
      rogue.send({ type: 'ACCEPT', accept: { offer_ids: [forRogue!.id!], operations: [launch(forRogue!, 'not-allowed', 'cpus:1;mem:64')], filters: { refuse_seconds: 3600 } } });
      const error = await rogue.nextUpdate('not-allowed');
      expect([error.state, error.reason]).toEqual(['TASK_ERROR', 'REASON_TASK_UNAUTHORIZED']);
      expect(error.message).toMatch(/role "web"/);

      // The authenticated principal is the framework's, whether or not its FrameworkInfo names it.
      const web = await subscribeAs('web', ['web']);
      const [forWeb] = await offered(web);
      web.send({ type: 'ACCEPT', accept: { offer_ids: [forWeb!.id!], operations: [launch(forWeb!, 'allowed', 'cpus:1;mem:64')] } });
      expect((await agent.nextRun()).run_task!.task!.task_id!.value).toBe('allowed');
      expect(agent.messages.log.filter((m) => m.type === 'RUN_TASK').map((m) => m.run_task!.task!.task_id!.value)).toEqual(['allowed']);
    });
  });

  describe('operators', () => {
    test('quota, weights, teardown and drain are refused without their ACL; reading is allowed', async () => {
      const agent = await agentAs('agent');
      const web = await subscribeAs('web', ['web']);
      const calls: [Parameters<TestOperator['call']>[0], object][] = [
        ['UpdateQuota', { configs: [{ role: 'web', limits: [{ name: 'cpus', value: 1 }] }] }],
        ['UpdateWeights', { weights: [{ role: 'web', weight: 2 }] }],
        ['DrainAgent', { agent_id: { value: agent.agentId } }],
        ['Teardown', { framework_id: { value: web.frameworkId } }],
      ];
      const viewer = operatorAs('viewer');
      for (const [method, request] of calls) {
        const refused = await viewer.refusal(method, request);
        expect([method, refused.code]).toEqual([method, grpc.status.PERMISSION_DENIED]);
        expect(refused.details).toMatch(/principal "viewer" may not/);
      }
      await viewer.call('GetState');

      const ops = operatorAs('ops');
      for (const [method, request] of calls) await ops.call(method, request);
      expect((await web.nextError()).message).toMatch(/framework removed: operator TEARDOWN/);
    });

    test('an ACL scoped to one agent lets its principal drain that agent and no other', async () => {
      await agentAs('agent', 'agent-a');
      await agentAs('agent', 'agent-b');
      const drainer = operatorAs('drainer');
      const refused = await drainer.refusal('DeactivateAgent', { agent_id: { value: 'agent-b' } });
      expect([refused.code, refused.details]).toEqual([grpc.status.PERMISSION_DENIED, expect.stringMatching(/"drainer" may not drain_agent on "agent-b"/)]);
      await drainer.call('DrainAgent', { agent_id: { value: 'agent-a' } });
    });
  });

  test('an agent whose principal may not register_agent is refused with PERMISSION_DENIED', async () => {
    const agent = track(FakeAgent.connect(master.address, { metadata: bearer(TOKEN.viewer) }));
    const ended = (await agent.messages.whenEnded('the refused agent stream')) as grpc.ServiceError;
    expect([ended.code, ended.details]).toEqual([grpc.status.PERMISSION_DENIED, expect.stringMatching(/principal "viewer" may not register new agents/)]);
    expect(agent.messages.log.map((m) => m.type)).toEqual([]);
    await agentAs('agent');
  });
});
