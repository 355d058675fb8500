import { Resources } from '../../../src/common/resources';
import { resourcesToWire } from '../../../src/common/wire/resources';
import { planAccept, type AcceptInput, type AcceptOffer, type AcceptPlan } from '../../../src/master/validation/accept';
import type { Operation__Output } from '../../../src/generated/berth/v1/Operation';
import { AGENT, op, ops, reserved, task } from './builders';

const offer = (text: string | Resources, role = 'eng', agentId = AGENT, id = `o-${role}`): AcceptOffer => ({
  id,
  agentId,
  role,
  resources: typeof text === 'string' ? Resources.parse(text) : text,
});

function accept(offers: AcceptOffer[], operations: Operation__Output[], extra: Partial<AcceptInput> = {}): AcceptPlan {
  return planAccept({
    frameworkId: 'fw-1',
    principal: 'p',
    frameworkRoles: new Set(['eng', 'ads']),
    offers,
    operations,
    isKnownTask: () => false,
    ...extra,
  });
}

const unusedOf = (plan: AcceptPlan, role = 'eng'): string => plan.unused.find((u) => u.role === role)?.resources.toString() ?? '';

describe('planAccept: LAUNCH', () => {
  it('launches a task that fits and returns the rest', () => {
    const plan = accept([offer('cpus:4;mem:1024;ports:[31000-31010]')], ops(op.launch(task('t1').resources('cpus:1;mem:128;ports:[31000-31001]'))));
    expect(plan.launches).toHaveLength(1);
    expect(plan.launches[0]).toMatchObject({ role: 'eng', index: 0, group: false });
    expect(plan.launches[0].task.task_id?.value).toBe('t1');
    expect(plan.launches[0].resources.toString()).toBe('cpus:1;mem:128;ports:[31000-31001]');
    expect(plan.taskOutcomes).toEqual([]);
    expect(unusedOf(plan)).toBe('cpus:3;mem:896;ports:[31002-31010]');
  });

  it('sees what earlier tasks took', () => {
    const plan = accept([offer('cpus:2;mem:1024')], ops(op.launch(task('t1').resources('cpus:1.5;mem:10'), task('t2').resources('cpus:1;mem:10'))));
    expect(plan.launches.map((l) => l.task.task_id?.value)).toEqual(['t1']);
    expect(plan.taskOutcomes).toEqual([
      {
        taskId: 't2',
        state: 'TASK_ERROR',
        reason: 'REASON_TASK_INVALID',
        message: 'operations[0].launch.task_infos[1].resources: cpus:1;mem:10 is not in the remaining offered resources of role "eng": missing cpus:0.5 (remaining: cpus:0.5;mem:1014)',
      },
    ]);
  });

  it('names missing ports', () => {
    const plan = accept([offer('cpus:2;mem:64;ports:[31000-31005]')], ops(op.launch(task('t1').resources('cpus:1;mem:10;ports:[31004-31007]'))));
    expect(plan.taskOutcomes[0].message).toContain('missing ports:[31006-31007]');
  });

  it('refuses the whole ACCEPT when a task id repeats: nothing launches or converts, one TASK_ERROR per id', () => {
    const plan = accept(
      [offer('cpus:8;mem:1024')],
      ops(op.reserve(reserved('cpus:1', 'eng', 'p')), op.launch(task('t1'), task('t2')), op.launchGroup(task('g'), task('t1')), op.launch(task('old'))),
      { isKnownTask: (id) => id === 'old' },
    );
    const why =
      'refused as a whole, nothing launched or converted: duplicate task id "t1" at operations[1].launch.task_infos[0].task_id.value and operations[2].launch_group.task_group.tasks[1].task_id.value (a task id may appear once in an ACCEPT)';
    expect(plan.refused).toBe(why);
    expect(plan.launches).toEqual([]);
    expect(plan.conversions).toEqual([]);
    // "old" is the framework's running task: an update with its id would speak of that task.
    expect(plan.taskOutcomes).toEqual(['t1', 't2', 'g'].map((taskId) => ({ taskId, state: 'TASK_ERROR', reason: 'REASON_TASK_INVALID', message: `not launched: the ACCEPT was ${why}` })));
    expect(plan.operationErrors).toEqual([]);
    expect(unusedOf(plan)).toBe('cpus:8;mem:1024');
  });

  it('rejects a task with the id of an existing task by an operation error, never by a status update for that id', () => {
    const plan = accept([offer('cpus:8;mem:1024')], ops(op.launch(task('old'), task('new'))), { isKnownTask: (id) => id === 'old' });
    expect(plan.launches.map((l) => l.task.task_id?.value)).toEqual(['new']);
    expect(plan.taskOutcomes).toEqual([]);
    expect(plan.operationErrors).toEqual([
      {
        index: 0,
        type: 'LAUNCH',
        message: 'operations[0].launch.task_infos[0]: task not launched and not reportable: operations[0].launch.task_infos[0].task_id.value: duplicate task id "old": the framework already has a task with this id',
      },
    ]);
  });

  it('rejects an invalid task naming the field and the value', () => {
    const plan = accept([offer('cpus:8;mem:1024')], ops(op.launch(task('t1').wireResources([{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }]))));
    expect(plan.taskOutcomes).toEqual([
      { taskId: 't1', state: 'TASK_ERROR', reason: 'REASON_TASK_INVALID', message: 'operations[0].launch.task_infos[0].resources[0].scalar.value: must be non-negative, got -1' },
    ]);
    expect(unusedOf(plan)).toBe('cpus:8;mem:1024');
  });

  it('rejects a task for another agent', () => {
    const plan = accept([offer('cpus:8;mem:1024')], ops(op.launch(task('t1').with({ agent_id: { value: 'elsewhere' } }))));
    expect(plan.taskOutcomes[0].message).toBe(`operations[0].launch.task_infos[0].agent_id.value: must be the offers' agent "${AGENT}", got "elsewhere"`);
  });

  it('rejects an unauthorized task with REASON_TASK_UNAUTHORIZED', () => {
    const plan = accept([offer('cpus:8;mem:1024')], ops(op.launch(task('t1'))), { authorize: (action, role) => !(action === 'run_task' && role === 'eng') });
    expect(plan.taskOutcomes).toEqual([
      { taskId: 't1', state: 'TASK_ERROR', reason: 'REASON_TASK_UNAUTHORIZED', message: 'operations[0].launch.task_infos[0]: not authorized to launch tasks in role "eng" as the agent\'s default user' },
    ]);
  });

  it('reports a task without a usable id as an operation error (no status update can name it)', () => {
    const plan = accept([offer('cpus:8;mem:1024')], ops({ ...op.launch(task('x').with({ task_id: null })), id: { value: 'op-7' } }));
    expect(plan.taskOutcomes).toEqual([]);
    expect(plan.operationErrors).toEqual([
      { index: 0, type: 'LAUNCH', operationId: 'op-7', message: 'operations[0].launch.task_infos[0]: task not launched and not reportable: operations[0].launch.task_infos[0].task_id: is required' },
    ]);
  });

  it('keeps shared volumes in the pool when a task uses them', () => {
    const shared = Resources.of([{ name: 'disk', kind: 'scalar', scalar: 100_000, reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }], disk: { persistence: { id: 'v' } }, shared: true }]);
    const plan = accept([offer(Resources.parse('cpus:2;mem:64').plus(shared))], ops(op.launch(task('t1').with({ resources: resourcesToWire(Resources.parse('cpus:1;mem:32').plus(shared)) }))));
    expect(plan.launches).toHaveLength(1);
    expect(plan.unused[0].resources.equals(Resources.parse('cpus:1;mem:32').plus(shared))).toBe(true);
  });
});

