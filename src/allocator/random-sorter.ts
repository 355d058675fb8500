import type { ResourcePool } from './sorter';
import { TreeSorter, type SorterNode } from './tree-sorter';

/**
 * Weighted random order at every level of the hierarchy (Mesos's `random` sorter, proposed
 * against starvation of large tasks under DRF). Each visit draws a fresh order in which a
 * child of weight w comes before one of weight v with probability w / (w + v): children are
 * ordered by an exponential key −ln(u) / w (Efraimidis–Spirakis). Randomness is injected so
 * tests and benchmarks are repeatable.
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

  protected orderedChildren(node: SorterNode): Int32Array {
    const n = node.orderSize;
    const keys = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const id = node.order![i]!;
      keys.set(id, -Math.log(1 - this.random()) / this.node(id).weight);
    }
    return node.order!.slice(0, n).sort((a, b) => keys.get(a)! - keys.get(b)!);
  }
}
