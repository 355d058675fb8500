/**
 * The fault suite's checkers (test/fault/support/checkers.ts) catch what they claim to: each rule
 * is shown a history that keeps it and one that breaks it.
 */
import { atMostOneCopy, backAfterFailover, checkAll, converged, fencedRegistry, noOverAllocation, noTaskLost, noUnexpectedContainers, onlyRealEnds, orderedUpdates, type Observations } from '../../fault/support/checkers';
import type { HistoryEntry, RegistryRecord, TruthSample } from '../../fault/support/history';

const launch = (taskId: string, t = 1): HistoryEntry => ({ t, fw: 'f', kind: 'launch', taskId, agentId: 'a' });
const update = (taskId: string, state: string, t: number, uuid = `${taskId}-${state}`, reason = 'REASON_UNSPECIFIED'): HistoryEntry =>
  ({ t, fw: 'f', kind: 'update', taskId, state, uuid, reason, agentId: 'a' });
const reconciled = (taskId: string, state: string, t: number): HistoryEntry => update(taskId, state, t, '', 'REASON_RECONCILIATION');
const truth = (running: Record<string, number>, t = 100, byAgent: Record<string, string[]> = {}): TruthSample =>
  ({ t, running: new Map(Object.entries(running)), byAgent: new Map(Object.entries(byAgent)) });

function obs(over: Partial<Observations>): Observations {
  return {
    history: [], truth: [truth({})], allocations: [], registry: [], leaderTasks: new Map(), finalReconcileAt: 50,
    agentTotals: new Map(), taskResources: () => ({ cpus: 1, mem: 100 }), ...over,
  };
}

describe('noTaskLost', () => {
  test('passes a finished task and a running task the final reconciliation answered', () => {
    const o = obs({
      history: [launch('t1'), update('t1', 'TASK_RUNNING', 2), update('t1', 'TASK_FINISHED', 3), launch('t2'), update('t2', 'TASK_RUNNING', 4), reconciled('t2', 'TASK_RUNNING', 60)],
      leaderTasks: new Map([['t2', 'TASK_RUNNING']]), truth: [truth({ t2: 1 })],
    });
    expect(noTaskLost(o)).toEqual([]);
  });
  test('flags a task never heard of, one no container runs, and one the reconciliation did not answer', () => {
    const o = obs({
      history: [launch('silent'), launch('gone'), update('gone', 'TASK_RUNNING', 2), reconciled('gone', 'TASK_RUNNING', 60),
        launch('stale'), update('stale', 'TASK_RUNNING', 2)],
      leaderTasks: new Map([['gone', 'TASK_RUNNING'], ['stale', 'TASK_RUNNING']]), truth: [truth({ stale: 1 })],
    });
    expect(noTaskLost(o)).toEqual([
      'silent (f): launched, never heard of again',
      'gone (f): no container runs it',
      'stale (f): not answered by the final reconciliation',
    ]);
  });
  test('a task reported LOST that still runs is lost to its framework', () => {
    const o = obs({ history: [launch('t'), update('t', 'TASK_LOST', 2, '')], truth: [truth({ t: 1 })] });
    expect(noTaskLost(o)).toHaveLength(1);
  });
});

test('noUnexpectedContainers flags orphans and containers nobody launched', () => {
  const o = obs({ history: [launch('t'), update('t', 'TASK_KILLED', 2)], truth: [truth({ t: 1, ghost: 1 })] });
  expect(noUnexpectedContainers(o)).toEqual(['t: runs, but its framework saw TASK_KILLED', 'ghost: runs, but no framework launched it']);
});

test('atMostOneCopy flags a task running twice and two tasks of one job run', () => {
  const o = obs({
    truth: [truth({ t: 2 }), truth({ 'job.r1.1': 1, 'job.r1.2': 1, 'job.r2.1': 1 })],
    runOf: (id) => id.split('.').slice(0, 2).join('.'),
  });
  const v = atMostOneCopy(o);
  expect(v).toHaveLength(2);
  expect(v[1]).toBe('job run job.r1: tasks job.r1.1, job.r1.2 running together');
});

