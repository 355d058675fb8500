/**
 * `queue_fairness_jain` for bench/batch.ts: fairness across equal-weight queues of one cohort,
 * measured on the batch framework's admission core (src/frameworks/batch/admission.ts) driven by a
 * simulated clock, as the framework drives it (a round after every submission and every job end).
 *
 * Four queues (weight 1, nominal cpus 16 / mem 32768 each: a cohort of 64 cpus) get `jobs` jobs at
 * time 0, spread unevenly (40 %, 30 %, 20 %, 10 % of them), each a gang of 1–8 tasks of cpus 1–2 and
 * mem 512–4096 running 10–100 s (seeded). What is measured: each queue's **resource-time** — the
 * dominant share of its running jobs' demand (of the cohort's nominal total) integrated over time —
 * in the contended window, from time 0 until the first queue has nothing left waiting (after that
 * a queue without demand cannot be owed a share). Jain's index over the queues:
 * (Σx)² / (n·Σx²), 1 when every queue got the same, 1/n when one got everything.
 *
 * Also: `queue_fairness_window_s` (the window's length), `queue_jobs_done` (jobs that ended in it),
 * `queue_reclaims` (evictions), and `queue_decide_ms` (mean wall time of one admission round over
 * the whole backlog).
 */
import { decide, type Workload } from '../src/frameworks/batch/admission';
import type { QueueSpec } from '../src/frameworks/batch/queue-spec';
import { seededRandom } from '../src/common/random';

type Figures = Record<string, number>;

interface Running { readonly w: Workload; readonly endsAt: number; readonly share: number; readonly startedAt: number }

/** Jain's fairness index of `xs`. */
export function jainIndex(xs: readonly number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0);
  const squares = xs.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (xs.length * squares);
}

export function queueFairness(jobs: number): Figures {
  const random = seededRandom(29);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const queues: QueueSpec[] = ['q1', 'q2', 'q3', 'q4'].map((name) => ({ name, cohort: 'all', nominalQuota: { cpus: 16, mem: 32768 }, weight: 1 }));
  const capacity = { cpus: 64, mem: 131072 };
  const mix = [0.4, 0.3, 0.2, 0.1];
  const pending: Workload[] = [];
  const durations = new Map<string, number>();
  for (let i = 0; i < jobs; i++) {
    const r = random();
    const q = r < mix[0]! ? 0 : r < mix[0]! + mix[1]! ? 1 : r < 1 - mix[3]! ? 2 : 3;
    const tasks = int(1, 8);
    const demand = { cpus: tasks * int(1, 2), mem: tasks * 512 * int(1, 8) };
    pending.push({ id: `j${i}`, queue: queues[q]!.name, demand, priority: 0, seq: i });
    durations.set(`j${i}`, int(10, 100));
  }
  const running: Running[] = [];
  const resourceTime = new Map(queues.map((q) => [q.name, 0]));
  let now = 0;
  let admittedSeq = 0;
  let reclaims = 0;
  let done = 0;
  let rounds = 0;
  let decideMs = 0;
  const contended = () => queues.every((q) => pending.some((w) => w.queue === q.name));
  const credit = (r: Running, until: number) => resourceTime.set(r.w.queue, resourceTime.get(r.w.queue)! + r.share * (until - r.startedAt));
  while (contended()) {
    const t0 = performance.now();
    const d = decide(queues, pending, running.map((r) => r.w));
    decideMs += performance.now() - t0;
    rounds++;
    for (const e of d.evict) {
      const i = running.findIndex((r) => r.w.id === e.id);
      const [r] = running.splice(i, 1);
      credit(r!, now);
      const w = r!.w;
      pending.push({ id: w.id, queue: w.queue, demand: w.demand, priority: w.priority, seq: w.seq });
      reclaims++;
    }
    for (const id of d.admit) {
      const i = pending.findIndex((w) => w.id === id);
      const [w] = pending.splice(i, 1);
      const share = Math.max(w!.demand.cpus! / capacity.cpus, w!.demand.mem! / capacity.mem);
      running.push({ w: { ...w!, admittedSeq: ++admittedSeq }, endsAt: now + durations.get(id)!, share, startedAt: now });
    }
    if (!contended() || running.length === 0) break;
    // The next job end: credit it, drop it, decide again.
    running.sort((a, b) => a.endsAt - b.endsAt);
    const next = running.shift()!;
    now = next.endsAt;
    credit(next, now);
    done++;
  }
  // Jobs still running at the window's end count up to it.
  for (const r of running) credit(r, now);
  return {
    queue_fairness_jain: Math.round(jainIndex([...resourceTime.values()]) * 10_000) / 10_000,
    queue_fairness_window_s: now,
    queue_jobs_done: done,
    queue_reclaims: reclaims,
    queue_decide_ms: Math.round((decideMs / Math.max(1, rounds)) * 1000) / 1000,
  };
}
