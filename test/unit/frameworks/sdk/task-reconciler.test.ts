/**
 * TaskReconciler: the SDK asks about each task once per subscription (the master remembers an ask
 * it cannot answer yet and answers it as the agent returns), in calls of at most RECONCILE_BATCH
 * ids, and re-asks only what is still unanswered after the long safety delay.
 */
import { FakeClock } from '../../../../src/common/clock';
import type { Call } from '../../../../src/generated/berth/v1/Call';
import type { TaskStatus__Output } from '../../../../src/generated/berth/v1/TaskStatus';
import { RECONCILE_BATCH, TaskReconciler } from '../../../../src/frameworks/sdk/task-reconciler';

type Reconcile = NonNullable<Call['reconcile']>;

function setup(subscribed = true) {
  const clock = new FakeClock(0);
  const calls: Reconcile[] = [];
  const state = { subscribed };
  const reconciler = new TaskReconciler({ clock, minMs: 60_000, maxMs: 240_000, send: (r) => state.subscribed && (calls.push(r), true) });
  const ids = () => calls.flatMap((c) => (c.tasks ?? []).map((t) => t.task_id!.value));
  return { clock, calls, state, reconciler, ids };
}

const update = (taskId: string, state: string, agentId = 'a1') => ({ task_id: { value: taskId }, agent_id: { value: agentId }, state }) as unknown as TaskStatus__Output;

describe('TaskReconciler', () => {
  test('after a subscription every known task is asked about once, in batches; nothing more until the safety delay', () => {
    const { clock, calls, reconciler, ids } = setup();
    const n = 2 * RECONCILE_BATCH + 100;
    for (let i = 0; i < n; i++) reconciler.track(`t${i}`, `a${i % 7}`);
    reconciler.subscribed();
    expect(calls.map((c) => c.tasks!.length)).toEqual([RECONCILE_BATCH, RECONCILE_BATCH, 100]);
    expect(calls[0]!.tasks![3]).toEqual({ task_id: { value: 't3' }, agent_id: { value: 'a3' } });
    expect(new Set(ids()).size).toBe(n);
    clock.advance(59_999);
    expect(calls).toHaveLength(3); // the master answers as agents return: no re-ask
    for (let i = 0; i < n - 2; i++) reconciler.updated(update(`t${i}`, 'TASK_RUNNING'));
    calls.length = 0;
    clock.advance(1);
    expect(ids()).toEqual([`t${n - 2}`, `t${n - 1}`]); // the safety net: only what is unanswered
  });

  test('the safety re-ask doubles up to its cap and stops once everything is answered', () => {
    const { clock, calls, reconciler } = setup();
    reconciler.track('t', undefined);
    reconciler.subscribed();
    expect(calls).toHaveLength(1);
    const at: number[] = [];
    for (let ms = 0; ms < 600_000; ms += 10_000) {
      clock.advance(10_000);
      if (calls.length > at.length + 1) at.push(clock.now());
    }
    expect(at).toEqual([60_000, 180_000, 420_000]); // 60 s, then doubling: 120 s, 240 s (the cap)
    reconciler.updated(update('t', 'TASK_FINISHED'));
    const before = calls.length;
    clock.advance(1_000_000);
    expect(calls).toHaveLength(before);
    expect(clock.pending).toBe(0);
  });

  test('reconcile() asks about the tasks given only; while not subscribed nothing is sent or scheduled, the next subscription asks', () => {
    const { clock, calls, state, reconciler, ids } = setup(false);
    reconciler.track('old', 'a1');
    reconciler.reconcile([{ taskId: 'new' }]);
    clock.advance(1_000_000);
    expect(calls).toEqual([]);
    state.subscribed = true;
    reconciler.subscribed();
    expect(ids().sort()).toEqual(['new', 'old']);
    calls.length = 0;
    reconciler.reconcile([{ taskId: 'extra', agentId: 'a2' }]);
    expect(calls).toEqual([{ tasks: [{ task_id: { value: 'extra' }, agent_id: { value: 'a2' } }] }]);
  });
});
