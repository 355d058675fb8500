import * as fs from 'node:fs';
import * as path from 'node:path';
import { memoryLogger } from '../../src/common/logging';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import { buildTaskInfo } from '../../src/frameworks/services/task-builder';
import { parseAppDefinition } from '../../src/frameworks/services/app-definition';
import { appDefinitionToWire } from '../../src/frameworks/services/wire';
import { AgentFixture } from '../support/agent-fixture';
import { TestOperator } from '../support/master-harness';

jest.setTimeout(30_000);

const SECRET = 'pa55-w0rd-of-the-db';

/** Environment values marked secret reach the task, and nothing that reports on it. */
describe('secret environment variables', () => {
  let f: AgentFixture;

  beforeEach(async () => {
    f = await AgentFixture.start('secrets', { tls: true });
  });

  afterEach(async () => {
    await f.close();
  });

  test('the task gets the value; status messages, agent logs and every master view do not', async () => {
    const logs = memoryLogger('debug');
    await f.startAgent({}, { logger: logs });
    const command = 'echo "$DB_PASSWORD" > $BERTH_SANDBOX/out; echo "cannot log in with $DB_PASSWORD" >&2; exit 3';
    await f.launch({ taskId: 'leaky', extra: { command: { value: command, shell: true, environment: { variables: [{ name: 'DB_PASSWORD', value: SECRET, secret: true }, { name: 'PLAIN', value: 'visible' }] } } } });
    const [, , failed] = await f.expectStates('leaky', ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FAILED']);
    expect(failed!.message).toBe('Command exited with status 3 (stderr: cannot log in with ***)');
    expect(fs.readFileSync(path.join(f.sandboxOf('leaky'), 'out'), 'utf8').trim()).toBe(SECRET);
    expect(JSON.stringify(logs.entries)).not.toContain(SECRET);

    const operator = new TestOperator(f.master.address);
    try {
      const { tasks, completed_tasks: completed } = await operator.call<GetTasksResponse__Output>('GetTasks', { include_completed: true });
      const all = [...tasks, ...completed];
      expect(JSON.stringify(all)).not.toContain(SECRET);
      expect(all[0]!.command!.environment!.variables).toEqual([
        expect.objectContaining({ name: 'DB_PASSWORD', value: '', secret: true }),
        expect.objectContaining({ name: 'PLAIN', value: 'visible', secret: false }),
      ]);
      expect(JSON.stringify(await operator.call('GetState'))).not.toContain(SECRET);
    } finally {
      operator.close();
    }
  });

  test('an app\'s secrets become secret variables of its tasks and are never in its view', () => {
    const def = parseAppDefinition({ id: '/shop/db-client', cmd: 'run', env: { MODE: 'prod' }, secrets: { DB_PASSWORD: SECRET } });
    const wire = appDefinitionToWire(def);
    expect(wire.secrets).toEqual({ DB_PASSWORD: '' });
    expect(JSON.stringify(wire)).not.toContain(SECRET);
    const task = buildTaskInfo({ def, version: 'v1', taskId: 'shop_db-client.1', offer: { agent_id: { value: 'a1' } } as never, resources: [], ports: [] });
    expect(task.command!.environment!.variables).toEqual(expect.arrayContaining([{ name: 'MODE', value: 'prod' }, { name: 'DB_PASSWORD', value: SECRET, secret: true }]));
    expect(() => parseAppDefinition({ id: '/x', cmd: 'run', env: { A: '1' }, secrets: { A: '2' } })).toThrow(/secrets\["A"\]: "A" is in env too/);
  });
});
