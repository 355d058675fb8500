import { sameJson } from '../common/same-json';
import type { AgentInfo__Output } from '../generated/berth/v1/AgentInfo';
import type { CoreServices } from './core-ports';
import type { AgentEntry, AgentLifecycle } from './model';

/**
 * Agents as the registry holds them (`agents/<id>`), and what this master knows the registry holds:
 * a record equal to the one already there is not written again — after a failover every agent
 * re-registers as it was, and a registry write per agent (a JetStream publish and its
 * acknowledgement) was a good part of the new leader's work per agent.
 */

/** An agent as stored in the registry. */
export interface AgentRecord {
  readonly info: AgentInfo__Output;
  readonly lifecycle: AgentLifecycle;
  readonly deactivated: boolean;
  readonly drain?: AgentEntry['drain'];
  /** Total resources as the master knows them (with dynamic reservations), JSON form. */
  readonly total: unknown;
  readonly registeredAt: number;
  readonly unreachableAt?: number;
  /** The principal the id is bound to (AgentEntry.principal). */
  readonly principal?: string;
}

export const AGENT_KEY_PREFIX = 'agents/';

const KEY = (id: string) => `${AGENT_KEY_PREFIX}${id}`;

/**
 * The registry's copy of an agent's record as this master knows it (written or loaded); unknown
 * while `writes` are in flight.
 */
interface DurableRecord {
  record: unknown;
  writes: number;
}

export class AgentRecords {
  /** What the registry holds of each agent's record, as far as this master wrote or loaded it. */
  private readonly durable = new WeakMap<AgentEntry, DurableRecord>();

  constructor(private readonly core: Pick<CoreServices, 'persist' | 'persistFirst'>) {}

  /** `record` is what the registry holds for `agent` (it was just loaded from there). */
  loaded(agent: AgentEntry, record: AgentRecord): void {
    this.durable.set(agent, { record, writes: 0 });
  }

  /** Writes the agent's record unless the registry holds it already; a failure is logged (by `MasterCore.persist`) and otherwise ignored. */
  persist(agent: AgentEntry): void {
    const record = recordOf(agent);
    const known = this.durable.get(agent);
    if (known !== undefined && known.writes === 0 && known.record !== undefined && sameJson(known.record, record)) return;
    const state: DurableRecord = known ?? { record: undefined, writes: 0 };
    this.durable.set(agent, state);
    state.record = undefined;
    state.writes++;
    void this.core.persist([{ key: KEY(agent.id), value: record }]).then(
      () => {
        // Only the last of the writes in flight says what the registry holds.
        if (--state.writes === 0) state.record = record;
      },
      () => {
        state.writes--;
      },
    );
  }

  /**
   * Writes the agent's record with `change` applied, before the change is applied in memory; rejects
   * with UNAVAILABLE naming `what` when the write fails (see `MasterCore.persistFirst`).
   */
  persistFirst(agent: AgentEntry, change: Partial<AgentRecord>, what: string): Promise<void> {
    // Written outside `persist`: what the registry holds is unknown until the write lands, and
    // then it is this record (unless `persist` wrote meanwhile, which keeps its own account).
    this.durable.delete(agent);
    const record = { ...recordOf(agent), ...change };
    return this.core.persistFirst([{ key: KEY(agent.id), value: record }], what).then(() => {
      if (!this.durable.has(agent)) this.durable.set(agent, { record, writes: 0 });
    });
  }
}

function recordOf(agent: AgentEntry): AgentRecord {
  return {
    info: agent.info,
    lifecycle: agent.lifecycle,
    deactivated: agent.deactivated,
    drain: agent.drain,
    total: agent.total.toJSON(),
    registeredAt: agent.registeredAt,
    unreachableAt: agent.unreachableAt,
    ...(agent.principal === undefined ? {} : { principal: agent.principal }),
  };
}
