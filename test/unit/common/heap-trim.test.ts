import { FakeClock } from '../../../src/common/clock';
import { HeapTrimmer, processHeap, type HeapProbe } from '../../../src/common/heap-trim';
import { memoryLogger } from '../../../src/common/logging';

const MIB = 1024 * 1024;

/**
 * A heap the test drives: `committed`/`used` as set, the loop as busy as `load` says, and each GC
 * compacting `gains[i]` MiB of the committed heap (0 once the list runs out).
 */
class ScriptedHeap implements HeapProbe {
  committed = 0;
  used = 0;
  load = 0;
  gcs = 0;
  busyCalls = 0;
  constructor(private readonly gains: number[] = []) {}
  heap() {
    return { committed: this.committed, used: this.used };
  }
  busy() {
    this.busyCalls++;
    return this.load;
  }
  gc() {
    this.committed -= (this.gains[this.gcs] ?? 0) * MIB;
    this.used = Math.min(this.used, this.committed);
    this.gcs++;
  }
  set(committedMiB: number, usedMiB: number): void {
    this.committed = committedMiB * MIB;
    this.used = usedMiB * MIB;
  }
}

function trimmer(heap: ScriptedHeap, clock = new FakeClock()) {
  const logger = memoryLogger();
  const t = new HeapTrimmer({ clock, logger, probe: heap, intervalMs: 1000 });
  t.start();
  return { clock, logger, t };
}

describe('heap trimmer', () => {
  test('after a burst, while idle, runs one GC per tick until one gives back too little, and says what it gained', () => {
    const heap = new ScriptedHeap([60, 40, 20, 2]);
    heap.set(100, 90); // at start: no slack; the series is armed once the heap grows past this
    const { clock, logger, t } = trimmer(heap);
    clock.advance(1000);
    expect(heap.gcs).toBe(0);

    heap.set(570, 330); // a burst left 240 MiB of slack
    heap.load = 0.02;
    clock.advance(1000);
    expect(heap.gcs).toBe(1);
    clock.advance(3000);
    expect(heap.gcs).toBe(4); // 60, 40, 20, then 2 < 4 MiB: the series ends
    clock.advance(10_000);
    expect(heap.gcs).toBe(4);
    const entry = logger.entries.find((e) => e.message === 'heap trimmed after a burst');
    expect(entry?.fields).toMatchObject({ committedMiBBefore: 570, committedMiBAfter: 448, gcs: 4 });
    t.stop();
  });

  test('a busy loop is never paused; the trim waits for an idle tick', () => {
    const heap = new ScriptedHeap([50, 50]);
    heap.set(600, 300);
    heap.load = 0.5;
    const { clock, t } = trimmer(heap);
    clock.advance(10_000);
    expect(heap.gcs).toBe(0);
    heap.load = 0.05;
    clock.advance(1000);
    expect(heap.gcs).toBe(1);
    heap.load = 0.5;
    clock.advance(5000);
    expect(heap.gcs).toBe(1);
    t.stop();
  });

  test('a heap whose slack is small, or that stopped giving back, is left alone until it grows again', () => {
    const heap = new ScriptedHeap([1, 30]);
    heap.set(300, 250); // 50 MiB slack: below 64 MiB
    const { clock, t } = trimmer(heap);
    clock.advance(5000);
    expect(heap.gcs).toBe(0);
    heap.set(400, 250); // 150 MiB slack
    clock.advance(1000);
    expect(heap.gcs).toBe(1); // gave back 1 MiB: done
    clock.advance(5000);
    expect(heap.gcs).toBe(1);
    heap.set(470, 300); // grown by 71 MiB since: armed again
    clock.advance(1000);
    expect(heap.gcs).toBe(2);
    t.stop();
  });

  test('the measure of idleness restarts after its own GC, and stop() ends the ticks', () => {
    const heap = new ScriptedHeap([50, 50, 50]);
    heap.set(600, 300);
    const { clock, t } = trimmer(heap);
    clock.advance(1000);
    expect(heap.gcs).toBe(1);
    expect(heap.busyCalls).toBe(3); // start, the tick, and again after the GC
    t.stop();
    clock.advance(10_000);
    expect(heap.gcs).toBe(1);
  });

  test("the process's own probe reads the heap and the loop, and collects garbage without --expose-gc", async () => {
    const probe = processHeap();
    const { committed, used } = probe.heap();
    expect(committed).toBeGreaterThan(0);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(committed);
    const busy = probe.busy();
    expect(busy).toBeGreaterThanOrEqual(0);
    expect(busy).toBeLessThanOrEqual(1);
    // A WeakRef is held for the job that made it: the object can go only in a later one.
    const ref = (() => new WeakRef({ garbage: new Array(1000).fill(0) }))();
    await new Promise<void>((resolve) => setImmediate(resolve));
    probe.gc();
    expect(ref.deref()).toBeUndefined();
  });
});