describe('planAccept: offers', () => {
  it('drops every task and converts nothing when the offers span two agents', () => {
    const offers = [offer('cpus:4;mem:1024', 'eng', 'a1', 'o1'), offer('cpus:4;mem:1024', 'eng', 'a2', 'o2')];
    const plan = accept(offers, ops(op.launch(task('t1'), task('t2')), op.launchGroup(task('g1')), op.reserve(reserved('cpus:1', 'eng', 'p'))));
    expect(plan.launches).toEqual([]);
    expect(plan.conversions).toEqual([]);
    expect(plan.taskOutcomes.map((o) => [o.taskId, o.state, o.reason])).toEqual([
      ['t1', 'TASK_DROPPED', 'REASON_INVALID_OFFERS'],
      ['t2', 'TASK_DROPPED', 'REASON_INVALID_OFFERS'],
      ['g1', 'TASK_DROPPED', 'REASON_INVALID_OFFERS'],
    ]);
    expect(plan.taskOutcomes[0].message).toBe('the offers span 2 agents ("a1", "a2"); one ACCEPT uses offers of one agent');
    expect(plan.operationErrors.map((e) => [e.index, e.type])).toEqual([[2, 'RESERVE']]);
    expect(unusedOf(plan)).toBe('cpus:8;mem:2048');
  });

  it('sends no TASK_DROPPED for the id of an existing task when the offers are invalid', () => {
    const plan = accept([], ops(op.launch(task('old'), task('new'))), { isKnownTask: (id) => id === 'old' });
    expect(plan.taskOutcomes.map((o) => o.taskId)).toEqual(['new']);
    expect(plan.operationErrors[0].message).toContain('tasks 0 not launched and not reported by status update');
  });

  it('treats an ACCEPT without offers the same way', () => {
    const plan = accept([], ops(op.launch(task('t1'))));
    expect(plan.taskOutcomes).toEqual([{ taskId: 't1', state: 'TASK_DROPPED', reason: 'REASON_INVALID_OFFERS', message: 'no offers to accept' }]);
    expect(plan.unused).toEqual([]);
  });

  it('takes a task from the one role whose offer holds it, and refuses to guess between two', () => {
    const offers = [offer('cpus:1;mem:64', 'eng'), offer('cpus:4;mem:64', 'ads')];
    const plan = accept(offers, ops(op.launch(task('big').resources('cpus:3;mem:10'), task('small').resources('cpus:0.5;mem:10'))));
    expect(plan.launches.map((l) => [l.task.task_id?.value, l.role])).toEqual([['big', 'ads']]);
    expect(plan.taskOutcomes[0].taskId).toBe('small');
    expect(plan.taskOutcomes[0].message).toContain('fits the offers of several roles ("eng", "ads")');
  });

  it('reports malformed operations', () => {
    const plan = accept([offer('cpus:1;mem:64')], ops({ type: 'TYPE_UNSPECIFIED' }, { type: 'RESERVE', launch: { task_infos: [] } }, { type: 'CREATE' }));
    expect(plan.operationErrors.map((e) => e.message)).toEqual([
      'operations[0].type: must be one of LAUNCH, LAUNCH_GROUP, RESERVE, UNRESERVE, CREATE, DESTROY, got "TYPE_UNSPECIFIED"',
      'operations[1].launch: does not match type RESERVE (set operations[1].reserve)',
      'operations[2].create: is required for a CREATE operation',
    ]);
    expect(unusedOf(plan)).toBe('cpus:1;mem:64');
  });
});

