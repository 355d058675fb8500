import { FakeClock } from '../../../src/common/clock';
import { HeapTrimmer, processHeap, type HeapProbe } from '../../../src/common/heap-trim';
import { memoryLogger } from '../../../src/common/logging';

const MIB = 1024 * 1024;

/**
 * A heap the test drives: `committedMiB` as set, the loop as busy as `load` says, and each GC
 * compacting `gains[i]` MiB of it (0 once the list runs out).
 */
class ScriptedHeap implements HeapProbe {
  committedMiB = 0;
  load = 0;
  gcs = 0;
  busyCalls = 0;
  constructor(private readonly gains: number[] = []) {}
  committed() {
    return this.committedMiB * MIB;
  }
  busy() {
    this.busyCalls++;
    return this.load;
  }
  gc() {
    this.committedMiB -= this.gains[this.gcs] ?? 0;
    this.gcs++;
  }
}

function trimmer(heap: ScriptedHeap, clock = new FakeClock()) {
  const logger = memoryLogger();
  const t = new HeapTrimmer({ clock, logger, probe: heap, intervalMs: 1000, quietMs: 5000 });
  t.start();
  return { clock, logger, t };
}

describe('heap trimmer', () => {
  test('after the heap grew, while idle, runs one GC per tick until one gives back too little, and says what it gained', () => {
    const heap = new ScriptedHeap([60, 40, 20, 2]);
    heap.committedMiB = 100;
    const { clock, logger, t } = trimmer(heap);
    heap.committedMiB = 150; // grown by less than 64 MiB: left alone
    clock.advance(5000);
    expect(heap.gcs).toBe(0);

    heap.committedMiB = 570; // a burst: the loop busy
    heap.load = 0.9;
    clock.advance(3000);
    expect(heap.gcs).toBe(0);
    heap.load = 0.02; // idle again: the first GC once the last 5 s were less than half busy
    clock.advance(2000);
    expect(heap.gcs).toBe(0);
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

  test('a busy loop is never paused, a lull in a burst does not start a series, and a busy tick within one is skipped', () => {
    const heap = new ScriptedHeap([50, 50]);
    heap.committedMiB = 100;
    const { clock, t } = trimmer(heap);
    heap.committedMiB = 600;
    heap.load = 1;
    clock.advance(10_000);
    expect(heap.gcs).toBe(0);
    heap.load = 0.05; // two idle ticks after a busy stretch: a lull
    clock.advance(2000);
    expect(heap.gcs).toBe(0);
    heap.load = 0.3; // steady work, less than half busy: the idle ticks between count
    clock.advance(3000);
    expect(heap.gcs).toBe(0);
    heap.load = 0.05;
    clock.advance(1000);
    expect(heap.gcs).toBe(1);
    heap.load = 0.5;
    clock.advance(5000);
    expect(heap.gcs).toBe(1);
    heap.load = 0;
    clock.advance(1000);
    expect(heap.gcs).toBe(2);
    t.stop();
  });

  test('growth counts from the lowest the heap was since the last series: a heap that stopped giving back waits to grow again', () => {
    const heap = new ScriptedHeap([1, 0, 30]);
    heap.committedMiB = 300;
    const { clock, t } = trimmer(heap);
    heap.committedMiB = 400;
    clock.advance(5000);
    expect(heap.gcs).toBe(1); // gave back 1 MiB: done, at 399
    clock.advance(5000);
    expect(heap.gcs).toBe(1);
    heap.committedMiB = 350; // V8's own GC shrank it
    clock.advance(1000);
    heap.committedMiB = 420; // 70 above the lowest since, though only 21 above where the series ended
    clock.advance(1000);
    expect(heap.gcs).toBe(2);
    t.stop();
  });

  test('the measure of idleness restarts after its own GC, and stop() ends the ticks', () => {
    const heap = new ScriptedHeap([50, 50, 50]);
    heap.committedMiB = 100;
    const { clock, t } = trimmer(heap);
    heap.committedMiB = 600;
    clock.advance(5000);
    expect(heap.gcs).toBe(1);
    expect(heap.busyCalls).toBe(7); // start, five ticks, and again after the GC
    t.stop();
    clock.advance(10_000);
    expect(heap.gcs).toBe(1);
  });

  test("the process's own probe reads the heap and the loop, and collects garbage without --expose-gc", async () => {
    const probe = processHeap();
    expect(probe.committed()).toBeGreaterThan(0);
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
