/**
 * PendingReconciliations: the master's memory of explicit reconciliations it cannot answer yet
 * (issue 17) — one ask per framework and task id, found by the agent it waits for, bounded.
 */
import { PendingReconciliations } from '../../../src/master/pending-reconciliations';

describe('PendingReconciliations', () => {
  test('an ask waits for the agent it named, or for any agent; taking one removes it from both indexes', () => {
    const p = new PendingReconciliations(10);
    expect(p.remember('f1', 'a', 'agent-1', 'agent-1')).toBe(true);
    expect(p.remember('f1', 'b', undefined, undefined)).toBe(true);
    expect(p.remember('f2', 'a', 'no-such-agent', undefined)).toBe(true);
    expect([p.size, p.sizeOf('f1'), p.sizeOf('f2'), p.waitsForAnyAgent]).toEqual([3, 2, 1, true]);
    expect(p.takeWaitingFor('agent-1')).toEqual([{ frameworkId: 'f1', taskId: 'a', agentId: 'agent-1' }]);
    expect(p.takeWaitingFor('agent-1')).toEqual([]);
    expect(p.take('f1', 'b')).toEqual({ frameworkId: 'f1', taskId: 'b', agentId: undefined });
    expect(p.takeWaitingFor(undefined)).toEqual([{ frameworkId: 'f2', taskId: 'a', agentId: 'no-such-agent' }]);
    expect([p.size, p.sizeOf('f1'), p.waitsForAnyAgent]).toEqual([0, 0, false]);
  });

  test('asking again about a task replaces the ask (the newer agent counts): one answer per task id', () => {
    const p = new PendingReconciliations(10);
    p.remember('f', 't', 'agent-1', 'agent-1');
    p.remember('f', 't', undefined, undefined);
    expect(p.size).toBe(1);
    expect(p.takeWaitingFor('agent-1')).toEqual([]);
    expect(p.takeWaitingFor(undefined)).toEqual([{ frameworkId: 'f', taskId: 't', agentId: undefined }]);
  });

  test('a framework that asks about a million unknown ids is held to its limit; a replaced ask is not a new one; others are not affected', () => {
    const p = new PendingReconciliations(100_000);
    let refused = 0;
    for (let i = 0; i < 1_000_000; i++) if (!p.remember('greedy', `t${i}`, 'agent-1', 'agent-1')) refused++;
    expect([p.sizeOf('greedy'), refused]).toEqual([100_000, 900_000]);
    expect(p.remember('greedy', 't0', undefined, undefined)).toBe(true); // already remembered: replaced
    expect(p.remember('modest', 't0', undefined, undefined)).toBe(true);
    expect(p.size).toBe(100_001);
    p.dropFramework('greedy');
    expect([p.size, p.sizeOf('greedy'), p.takeWaitingFor('agent-1')]).toEqual([1, 0, []]);
  });
});
