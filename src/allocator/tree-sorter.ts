import type { QuantityMap, ResourcePool, Sorter, SorterQuantities } from './sorter';

/**
 * One node of the client hierarchy. A client `eng/backend` is the leaf `backend` under the inner
 * node `eng`. A path that is both a client and a parent (role `eng` with frameworks, and role
 * `eng/backend`) gets a *virtual leaf* child carrying the client's own allocation, so the client
 * competes with its sub-roles on equal terms (as Mesos does with its `.` leaves).
 */
class Node {
  readonly children = new Map<string, Node>();
  /** Allocation of this node's whole subtree (a leaf: its own), by pool dimension. */
  alloc = new Float64Array(4);
  /** Whether anything is allocated (kept exact: milli values are integers). */
  holds = 0;
  /** Cached weighted share: the key this node is ordered by in its parent's `order`. */
  share = 0;
  /**
   * When this node was last allocated something (the sorter's allocation counter; 0 = never): the
   * second key of its place in its parent's `order`, so that of nodes with equal shares the one
   * served longest ago comes first and tied clients take turns. `turn` is the key the order holds
   * now; `nextTurn` the one to move to at the next reposition.
   */
  turn = 0;
  nextTurn = 0;
  weight = 1;
  isClient = false;
  clientActive = false;
  /** Whether this node currently sits in its parent's `order` (it has something active). */
  inOrder = false;
  /** Ids of the active children in offer order; `null` while the node is a leaf. */
  order: Int32Array | null = null;
  orderSize = 0;

  constructor(
    readonly id: number,
    readonly path: string,
    readonly segment: string,
    readonly parent: Node | null,
  ) {}

  get isLeaf(): boolean {
    return this.order === null;
  }
}

const VIRTUAL = '.';

/**
 * The hierarchy, activity and allocation bookkeeping shared by the sorters. Subclasses decide the
 * order: `DrfSorter` keeps each node's active children sorted by share and moves one node per
 * allocation (binary search plus one `copyWithin`), `RandomSorter` shuffles at visit time.
 */
export abstract class TreeSorter implements Sorter {
  protected readonly nodes: (Node | undefined)[] = [];
  protected readonly root: Node;
  private readonly clients = new Map<string, Node>();
  private readonly inner = new Map<string, Node>();
  private readonly weights = new Map<string, number>();

  /** Whether any path has a weight other than 1. */
  protected get weighted(): boolean {
    return this.weights.size > 0;
  }
  /** The pool version the cached shares were computed against. */
  private sortedVersion = -1;
  /** Allocations so far: the clock of `Node.turn`. */
  private turns = 0;
  private dirty = true;

  constructor(protected readonly pool: ResourcePool) {
    this.root = this.newNode('', '', null);
    this.root.order = new Int32Array(8);
  }

  /** Where a child with the current cached share belongs among its siblings. */
  protected abstract insertPosition(parent: Node, child: Node): number;
  /** Index of `child` in `parent.order` (it must be there). */
  protected abstract indexOf(parent: Node, child: Node): number;
  /** Called after `child`'s allocation changed while it is in its parent's order. */
  protected abstract reposition(parent: Node, child: Node): void;
  /** Brings every cached share and order up to date (after totals or weights changed). */
  protected abstract resort(): void;

