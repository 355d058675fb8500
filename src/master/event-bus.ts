/**
 * The master's in-process event bus: every change of a task, agent, framework or role becomes a
 * numbered event. Operator `Watch` streams replay from a sequence number (kept in a bounded ring)
 * and then follow live; the NATS mirror, when configured, subscribes like any other listener.
 */
export type ClusterEventKind =
  | 'TASK_ADDED'
  | 'TASK_UPDATED'
  | 'FRAMEWORK_ADDED'
  | 'FRAMEWORK_UPDATED'
  | 'FRAMEWORK_REMOVED'
  | 'AGENT_ADDED'
  | 'AGENT_UPDATED'
  | 'AGENT_REMOVED'
  | 'ROLE_UPDATED';

export interface BusEvent {
  readonly sequence: number;
  readonly kind: ClusterEventKind;
  /** Epoch ms. */
  readonly time: number;
  /** Kind-specific payload (ids and the changed object in wire form). */
  readonly payload: Record<string, unknown>;
}

export type BusListener = (event: BusEvent) => void;

export class EventBus {
  private sequence = 0;
  private readonly ring: BusEvent[] = [];
  private readonly listeners = new Set<BusListener>();

  /** @param capacity how many recent events are kept for resumption */
  constructor(private readonly capacity = 10_000) {}

  get lastSequence(): number {
    return this.sequence;
  }

  publish(kind: ClusterEventKind, time: number, payload: Record<string, unknown>): BusEvent {
    const event: BusEvent = { sequence: ++this.sequence, kind, time, payload };
    this.ring.push(event);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // A faulty listener must not stop the master or the other listeners.
      }
    }
    return event;
  }

  /** Events after `sequence`, or undefined when they are no longer kept (take a snapshot then). */
  since(sequence: number): BusEvent[] | undefined {
    if (sequence >= this.sequence) return [];
    const oldest = this.ring[0]?.sequence ?? this.sequence + 1;
    if (sequence + 1 < oldest) return undefined;
    return this.ring.slice(sequence + 1 - oldest);
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
