/**
 * How big the cluster is, for the submit-time checks (a gang larger than the whole cluster, a task
 * larger than any agent, a nominal quota above the cluster's total). A framework sees agents only
 * through offers, so the batch framework asks the master it is subscribed to: `Operator.GetAgents`
 * over the same wire contract (no master code), summing the scalar resources of registered agents.
 *
 * When the master cannot be asked (not subscribed yet, authentication or TLS the plugin cannot
 * answer), the size is unknown: those checks are skipped (and logged once) — the master still
 * refuses a gang larger than the cluster when it is declared, and the job then fails with its
 * message. Tests give a {@link ClusterSource} of their own.
 */
import { UnaryClient } from '../../common/rpc/client';
import type { Logger } from '../../common/logging';
import type { ClusterSize } from './job-spec';
import { RESOURCE_NAMES, type Amounts, type ResourceName } from './quantities';

/** Where the batch framework learns the cluster's size. */
export interface ClusterSource {
  /** The registered agents' totals, or undefined when unknown now. */
  size(): Promise<ClusterSize | undefined>;
  close(): void;
}

interface WireAgent {
  lifecycle?: string;
  total_resources?: { name?: string; scalar?: { value?: number } | null }[];
}

/** Sums registered agents' scalars (cpus, mem, disk, gpus) and keeps the largest agent's. */
export function clusterSizeOf(agents: readonly WireAgent[]): ClusterSize {
  const total: Partial<Record<ResourceName, number>> = {};
  const largest: Partial<Record<ResourceName, number>> = {};
  for (const a of agents) {
    if (a.lifecycle !== 'REGISTERED') continue;
    const own: Partial<Record<ResourceName, number>> = {};
    for (const r of a.total_resources ?? []) {
      const name = r.name as ResourceName;
      if (!RESOURCE_NAMES.includes(name) || typeof r.scalar?.value !== 'number') continue;
      own[name] = (own[name] ?? 0) + r.scalar.value;
    }
    for (const r of RESOURCE_NAMES) {
      total[r] = (total[r] ?? 0) + (own[r] ?? 0);
      largest[r] = Math.max(largest[r] ?? 0, own[r] ?? 0);
    }
  }
  return { total: total as Amounts, largestAgent: largest as Amounts };
}

/** Asks the master at `address()` (the one the framework is subscribed to). */
export class MasterClusterSource implements ClusterSource {
  private client: UnaryClient | undefined;
  private clientAddress: string | undefined;
  private warned = false;

  constructor(
    private readonly address: () => string | undefined,
    private readonly logger: Logger,
  ) {}

  async size(): Promise<ClusterSize | undefined> {
    const address = this.address();
    if (address === undefined) return undefined;
    if (this.clientAddress !== address) {
      this.client?.close();
      this.client = new UnaryClient('Operator', { address, timeoutMs: 3000 });
      this.clientAddress = address;
    }
    try {
      const res = await this.client!.call<{ agents: WireAgent[] }>('GetAgents', {});
      const registered = res.agents.filter((a) => a.lifecycle === 'REGISTERED');
      return registered.length === 0 ? undefined : clusterSizeOf(registered);
    } catch (err) {
      if (!this.warned) this.logger.warn('cannot read the cluster size from the master: gangs larger than the cluster are refused by the master when declared, not at submit', { err: (err as Error).message });
      this.warned = true;
      return undefined;
    }
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}