describe('planAccept: LAUNCH_GROUP', () => {
  it('launches the whole group', () => {
    const plan = accept([offer('cpus:4;mem:1024')], ops(op.launchGroup(task('a').resources('cpus:1;mem:10'), task('b').resources('cpus:2;mem:10'))));
    expect(plan.launches.map((l) => [l.task.task_id?.value, l.group, l.index])).toEqual([['a', true, 0], ['b', true, 0]]);
    expect(unusedOf(plan)).toBe('cpus:1;mem:1004');
  });

  it('rejects every task when one is invalid, naming the bad one', () => {
    const plan = accept([offer('cpus:4;mem:1024')], ops(op.launchGroup(task('a'), task('b').with({ name: '' }), task('c'))));
    expect(plan.launches).toEqual([]);
    expect(plan.taskOutcomes.map((o) => [o.taskId, o.state, o.reason])).toEqual([
      ['a', 'TASK_ERROR', 'REASON_TASK_GROUP_INVALID'],
      ['b', 'TASK_ERROR', 'REASON_TASK_GROUP_INVALID'],
      ['c', 'TASK_ERROR', 'REASON_TASK_GROUP_INVALID'],
    ]);
    for (const o of plan.taskOutcomes) {
      expect(o.message).toBe('task group rejected as a whole: task "b": operations[0].launch_group.task_group.tasks[1].name: must not be empty, got ""');
    }
    expect(unusedOf(plan)).toBe('cpus:4;mem:1024');
  });

  it('rejects the group when its tasks fit one by one but not together', () => {
    const plan = accept([offer('cpus:2;mem:1024')], ops(op.launchGroup(task('a').resources('cpus:1.5;mem:1'), task('b').resources('cpus:1;mem:1'))));
    expect(plan.launches).toEqual([]);
    expect(plan.taskOutcomes[0].message).toContain("the group's resources together: cpus:2.5;mem:2 is not in the remaining offered resources of role \"eng\": missing cpus:0.5");
  });

  it('rejects a group whose tasks claim the same port', () => {
    const plan = accept([offer('cpus:4;mem:1024;ports:[31000-31009]')], ops(op.launchGroup(task('a').resources('cpus:1;mem:1;ports:[31000-31001]'), task('b').resources('cpus:1;mem:1;ports:[31001-31002]'))));
    expect(plan.launches).toEqual([]);
    expect(plan.taskOutcomes[1].message).toBe(
      'task group rejected as a whole: operations[0].launch_group.task_group.tasks[1].resources: cpus:1;mem:1;ports:[31001-31002] overlaps the resources of an earlier task of the group (a port, set item or volume goes to one task only)',
    );
  });

  it('refuses a group with a repeated task id, and rejects an unauthorized group', () => {
    const dup = accept([offer('cpus:4;mem:1024')], ops(op.launchGroup(task('a'), task('a'))));
    expect(dup.refused).toContain('duplicate task id "a" at operations[0].launch_group.task_group.tasks[0].task_id.value and operations[0].launch_group.task_group.tasks[1].task_id.value');
    expect(dup.taskOutcomes.map((o) => o.taskId)).toEqual(['a']);
    const denied = accept([offer('cpus:4;mem:1024')], ops(op.launchGroup(task('a'), task('b'))), { authorize: () => false });
    expect(denied.taskOutcomes.map((o) => o.reason)).toEqual(['REASON_TASK_GROUP_UNAUTHORIZED', 'REASON_TASK_GROUP_UNAUTHORIZED']);
  });

  it('rejects a group with the id of an existing task: the others get TASK_ERROR, that id an operation error', () => {
    const plan = accept([offer('cpus:4;mem:1024')], ops(op.launchGroup(task('a'), task('old'))), { isKnownTask: (id) => id === 'old' });
    expect(plan.taskOutcomes.map((o) => [o.taskId, o.reason])).toEqual([['a', 'REASON_TASK_GROUP_INVALID']]);
    expect(plan.operationErrors).toHaveLength(1);
    expect(plan.operationErrors[0].message).toContain('duplicate task id "old": the framework already has a task with this id');
  });
});

