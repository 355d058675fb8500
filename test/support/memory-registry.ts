import type { Registry, RegistryOp } from '../../src/master/registry/registry';
import { RegistryFencedError, RegistryUnavailableError } from '../../src/master/registry/registry';

/**
 * An in-memory registry for tests: shared between "masters" of one test through a `MemoryStore`,
 * with the same fencing rule as the real ones (a registry opened for an older term fails once a
 * newer term has opened).
 */
export class MemoryStore {
  readonly records = new Map<string, unknown>();
  term = 0;
  writes = 0;
  /** Set: every write fails with this error and changes nothing (a registry that lost its disk or quorum). */
  failWrites: Error | undefined;
  private gate: Promise<void> | undefined;

  /** Holds every write (in flight, not yet durable) until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }

  /** Resolves when writes may go on (at once unless {@link hold} holds them). */
  passed(): Promise<void> {
    return this.gate ?? Promise.resolve();
  }

  open(term: number): Registry {
    this.term = Math.max(this.term, term);
    return new MemoryRegistry(this, term);
  }
}

class MemoryRegistry implements Registry {
  private closed = false;

  constructor(
    private readonly store: MemoryStore,
    private readonly term: number,
  ) {}

  async load(): Promise<ReadonlyMap<string, unknown>> {
    return new Map([...this.store.records].map(([k, v]) => [k, structuredClone(v)]));
  }

  async write(ops: readonly RegistryOp[]): Promise<void> {
    await this.store.passed();
    if (this.closed) throw new RegistryUnavailableError('registry closed');
    if (this.store.term !== this.term) throw new RegistryFencedError(`term ${this.term} was superseded by term ${this.store.term}`);
    if (this.store.failWrites !== undefined) throw this.store.failWrites;
    for (const op of ops) {
      if ('delete' in op) this.store.records.delete(op.key);
      else this.store.records.set(op.key, structuredClone(op.value));
    }
    this.store.writes++;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
