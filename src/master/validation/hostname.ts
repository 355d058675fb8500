/**
 * Hostnames as agents and operators send them (AgentInfo.hostname, maintenance machines): they end
 * up in every offer of the agent and in the registry, so they are bounded and printable.
 */
import { status as Status } from '@grpc/grpc-js';
import { MasterError } from '../errors';

/** Longest hostname accepted (a DNS name's limit). */
export const MAX_HOSTNAME_LENGTH = 253;

/** Returns `hostname`, or throws INVALID_ARGUMENT naming `field` and what is wrong. */
export function checkHostname(hostname: string | undefined | null, field: string): string {
  const h = hostname ?? '';
  if (h === '') throw new MasterError(Status.INVALID_ARGUMENT, `${field}: must not be empty`);
  if (h.length > MAX_HOSTNAME_LENGTH) throw new MasterError(Status.INVALID_ARGUMENT, `${field}: must be at most ${MAX_HOSTNAME_LENGTH} characters, got ${h.length}`);
  // eslint-disable-next-line no-control-regex
  const bad = /[\s\u0000-\u001f\u007f]/.exec(h);
  if (bad !== null) throw new MasterError(Status.INVALID_ARGUMENT, `${field}: must not contain whitespace or control characters, got ${JSON.stringify(h)}`);
  return h;
}