  add(client: string): void {
    if (this.clients.has(client)) return;
    const segments = client.split('/');
    let parent = this.root;
    let path = '';
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      path = path === '' ? segment : `${path}/${segment}`;
      let node = parent.children.get(segment);
      const last = i === segments.length - 1;
      if (node === undefined) {
        node = this.newNode(path, segment, parent);
        parent.children.set(segment, node);
        if (!last) this.makeInner(node);
      } else if (!last && node.isLeaf) {
        this.makeInner(node);
      }
      if (last) {
        if (node.isLeaf) {
          node.isClient = true;
          this.clients.set(client, node);
        } else {
          const leaf = this.newNode(path, VIRTUAL, node);
          node.children.set(VIRTUAL, leaf);
          leaf.isClient = true;
          this.clients.set(client, leaf);
        }
      }
      parent = node;
    }
  }

  remove(client: string): void {
    const leaf = this.clients.get(client);
    if (leaf === undefined) return;
    if (leaf.holds > 0) this.unallocated(client, this.allocation(client));
    leaf.clientActive = false;
    this.updateActivity(leaf);
    this.clients.delete(client);
    leaf.isClient = false;
    // Prune nodes that no longer hold a client or a child.
    let node: Node | null = leaf;
    while (node !== null && node !== this.root && !node.isClient && node.children.size === 0) {
      const parent: Node = node.parent!;
      parent.children.delete(node.segment);
      this.nodes[node.id] = undefined;
      if (!node.isLeaf) this.inner.delete(node.path);
      node = parent;
    }
  }

  contains(client: string): boolean {
    return this.clients.has(client);
  }

  activate(client: string): void {
    const leaf = this.clients.get(client);
    if (leaf === undefined || leaf.clientActive) return;
    leaf.clientActive = true;
    this.updateActivity(leaf);
  }

  deactivate(client: string): void {
    const leaf = this.clients.get(client);
    if (leaf === undefined || !leaf.clientActive) return;
    leaf.clientActive = false;
    this.updateActivity(leaf);
  }

  count(): number {
    return this.clients.size;
  }

  hasActive(): boolean {
    return this.root.orderSize > 0;
  }

  isActive(client: string): boolean {
    return this.clients.get(client)?.clientActive ?? false;
  }

  updateWeight(path: string, weight: number): void {
    if (!(weight > 0) || !Number.isFinite(weight)) throw new RangeError(`weight for "${path}" must be a positive number, got ${weight}`);
    if (weight === 1) this.weights.delete(path);
    else this.weights.set(path, weight);
    for (const node of this.nodes) if (node !== undefined && node.path === path) node.weight = weight;
    this.dirty = true;
  }

  allocated(client: string, q: SorterQuantities): void {
    this.changeAllocation(client, q, 1);
  }

  unallocated(client: string, q: SorterQuantities): void {
    this.changeAllocation(client, q, -1);
  }

  allocation(client: string): QuantityMap {
    const leaf = this.clients.get(client);
    const out = new Map<string, number>();
    if (leaf === undefined) return out;
    for (let d = 0; d < leaf.alloc.length; d++) if (leaf.alloc[d]! > 0) out.set(this.pool.nameOf(d), leaf.alloc[d]!);
    return out;
  }

  share(client: string): number {
    const leaf = this.clients.get(client);
    return leaf === undefined ? 0 : this.computeShare(leaf);
  }

  forEach(visit: (client: string) => boolean | void): void {
    if (this.isStale()) this.refresh();
    this.walk(this.root, visit);
  }

  sort(): string[] {
    const out: string[] = [];
    this.forEach((c) => {
      out.push(c);
    });
    return out;
  }

  // ---- helpers for subclasses ------------------------------------------------------------------

  protected node(id: number): Node {
    return this.nodes[id]!;
  }

  protected computeShare(node: Node): number {
    return this.pool.dominantShare(node.alloc) / node.weight;
  }

  /** Inner nodes, root first (parents before children). */
  protected *innerNodes(): Iterable<Node> {
    const stack: Node[] = [this.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      yield node;
      for (const child of node.children.values()) if (!child.isLeaf) stack.push(child);
    }
  }

  protected allNodes(): Iterable<Node> {
    return this.nodes.filter((n): n is Node => n !== undefined && n !== this.root);
  }

  // ---- internals -------------------------------------------------------------------------------

  /**
   * Depth-first over active nodes, each level in `order`; false once `visit` asked to stop.
   * Sorters that keep `order` sorted use this as is; others override it.
   */
  protected walk(node: Node, visit: (client: string) => boolean | void): boolean {
    const ids = node.order!;
    const n = node.orderSize;
    for (let i = 0; i < n; i++) {
      const child = this.nodes[ids[i]!]!;
      if (child.order === null) {
        if (visit(child.path) === false) return false;
      } else if (!this.walk(child, visit)) {
        return false;
      }
    }
    return true;
  }

  private isStale(): boolean {
    return this.dirty || this.sortedVersion !== this.pool.version;
  }

  private refresh(): void {
    this.resort();
    this.dirty = false;
    this.sortedVersion = this.pool.version;
  }

  private newNode(path: string, segment: string, parent: Node | null): Node {
    const node = new Node(this.nodes.length, path, segment, parent);
    node.weight = this.weights.get(path) ?? 1;
    this.nodes.push(node);
    return node;
  }

  /** Turns a leaf into an inner node; a client leaf hands its role to a new virtual child. */
  private makeInner(node: Node): void {
    node.order = new Int32Array(4);
    this.inner.set(node.path, node);
    if (!node.isClient) return;
    const leaf = this.newNode(node.path, VIRTUAL, node);
    node.children.set(VIRTUAL, leaf);
    leaf.isClient = true;
    leaf.clientActive = node.clientActive;
    leaf.alloc = node.alloc.slice();
    leaf.holds = node.holds;
    leaf.share = this.computeShare(leaf);
    leaf.turn = leaf.nextTurn = node.nextTurn;
    node.isClient = false;
    node.clientActive = false;
    this.clients.set(node.path, leaf);
    if (leaf.clientActive) this.insert(node, leaf);
  }

  private changeAllocation(client: string, quantities: SorterQuantities, sign: 1 | -1): void {
    const leaf = this.clients.get(client);
    if (leaf === undefined) throw new RangeError(`unknown sorter client "${client}"`);
    const q = quantities instanceof Map ? this.pool.vectorOfMap(quantities) : (quantities as Exclude<SorterQuantities, QuantityMap>);
    const dims = q.dims;
    const values = q.values;
    const n = dims.length;
    if (n === 0) return;
    let maxDim = 0;
    for (let k = 0; k < n; k++) {
      const d = dims[k]!;
      if (d > maxDim) maxDim = d;
      // Ancestors hold at least what the leaf holds: checking the leaf guards them all.
      if (sign < 0 && !((leaf.alloc[d] ?? 0) >= values[k]!)) {
        throw new RangeError(`sorter client "${client}" holds less ${this.pool.nameOf(d)} than is taken back`);
      }
    }
    const stale = this.isStale();
    const turn = sign > 0 ? ++this.turns : 0;
    for (let node: Node | null = leaf; node !== null && node !== this.root; node = node.parent) {
      if (turn > 0) node.nextTurn = turn;
      if (maxDim >= node.alloc.length) {
        const grown = new Float64Array(Math.max(maxDim + 1, node.alloc.length * 2));
        grown.set(node.alloc);
        node.alloc = grown;
      }
      const alloc = node.alloc;
      for (let k = 0; k < n; k++) {
        const d = dims[k]!;
        const before = alloc[d]!;
        const after = before + sign * values[k]!;
        alloc[d] = after;
        node.holds += (after > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
      }
      // A node alone in its parent's order (one role, say) has nowhere to move: just keep its key.
      if (!node.inOrder || node.parent!.orderSize === 1) {
        node.share = this.computeShare(node);
        node.turn = node.nextTurn;
      } else if (!stale) this.reposition(node.parent!, node);
    }
  }

  /** Re-evaluates whether `node` (and so its ancestors) belongs in the order of active nodes. */
  private updateActivity(start: Node): void {
    for (let node: Node | null = start; node !== null && node !== this.root; node = node.parent) {
      const active = node.isLeaf ? node.isClient && node.clientActive : node.orderSize > 0;
      if (active === node.inOrder) return;
      const parent = node.parent!;
      if (active) this.insert(parent, node);
      else this.removeAt(parent, this.indexOf(parent, node));
    }
  }

  private insert(parent: Node, child: Node): void {
    child.share = this.computeShare(child);
    child.turn = child.nextTurn;
    let order = parent.order!;
    if (parent.orderSize === order.length) {
      const grown = new Int32Array(order.length * 2);
      grown.set(order);
      parent.order = order = grown;
    }
    const at = this.insertPosition(parent, child);
    order.copyWithin(at + 1, at, parent.orderSize);
    order[at] = child.id;
    parent.orderSize++;
    child.inOrder = true;
  }

  private removeAt(parent: Node, index: number): void {
    const order = parent.order!;
    const child = this.nodes[order[index]!]!;
    order.copyWithin(index, index + 1, parent.orderSize);
    parent.orderSize--;
    child.inOrder = false;
  }
}

export type { Node as SorterNode };
