import type { ResourcePool } from './sorter';
import { TreeSorter, type SorterNode } from './tree-sorter';

/**
 * Weighted Dominant Resource Fairness over a hierarchy of clients.
 *
 * A node's share is its *dominant share* divided by its weight:
 *
 *     share(n) = max over resources r of ( allocated_r(subtree of n) / total_r ) / weight(n)
 *
 * where `total_r` is the whole pool (all agents). At every level the active children are
 * offered in ascending share order, so the client furthest below its fair share goes first; repeated, this progressive filling equalises weighted dominant shares
 * (Ghodsi et al., NSDI 2011). Example: pool ⟨9 cpus, 18 GB⟩, A holding ⟨1, 4⟩ has share
 * max(1/9, 4/18) = 2/9; B holding ⟨3, 1⟩ has 3/9 = 1/3, so A is offered first.
 *
 * Ties take turns: of clients with equal shares, the one allocated longest ago comes first (then
 * by path, for clients never allocated). Ordering ties by path alone gave every tie to the same
 * client: two frameworks at share 0, one of which declines everything, and the decliner, first by
 * name, was offered the same resources again and again while the other was never offered any.
 *
 * Cost model (the reason for this shape): an allocation changes one leaf and its ancestors,
 * so instead of re-sorting (Mesos sorted whole levels whenever dirty) each changed node is
 * moved to its new place in its parent's order with a binary search and one `copyWithin` on
 * an `Int32Array` of node ids — O(depth · (log C + memmove)). Only a change of the pool
 * total or of a weight re-sorts everything, lazily, at the next visit.
 */
export class DrfSorter extends TreeSorter {
  constructor(pool: ResourcePool) {
    super(pool);
  }

  protected insertPosition(parent: SorterNode, child: SorterNode): number {
    return this.upperBound(parent, child, 0, parent.orderSize);
  }

  protected indexOf(parent: SorterNode, child: SorterNode): number {
    const order = parent.order!;
    const i = this.upperBound(parent, child, 0, parent.orderSize) - 1;
    if (i >= 0 && order[i] === child.id) return i;
    // Unreachable while the invariant (order sorted by cached share) holds; stay correct anyway.
    for (let j = 0; j < parent.orderSize; j++) if (order[j] === child.id) return j;
    throw new Error(`sorter invariant broken: "${child.path}" is not in its parent's order`);
  }

  protected reposition(parent: SorterNode, child: SorterNode): void {
    const share = this.computeShare(child);
    const turn = child.nextTurn;
    if (share === child.share && turn === child.turn) return;
    const index = this.indexOf(parent, child);
    const grew = share > child.share || (share === child.share && turn > child.turn);
    child.share = share;
    child.turn = turn;
    const order = parent.order!;
    if (grew) {
      const at = this.upperBound(parent, child, index + 1, parent.orderSize);
      order.copyWithin(index, index + 1, at);
      order[at - 1] = child.id;
    } else {
      const at = this.upperBound(parent, child, 0, index);
      order.copyWithin(at + 1, at, index);
      order[at] = child.id;
    }
  }

  protected resort(): void {
    for (const node of this.allNodes()) {
      node.share = this.computeShare(node);
      node.turn = node.nextTurn;
    }
    const cmp = (a: number, b: number) => (this.less(this.node(a), this.node(b)) ? -1 : 1);
    for (const node of this.innerNodes()) if (node.orderSize > 1) node.order!.subarray(0, node.orderSize).sort(cmp);
  }

  /** First index in [lo, hi) whose node orders after `child`. */
  private upperBound(parent: SorterNode, child: SorterNode, lo: number, hi: number): number {
    const order = parent.order!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = this.node(order[mid]!);
      if (other === child || this.less(other, child)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private less(a: SorterNode, b: SorterNode): boolean {
    if (a.share !== b.share) return a.share < b.share;
    return a.turn !== b.turn ? a.turn < b.turn : a.path < b.path;
  }
}
