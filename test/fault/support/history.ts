/**
 * What the fault suite records: each framework's history (JSON lines written by framework-child),
 * ground-truth samples of the containers actually running, allocation samples from the leader, and
 * the registry's write log (the JetStream stream of the registry bucket, every revision kept).
 */
import * as fs from 'node:fs';

export const TERMINAL_STATES: ReadonlySet<string> = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR',
]);

/** Terminal for good: LOST is "not always terminal" (a partitioned agent may come back). */
export const FINAL_STATES: ReadonlySet<string> = new Set([...TERMINAL_STATES].filter((s) => s !== 'TASK_LOST'));

/** One line of a framework's history. */
export interface HistoryEntry {
  readonly t: number;
  readonly fw: string;
  readonly kind: 'start' | 'subscribed' | 'launch' | 'update' | 'error' | 'disconnected';
  readonly taskId?: string;
  readonly agentId?: string;
  readonly offerId?: string;
  readonly state?: string;
  /** Hex; empty for updates without one (master-generated, reconciliation answers). */
  readonly uuid?: string;
  readonly reason?: string;
  readonly source?: string;
  readonly message?: string;
  /** The update said its agent is unreachable (TaskStatus.unreachable_time was set). */
  readonly unreachable?: boolean;
  readonly frameworkId?: string;
  readonly reregistered?: boolean;
  readonly master?: string;
}

/** Containers running at one instant: task id → how many (across every agent). */
export interface TruthSample {
  readonly t: number;
  readonly running: ReadonlyMap<string, number>;
  /** Per agent hostname: the task ids running there. */
  readonly byAgent: ReadonlyMap<string, readonly string[]>;
}

/** The leader's view of each agent at one instant. */
export interface AllocationSample {
  readonly t: number;
  readonly agents: readonly { readonly hostname: string; readonly total: Scalars; readonly allocated: Scalars }[];
}
export interface Scalars { readonly cpus: number; readonly mem: number }

/** One stored message of the registry stream. */
export interface RegistryRecord {
  readonly seq: number;
  readonly key: string;
  /** For `_epoch` records: the epoch; otherwise the writer's instance (from Nats-Msg-Id). */
  readonly epoch?: { readonly term: number; readonly leaderId: string; readonly instance: string };
  readonly instance: string;
}

export function readHistory(files: readonly string[]): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (line !== '') out.push(JSON.parse(line) as HistoryEntry);
    }
  }
  return out;
}
