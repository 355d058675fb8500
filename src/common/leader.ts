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
