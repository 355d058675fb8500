/**
 * "Why is my app not running?" — per app, what happened to each of the last N offers it was
 * considered for while it needed instances: used (a task launched), or the first reason it did not
 * fit. Reasons: `role` (the offer is for another role), `constraint:<field:OP[:value]>`,
 * `resources:<cpus|mem|disk|gpus>`, `ports`. Marathon's launch-queue `processedOffersSummary`, kept
 * in memory (it describes the recent past only).
 */

export interface OfferOutcome {
  readonly at: number;
  readonly offerId: string;
  readonly hostname: string;
  /** `launched`, or the rejection reason. */
  readonly outcome: string;
  /** Human detail of a rejection (e.g. `needs mem 512, the offer has 256`). */
  readonly detail?: string;
}

export interface RejectionSummary {
  /** Offers considered (at most the log's capacity). */
  readonly considered: number;
  /** Of those, how many were used for a launch. */
  readonly launched: number;
  /** Rejections counted by reason, most frequent first. */
  readonly reasons: readonly { readonly reason: string; readonly count: number }[];
  /** The most recent rejection, if any. */
  readonly last?: OfferOutcome;
}

export class RejectionLog {
  private readonly entries: OfferOutcome[] = [];

  constructor(private readonly capacity: number) {}

  record(entry: OfferOutcome): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }

  summary(): RejectionSummary {
    const counts = new Map<string, number>();
    let launched = 0;
    let last: OfferOutcome | undefined;
    for (const e of this.entries) {
      if (e.outcome === 'launched') launched++;
      else {
        counts.set(e.outcome, (counts.get(e.outcome) ?? 0) + 1);
        last = e;
      }
    }
    const reasons = [...counts.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
    return { considered: this.entries.length, launched, reasons, ...(last === undefined ? {} : { last }) };
  }
}

/**
 * One line for people: `12 of the last 12 offers rejected: constraint:hostname:UNIQUE ×10,
 * resources:mem ×2`. When every recent offer was used and more are needed, none has come since:
 * it says where to look.
 */
export function describeRejections(s: RejectionSummary): string {
  if (s.considered === 0) return 'no offers considered yet';
  const rejected = s.considered - s.launched;
  if (rejected === 0) return `the last ${s.considered} offer${s.considered === 1 ? ' was' : 's were'} used and none has come since; if this lasts, see whether the agents are draining, deactivated or full (berth agent list)`;
  return `${rejected} of the last ${s.considered} offers rejected: ${s.reasons.map((r) => `${r.reason} ×${r.count}`).join(', ')}`;
}

/**
 * Why offers do not come from agents that drained our tasks (agent id → hostname), and what ends
 * it: `agent a1 (h1) is draining (or down for maintenance) and makes no offers; berth agent
 * reactivate a1 ends the drain, berth maintenance stop h1 ends maintenance`.
 */
export function describeDraining(agents: ReadonlyMap<string, string>): string {
  const list = [...agents].sort(([a], [b]) => (a < b ? -1 : 1));
  if (list.length === 0) return '';
  const names = list.map(([id, host]) => `${id} (${host})`).join(', ');
  const one = list.length === 1;
  const [id, host] = one ? list[0]! : ['<agent-id>', '<hostname>'];
  return `agent${one ? '' : 's'} ${names} ${one ? 'is' : 'are'} draining (or down for maintenance) and make${one ? 's' : ''} no offers; berth agent reactivate ${id} ends the drain, berth maintenance stop ${host} ends maintenance`;
}

/**
 * What the app waits for, offer-wise: the draining agents (if any), then the rejections — left out
 * when draining explains it all (every offer before the drain was used).
 */
export function describeWaiting(s: RejectionSummary, draining: ReadonlyMap<string, string>): string {
  const drain = describeDraining(draining);
  if (drain === '') return describeRejections(s);
  return s.considered > s.launched ? `${drain}; ${describeRejections(s)}` : drain;
}
