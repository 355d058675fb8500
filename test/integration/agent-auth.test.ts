import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent } from '../../src/agent/agent';
import { configToken } from '../../src/common/config';
import { SystemClock } from '../../src/common/clock';
import { memoryLogger, type MemoryLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import type { GetAgentsResponse__Output } from '../../src/generated/berth/v1/GetAgentsResponse';
import { Authenticator, Authorizer } from '../../src/common/auth';
import { bearer, startTestMaster, TestOperator, waitFor, type TestMaster } from '../support/master-harness';

const TOKEN = { agent: 'token-of-the-agents', ops: 'token-of-the-operators' } as const;

/** A real Agent with and without a bearer token against a master with authentication and ACLs on. */
describe('agent: authentication with the master', () => {
  let master: TestMaster;
  let operator: TestOperator;
  const dirs: string[] = [];
  const agents: Agent[] = [];

  beforeEach(async () => {
    const authenticate = new Authenticator(Object.entries(TOKEN).map(([name, token]) => ({ name, token })));
    const authorizer = new Authorizer([{ principals: ['agent'], actions: ['register_agent'], objects: ['*'], effect: 'allow' }]);
    master = await startTestMaster({ authenticate, authorizer });
    operator = new TestOperator(master.address, bearer(TOKEN.ops));
  });

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ killTasks: true });
    operator.close();
    await master.stop();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  function newAgent(hostname: string, token: string | undefined, logger: MemoryLogger): Agent {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-auth-'));
    dirs.push(workDir);
    const agent = new Agent({
      master: master.address,
      hostname,
      resources: Resources.parse('cpus:1;mem:256;disk:100;ports:[31000-31009]'),
      workDir,
      clock: new SystemClock(),
      reconnectMinMs: 20,
      reconnectMaxMs: 200,
      token,
      logger,
    });
    agents.push(agent);
    return agent;
  }

  it('registers an agent whose token may register_agent and keeps refusing one without a token', async () => {
    const tokenFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-agent-token-')), 'token');
    dirs.push(path.dirname(tokenFile));
    fs.writeFileSync(tokenFile, `${TOKEN.agent}\n`);
    const goodLogs = memoryLogger('debug');
    const good = newAgent('good-host', configToken({ tokenFile }), goodLogs);
    const badLogs = memoryLogger('warn');
    const bad = newAgent('bad-host', undefined, badLogs);
    await good.start();
    await bad.start();
    await good.whenRegistered();
    expect(good.agentId).toBeDefined();

    await waitFor(() => badLogs.entries.filter((e) => e.message.includes('refused')).length >= 2, 'the tokenless agent to be refused again (backoff retries)');
    const refusal = badLogs.entries.find((e) => e.message.includes('refused'))!;
    expect(refusal.fields).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(bad.registered).toBe(false);
    expect(bad.agentId).toBeUndefined();

    const { agents: known } = await operator.call<GetAgentsResponse__Output>('GetAgents');
    expect(known.map((a) => a.agent_info?.hostname)).toEqual(['good-host']);
    // The token is a secret: nothing the agent logs contains it.
    expect(JSON.stringify(goodLogs.entries)).not.toContain(TOKEN.agent);
  });
});
