/**
 * Where the leading master is, as clients (agents, frameworks, the CLI) learn it: from a MasterInfo
 * (REDIRECT, a fatal ERROR's `leader`) or from the details of a standby's UNAVAILABLE refusal
 * ("… the leader is <id> at <host:port>").
 */
import type { MasterInfo__Output } from '../generated/berth/v1/MasterInfo';

/** `host:port` of a MasterInfo's gRPC address, or undefined when it names none. */
export function masterAddress(info: MasterInfo__Output | null | undefined): string | undefined {
  const host = info?.address?.ip || info?.address?.hostname || info?.hostname;
  const port = info?.address?.port;
  if (!host || !port) return undefined;
  return `${host}:${port}`;
}

/** gRPC's UNAVAILABLE status code (how a standby refuses). */
const UNAVAILABLE = 14;

/** The leader's `host:port` named by a standby's refusal details, or undefined. */
export function leaderFromRefusal(details: string | undefined): string | undefined {
  return /the leader is .* at (\S+:\d+)\s*$/.exec(details ?? '')?.[1];
}

/**
 * Which master a client dials: the configured ones in turn, or the leader one of them pointed to.
 * After a failure without a pointer the next configured master is tried — also when the failing
 * address was a leader learnt from a pointer, so a dead leader never strands the client (the others
 * know, or are, the new leader).
 */
export class MasterTargets {
  private readonly configured: readonly string[];
  private index = 0;
  private learnt: string | undefined;

  constructor(masters: readonly string[]) {
    if (masters.length === 0) throw new Error('at least one master address is needed');
    this.configured = [...masters];
  }

  /** The address to dial now. */
  get current(): string {
    return this.learnt ?? this.configured[this.index]!;
  }

  /** A master pointed to the leader at `address`; returns whether that changes the target. */
  follow(address: string): boolean {
    if (address === this.current) return false;
    this.learnt = address;
    return true;
  }

  /**
   * What a stream's end says of the leader: a standby's UNAVAILABLE refusal names it ("… the leader
   * is <id> at <host:port>"). 'followed': it is now the target, dial it at once; 'takingOver': the
   * master dialled names itself (elected, still taking over), dial it again soon; undefined: no
   * pointer.
   */
  followRefusal(err: { readonly code: number; readonly details?: string } | undefined): 'followed' | 'takingOver' | undefined {
    if (err?.code !== UNAVAILABLE) return undefined;
    const leader = leaderFromRefusal(err.details);
    if (leader === undefined) return undefined;
    return this.follow(leader) ? 'followed' : 'takingOver';
  }

  /** The current target failed: move on to the next configured master. */
  failed(): void {
    if (this.learnt !== undefined) {
      this.learnt = undefined;
      return; // back to the configured master we were on before the pointer
    }
    this.index = (this.index + 1) % this.configured.length;
  }
}

/** Splits a `host:port[,host:port…]` setting into addresses. */
export function masterList(text: string): string[] {
  return text.split(',').map((m) => m.trim()).filter((m) => m !== '');
}

/** Options of {@link RedialDelays}. */
export interface RedialDelayOptions {
  /** First delay after a failed dial. @default 500 */
  readonly minMs?: number;
  /** Cap of the doubling delay. @default 30_000 */
  readonly maxMs?: number;
  /** Delay between dials while a lost leader is being replaced (with jitter: half to all of it). @default 250 */
  readonly failoverMs?: number;
  /** How long after losing an established connection the failover delay applies. @default 30_000 */
  readonly failoverWindowMs?: number;
}

/**
 * When a client dials again. Once it has lost an established connection, a new leader is usually
 * serving within the lease (seconds), and the client must be back within a second of that: for
 * `failoverWindowMs` it dials every `failoverMs` (jittered, so thousands of agents do not dial in
 * step). Otherwise — never connected, or the window is over — the delay doubles from `minMs` to
 * `maxMs`, so a master that is down for long is not hammered.
 */
export class RedialDelays {
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly failoverMs: number;
  private readonly failoverWindowMs: number;
  private backoffMs: number;
  private lostAt: number | undefined;

  constructor(options: RedialDelayOptions = {}, private readonly random: () => number = Math.random) {
    this.minMs = options.minMs ?? 500;
    this.maxMs = Math.max(this.minMs, options.maxMs ?? 30_000);
    this.failoverMs = options.failoverMs ?? 250;
    this.failoverWindowMs = options.failoverWindowMs ?? 30_000;
    this.backoffMs = this.minMs;
  }

  /** A connection was established: the next failure starts from the beginning. */
  connected(): void {
    this.backoffMs = this.minMs;
    this.lostAt = undefined;
  }

  /** An established connection was lost at `now`: the failover window opens. */
  lost(now: number): void {
    this.lostAt = now;
  }

  /**
   * The delay before the next dial, at `now`. `takingOver`: the master dialled named itself the
   * leader while refusing (elected, still taking over): it serves in moments.
   */
  next(now: number, takingOver = false): number {
    const failingOver = this.lostAt !== undefined && now - this.lostAt < this.failoverWindowMs;
    if (failingOver || takingOver) return Math.round(this.failoverMs * (0.5 + this.random() / 2));
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxMs);
    return delay;
  }
}

