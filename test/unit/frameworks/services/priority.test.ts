import { parseAppDefinition } from '../../../../src/frameworks/services/app-definition';
import { buildTaskInfo } from '../../../../src/frameworks/services/task-builder';
import type { Offer__Output } from '../../../../src/generated/berth/v1/Offer';

/** An app's priority class and disruption budget (docs/preemption.md) reach every task it launches. */
describe('services: priority class and disruption budget', () => {
  const offer = { agent_id: { value: 'agent-1' } } as Offer__Output;

  test('are carried by each task; absent, the task carries neither', () => {
    const def = parseAppDefinition({ id: '/web', cmd: 'sleep 100', instances: 4, priorityClass: 'prod', disruptionBudget: { maxUnavailable: 1 } });
    const task = buildTaskInfo({ def, version: 'v1', taskId: 'web.1', offer, resources: [], ports: [] });
    expect(task).toMatchObject({ priority_class: 'prod', disruption_budget: { group: '/web', instances: 4, max_unavailable: 1 } });
    const plain = buildTaskInfo({ def: parseAppDefinition({ id: '/web', cmd: 'sleep 100' }), version: 'v1', taskId: 'web.2', offer, resources: [], ports: [] });
    expect(plain).not.toHaveProperty('priority_class');
    expect(plain).not.toHaveProperty('disruption_budget');
  });

  test('are validated with the field named', () => {
    expect(() => parseAppDefinition({ id: '/web', cmd: 'x', priorityClass: 'no spaces' })).toThrow(/priorityClass: must be a priority class name/);
    expect(() => parseAppDefinition({ id: '/web', cmd: 'x', disruptionBudget: { maxUnavailable: -1 } })).toThrow(/disruptionBudget\.maxUnavailable/);
    expect(() => parseAppDefinition({ id: '/web', cmd: 'x', disruptionBudget: { max: 1 } })).toThrow(/disruptionBudget/);
  });
});
