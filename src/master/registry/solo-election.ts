import { nullLogger, type Logger } from '../../common/logging';
import type { LeaderElection, LeaderInfo, LeadershipChange } from './registry';

/** Options of {@link SoloLeadership}. */
export interface SoloLeadershipOptions {
  /** This master, reported by `leader()` while it leads. @default undefined (`leader()` stays undefined) */
  readonly self?: LeaderInfo;
  /** Told when a listener throws. @default nullLogger */
  readonly logger?: Logger;
}

/**
 * Leadership for a master that is alone by construction (`berth dev`, the file registry): it wins
 * at `start()` with term 1 and leads until `stop()`. Nothing can depose it, and nothing needs to
 * fence it — the file registry is not shared.
 */
export class SoloLeadership implements LeaderElection {
  /** The only term there is. */
  static readonly TERM = 1;

  private readonly self: LeaderInfo | undefined;
  private readonly logger: Logger;
  private readonly listeners = new Set<(change: LeadershipChange) => void>();
  private state: 'idle' | 'leader' | 'stopped' = 'idle';
  private again: NodeJS.Timeout | undefined;

  constructor(options: SoloLeadershipOptions = {}) {
    this.self = options.self;
    this.logger = options.logger ?? nullLogger;
  }

  get isLeader(): boolean {
    return this.state === 'leader';
  }

  leader(): LeaderInfo | undefined {
    return this.state === 'leader' ? this.self : undefined;
  }

  onChange(listener: (change: LeadershipChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Wins at once: emits `leader` (when `self` is known) and `elected` with term 1. Idempotent. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'leader';
    if (this.self !== undefined) this.emit({ kind: 'leader', leader: this.self });
    this.emit({ kind: 'elected', term: SoloLeadership.TERM });
  }

  /** Emits `deposed` now and wins again (`elected`, term 1) after `holdOffMs`: there is nobody else. */
  async resign(reason: string, holdOffMs: number): Promise<void> {
    if (this.state !== 'leader') return;
    this.state = 'idle';
    this.emit({ kind: 'deposed', reason });
    if (this.self !== undefined) this.emit({ kind: 'leader', leader: undefined });
    this.again = setTimeout(() => {
      this.again = undefined;
      void this.start();
    }, holdOffMs);
    this.again.unref();
  }

  /** Gives up leadership: emits `deposed` (reason `stopped`). Idempotent. */
  async stop(): Promise<void> {
    clearTimeout(this.again);
    if (this.state !== 'leader') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    this.emit({ kind: 'deposed', reason: 'stopped' });
    if (this.self !== undefined) this.emit({ kind: 'leader', leader: undefined });
  }

  private emit(change: LeadershipChange): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.logger.error(`solo leadership: a ${change.kind} listener threw`, { err });
      }
    }
  }
}