describe('planAccept: RESERVE and UNRESERVE', () => {
  it('reserves, then launches on the reserved resources (in that order only)', () => {
    const reservedCpus = reserved('cpus:2', 'eng', 'p');
    const launchOnReserved = op.launch(task('t1').with({ resources: resourcesToWire(reservedCpus.plus(Resources.parse('mem:32'))) }));

    const good = accept([offer('cpus:4;mem:1024')], ops(op.reserve(reservedCpus), launchOnReserved));
    expect(good.conversions).toHaveLength(1);
    expect(good.conversions[0]).toMatchObject({ index: 0, type: 'RESERVE', role: 'eng' });
    expect(good.conversions[0].consumed.toString()).toBe('cpus:2');
    expect(good.conversions[0].converted.equals(reservedCpus)).toBe(true);
    expect(good.launches.map((l) => l.task.task_id?.value)).toEqual(['t1']);
    expect(unusedOf(good)).toBe('cpus:2;mem:992');

    const reversed = accept([offer('cpus:4;mem:1024')], ops(launchOnReserved, op.reserve(reservedCpus)));
    expect(reversed.launches).toEqual([]);
    expect(reversed.taskOutcomes[0].reason).toBe('REASON_TASK_INVALID');
    expect(reversed.taskOutcomes[0].message).toContain('missing cpus(eng[DYNAMIC by p]):2');
    expect(reversed.conversions).toHaveLength(1);
  });

  it("fills in the framework's principal when the reservation has none", () => {
    const plan = accept([offer('cpus:4;mem:1024')], ops(op.reserve(reserved('cpus:1', 'eng'))));
    expect(plan.conversions[0].converted.equals(reserved('cpus:1', 'eng', 'p'))).toBe(true);
  });

  it('accepts a matching source and rejects a different one', () => {
    const ok = accept([offer('cpus:4;mem:1024')], ops(op.reserve(reserved('cpus:1', 'eng', 'p'), Resources.parse('cpus:1'))));
    expect(ok.operationErrors).toEqual([]);
    const bad = accept([offer('cpus:4;mem:1024')], ops(op.reserve(reserved('cpus:1', 'eng', 'p'), Resources.parse('cpus:2'))));
    expect(bad.operationErrors[0].message).toBe('operations[0].reserve.source: cpus:2 is not the resources without their new reservation (cpus:1)');
  });

  it.each<[string, Resources, Partial<AcceptInput>, string]>([
    ['an unreserved resource', Resources.parse('cpus:1'), {}, 'carries no reservation'],
    ['a STATIC reservation', Resources.parse('cpus(eng):1'), {}, 'the new reservation must be DYNAMIC, got STATIC'],
    ["another principal's reservation", reserved('cpus:1', 'eng', 'mallory'), {}, 'reservation principal "mallory" must be the framework\'s principal "p"'],
    ['a role without an offer in this ACCEPT', reserved('cpus:1', 'web', 'p'), { frameworkRoles: new Set(['eng', 'web']) }, 'no offer of role "web" is being accepted'],
    ['a role the framework does not have', reserved('cpus:1', 'ops', 'p'), {}, 'cannot reserve for role "ops": not one of the framework\'s roles ("eng", "ads")'],
    ['more than offered', reserved('cpus:9', 'eng', 'p'), {}, 'missing cpus:5'],
    ['without permission', reserved('cpus:1', 'eng', 'p'), { authorize: (a) => a !== 'reserve' }, 'not authorized to reserve resources for role "eng"'],
  ])('rejects reserving %s and leaves the pool as it was', (_kind, r, extra, message) => {
    const plan = accept([offer('cpus:4;mem:1024')], ops(op.reserve(r)), extra);
    expect(plan.conversions).toEqual([]);
    expect(plan.operationErrors).toHaveLength(1);
    expect(plan.operationErrors[0]).toMatchObject({ index: 0, type: 'RESERVE' });
    expect(plan.operationErrors[0].message).toContain(message);
    expect(unusedOf(plan)).toBe('cpus:4;mem:1024');
  });

  it('refines a reservation only with RESERVATION_REFINEMENT', () => {
    const base = Resources.parse('cpus(eng):2');
    const refined = Resources.parse('cpus(eng):1').pushReservation({ type: 'DYNAMIC', role: 'eng/backend', principal: 'p' });
    const input = { frameworkRoles: new Set(['eng/backend']) };
    const denied = accept([offer(base, 'eng/backend')], ops(op.reserve(refined)), input);
    expect(denied.operationErrors[0].message).toContain('needs the RESERVATION_REFINEMENT capability');
    const allowed = accept([offer(base, 'eng/backend')], ops(op.reserve(refined)), { ...input, capabilities: new Set(['RESERVATION_REFINEMENT']) });
    expect(allowed.conversions[0].consumed.toString()).toBe('cpus(eng):1');
  });

  it('unreserves dynamic reservations and nothing else', () => {
    const dyn = reserved('cpus:2', 'eng', 'p');
    const plan = accept([offer(dyn.plus(Resources.parse('cpus(eng):1;mem:64')))], ops(op.unreserve(dyn), op.unreserve(Resources.parse('cpus(eng):1')), op.unreserve(Resources.parse('mem:64'))));
    expect(plan.conversions.map((c) => [c.type, c.consumed.equals(dyn), c.converted.toString()])).toEqual([['UNRESERVE', true, 'cpus:2']]);
    expect(plan.operationErrors.map((e) => e.message)).toEqual([
      'operations[1].unreserve.resources: cpus(eng):1 is STATICally reserved; only DYNAMIC reservations can be unreserved',
      'operations[2].unreserve.resources: mem:64 is not reserved',
    ]);
  });
});

