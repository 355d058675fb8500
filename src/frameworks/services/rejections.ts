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

/** One line for people: `12 of the last 12 offers rejected: constraint:hostname:UNIQUE ×10, resources:mem ×2`. */
export function describeRejections(s: RejectionSummary): string {
  if (s.considered === 0) return 'no offers considered yet';
  const rejected = s.considered - s.launched;
  if (rejected === 0) return `all of the last ${s.considered} offers were used`;
  return `${rejected} of the last ${s.considered} offers rejected: ${s.reasons.map((r) => `${r.reason} ×${r.count}`).join(', ')}`;
}
