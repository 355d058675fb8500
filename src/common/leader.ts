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
