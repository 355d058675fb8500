import type { ResourcePool } from './sorter';
import { TreeSorter, type SorterNode } from './tree-sorter';

/**
 * Weighted random order at every level of the hierarchy (Mesos's `random` sorter, proposed
 * against starvation of large tasks under DRF). Each visit draws a fresh order in which a
 * child of weight w comes before one of weight v with probability w / (w + v): children are
 * ordered by an exponential key −ln(u) / w (Efraimidis–Spirakis). Randomness is injected so
 * tests and benchmarks are repeatable. The `order` arrays are kept in insertion order.
 */
export class RandomSorter extends TreeSorter {
  constructor(
    pool: ResourcePool,
    private readonly random: () => number,
  ) {
    super(pool);
  }

  protected insertPosition(parent: SorterNode): number {
    return parent.orderSize;
  }

  protected indexOf(parent: SorterNode, child: SorterNode): number {
    const order = parent.order!;
    for (let i = 0; i < parent.orderSize; i++) if (order[i] === child.id) return i;
    throw new Error(`sorter invariant broken: "${child.path}" is not in its parent's order`);
  }

  protected reposition(_parent: SorterNode, child: SorterNode): void {
    child.share = this.computeShare(child);
  }

  protected resort(): void {
    for (const node of this.allNodes()) node.share = this.computeShare(node);
  }

  /**
   * Visits each level in a fresh random order, drawn lazily: the allocator usually stops after
   * the first child or two, so a full shuffle per visit (Mesos's approach, O(n log n) per agent)
   * would waste most of its work. Unweighted levels use a lazy Fisher–Yates shuffle (one random
   * draw per child visited); weighted ones draw every key once and pop them from a heap.
   */
  protected override walk(node: SorterNode, visit: (client: string) => boolean | void): boolean {
    const n = node.orderSize;
    if (n === 0) return true;
    const ids = node.order!.slice(0, n);
    const step = (id: number): boolean => {
      const child = this.node(id);
      return child.isLeaf ? visit(child.path) !== false : this.walk(child, visit);
    };
    if (!this.weighted) {
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(this.random() * (n - i));
        const id = ids[j]!;
        ids[j] = ids[i]!;
        ids[i] = id;
        if (!step(id)) return false;
      }
      return true;
    }
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = -Math.log(1 - this.random()) / this.node(ids[i]!).weight;
    const heap = new MinHeap(ids, keys);
    while (heap.size > 0) if (!step(heap.pop())) return false;
    return true;
  }
}

/** A binary min-heap over parallel arrays of ids and keys (heapified in O(n)). */
class MinHeap {
  size: number;

  constructor(
    private readonly ids: Int32Array,
    private readonly keys: Float64Array,
  ) {
    this.size = ids.length;
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.down(i);
  }

  pop(): number {
    const top = this.ids[0]!;
    this.size--;
    if (this.size > 0) {
      this.ids[0] = this.ids[this.size]!;
      this.keys[0] = this.keys[this.size]!;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const { ids, keys, size } = this;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && keys[l]! < keys[m]!) m = l;
      if (r < size && keys[r]! < keys[m]!) m = r;
      if (m === i) return;
      const id = ids[i]!;
      ids[i] = ids[m]!;
      ids[m] = id;
      const k = keys[i]!;
      keys[i] = keys[m]!;
      keys[m] = k;
      i = m;
    }
  }
}