describe('onlyRealEnds', () => {
  test('allows the real end reported again by a reconciliation, and LOST of an unreachable agent', () => {
    const o = obs({
      history: [update('t', 'TASK_RUNNING', 1), reconciled('t', 'TASK_FINISHED', 2), update('t', 'TASK_FINISHED', 3),
        update('u', 'TASK_LOST', 1, '', 'REASON_AGENT_UNREACHABLE'), update('u', 'TASK_FINISHED', 2),
        // After a failover: a reconciliation's LOST saying the agent is unreachable, then the kill on its return.
        { ...reconciled('v', 'TASK_LOST', 1), unreachable: true }, update('v', 'TASK_KILLED', 2),
        reconciled('never-ran', 'TASK_GONE', 1)],
    });
    expect(onlyRealEnds(o)).toEqual([]);
  });
  test('flags a task said gone or lost by a reconciliation before its real end', () => {
    const o = obs({
      history: [update('t', 'TASK_RUNNING', 1), reconciled('t', 'TASK_GONE', 2), update('t', 'TASK_FINISHED', 3),
        reconciled('u', 'TASK_LOST', 1), update('u', 'TASK_FINISHED', 2)],
    });
    expect(onlyRealEnds(o)).toEqual([
      'f/t: told TASK_GONE (REASON_RECONCILIATION: ) but it ended TASK_FINISHED',
      'f/u: told TASK_LOST (REASON_RECONCILIATION: ) but it ended TASK_FINISHED',
    ]);
  });
});

describe('orderedUpdates', () => {
  test('allows duplicates, LOST→RUNNING and UNREACHABLE→RUNNING', () => {
    const o = obs({
      history: [update('t', 'TASK_STARTING', 1), update('t', 'TASK_STARTING', 2), update('t', 'TASK_RUNNING', 3),
        update('t', 'TASK_LOST', 4, ''), update('t', 'TASK_RUNNING', 5, ''), update('u', 'TASK_UNREACHABLE', 1, ''), update('u', 'TASK_RUNNING', 2, '')],
    });
    expect(orderedUpdates(o)).toEqual([]);
  });
  test('flags an update going back, and anything alive after a final state', () => {
    const o = obs({
      history: [update('t', 'TASK_RUNNING', 1), update('t', 'TASK_STARTING', 2),
        update('u', 'TASK_FINISHED', 1), update('u', 'TASK_STARTING', 2, 'u-TASK_STARTING-replayed')],
    });
    expect(orderedUpdates(o)).toEqual([
      'f/t: TASK_STARTING after a later state',
      'f/u: TASK_STARTING after TASK_FINISHED',
      "f/u: new update TASK_STARTING after the agent's TASK_FINISHED",
      'f/u: TASK_STARTING after a later state',
    ]);
  });
});

test('noOverAllocation checks the leader view and the ground truth', () => {
  const o = obs({
    allocations: [{ t: 1, agents: [{ hostname: 'h', total: { cpus: 2, mem: 100 }, allocated: { cpus: 2.5, mem: 50 } }] }],
    truth: [truth({}, 1, { h: ['a', 'b', 'c'] })],
    agentTotals: new Map([['h', { cpus: 2, mem: 1000 }]]),
  });
  expect(noOverAllocation(o)).toEqual(['h: leader allocated cpus 2.5/2, mem 50/100', 'h: running tasks use cpus 3/2, mem 300/1000']);
});

describe('fencedRegistry', () => {
  const epoch = (seq: number, term: number, instance: string, leaderId = `m-${instance}`): RegistryRecord =>
    ({ seq, key: '_epoch', instance, epoch: { term, leaderId, instance } });
  const write = (seq: number, instance: string): RegistryRecord => ({ seq, key: 'agents.x', instance });
  test('passes writes by the holder of the latest epoch', () => {
    expect(fencedRegistry(obs({ registry: [epoch(1, 1, 'a'), write(2, 'a'), epoch(3, 2, 'b'), write(4, 'b')] }))).toEqual([]);
  });
  test("flags a deposed leader's write, a term going back and a term with two leaders", () => {
    const v = fencedRegistry(obs({ registry: [epoch(1, 2, 'a'), epoch(2, 3, 'b'), write(3, 'a'), epoch(4, 1, 'c'), epoch(5, 1, 'd')] }));
    expect(v).toEqual([
      "seq 3: write to agents.x by a, but the epoch is m-b's (b, term 3)",
      'seq 4: epoch of term 1 after term 3',
      'seq 5: term 1 claimed by m-c and m-d',
    ]);
  });
});

test('converged compares with the bound; checkAll names every checker', () => {
  expect(converged(obs({ convergence: { ms: 10, boundMs: 5 } }))).toEqual(['converged after 10 ms, bound 5 ms']);
  expect(checkAll(obs({})).map((r) => r.checker)).toEqual(['no task lost', 'no unexpected containers', 'at most one copy', 'ordered updates', 'only real ends', 'no over-allocation', 'fenced registry', 'converged', 'back after failover']);
  expect(backAfterFailover(obs({ rejoin: { ms: [300, 1200], boundMs: 1000 } }))).toEqual(['failover 2: agents and frameworks back 1200 ms after the new leader served, bound 1000 ms']);
  expect(backAfterFailover(obs({ rejoin: { ms: [300], boundMs: 1000 } }))).toEqual([]);
});
