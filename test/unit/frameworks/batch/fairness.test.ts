/**
 * Fair share over time: the admission core driven by the benchmark's simulated clock keeps four
 * equal-weight queues with very different backlogs near equal resource-time while all of them wait
 * (the figure bench:batch prints as queue_fairness_jain), and Jain's index itself.
 */
import { jainIndex, queueFairness } from '../../../../bench/queue-fairness';

test("Jain's index: 1 for equal shares, 1/n when one queue gets everything", () => {
  expect(jainIndex([3, 3, 3, 3])).toBe(1);
  expect(jainIndex([1, 0, 0, 0])).toBe(0.25);
});

test('equal-weight queues with 40/30/20/10 % of 400 jobs get near equal resource-time while contended', () => {
  const f = queueFairness(400);
  expect(f.queue_fairness_jain).toBeGreaterThanOrEqual(0.95);
  expect(f.queue_jobs_done).toBeGreaterThan(50);
});