describe('planAccept: CREATE and DESTROY', () => {
  const disk = reserved('disk:500', 'eng', 'p');
  const volume = (id: string, mb: number, principal?: string): Resources =>
    Resources.of([{ name: 'disk', kind: 'scalar', scalar: mb * 1000, reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'p' }], disk: { persistence: { id, ...(principal ? { principal } : {}) } } }]);

  it('creates a volume on reserved disk, launches on it, and destroys another', () => {
    const plan = accept([offer(disk.plus(volume('old', 100, 'p')).plus(Resources.parse('cpus:1;mem:64')))], ops(
      op.create(volume('data', 200)),
      op.launch(task('t1').with({ resources: resourcesToWire(volume('data', 200, 'p').plus(Resources.parse('cpus:1;mem:64'))) })),
      op.destroy(volume('old', 100, 'p')),
    ));
    expect(plan.operationErrors).toEqual([]);
    expect(plan.conversions.map((c) => [c.type, c.consumed.toString(), c.converted.toString()])).toEqual([
      ['CREATE', 'disk(eng[DYNAMIC by p]):200', 'disk(eng[DYNAMIC by p])[data]:200'],
      ['DESTROY', 'disk(eng[DYNAMIC by p])[old]:100', 'disk(eng[DYNAMIC by p]):100'],
    ]);
    expect(plan.launches).toHaveLength(1);
    expect(unusedOf(plan)).toBe('disk(eng[DYNAMIC by p]):400');
  });

  it.each<[string, () => ReturnType<typeof ops>, string]>([
    ['a volume on unreserved disk', () => ops(op.create(Resources.of([{ name: 'disk', kind: 'scalar', scalar: 1000, reservations: [], disk: { persistence: { id: 'v' } } }]))), 'persistent volumes need reserved disk'],
    ['plain disk as a volume', () => ops(op.create(reserved('disk:10', 'eng', 'p'))), 'is not a persistent volume: set disk.persistence.id'],
    ['a volume id that exists', () => ops(op.create(volume('old', 10))), 'a persistent volume with id "old" already exists on the agent'],
    ['a volume larger than the disk', () => ops(op.create(volume('big', 900))), 'missing disk(eng[DYNAMIC by p]):400'],
    ['destroying an absent volume', () => ops(op.destroy(volume('nope', 100, 'p'))), 'missing disk(eng[DYNAMIC by p])[nope]:100'],
    ['unreserving the disk of a volume', () => ops(op.unreserve(volume('old', 100, 'p'))), 'backs the persistent volume "old"; DESTROY it first'],
  ])('rejects %s', (_kind, operations, message) => {
    const plan = accept([offer(disk.plus(volume('old', 100, 'p')))], operations());
    expect(plan.conversions).toEqual([]);
    expect(plan.operationErrors[0].message).toContain(message);
    expect(plan.unused[0].resources.equals(disk.plus(volume('old', 100, 'p')))).toBe(true);
  });
});
