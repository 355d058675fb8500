import type { AgentDescription } from '../allocator/types';
import { attributesFromWire, domainFromWire } from '../common/wire';
import type { AgentEntry } from './model';

/** What the allocator knows of an agent besides its resources: hostname, attributes, fault domain. */
export function agentDescription(agent: AgentEntry): AgentDescription {
  return { hostname: agent.hostname, attributes: attributesFromWire(agent.info.attributes ?? []), domain: domainFromWire(agent.info.domain) };
}
