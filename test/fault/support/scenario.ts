/**
 * What every fault scenario shares: how many times to repeat its fault (`npm run test:fault --
 * --iterations N` sets BERTH_FAULT_ITERATIONS; CI runs 1), the end-of-scenario check, and a line of
 * measurements printed for the notes.
 */
import { FaultCluster } from './cluster';
import type { HistoryEntry, Scalars } from './history';

export function iterations(): number {
  const n = Number(process.env['BERTH_FAULT_ITERATIONS'] ?? '1');
  if (!Number.isInteger(n) || n < 1) throw new Error(`BERTH_FAULT_ITERATIONS must be a positive integer, got ${process.env['BERTH_FAULT_ITERATIONS']}`);
  return n;
}

/** Prints `fault <scenario>: {json}` (the suite's measurements, for humans and notes). */
export function report(scenario: string, data: Record<string, unknown>): void {
  process.stdout.write(`fault ${scenario}: ${JSON.stringify(data)}\n`);
}

/**
 * Runs every checker at the end of a scenario and fails with their violations (and the processes'
 * logs) when any is violated, or when a process died that the scenario did not kill.
 */
export async function expectChecksPass(cluster: FaultCluster, opts: {
  convergeBoundMs: number;
  rejoinBoundMs?: number;
  runOf?: (taskId: string) => string | undefined;
  taskResources?: (taskId: string) => Scalars;
}): Promise<{ launched: number; updates: number; registryWrites: number; convergedMs: number }> {
  const { failures, observations } = await cluster.finish(opts);
  const unexpected = cluster.unexpectedExits();
  if (failures !== '' || unexpected.length > 0) {
    throw new Error(`${failures}\n${trails(failures, observations.history)}\n${unexpected.join('\n')}\n${cluster.procs.logs(2000)}`);
  }
  return {
    launched: observations.history.filter((e) => e.kind === 'launch').length,
    updates: observations.history.filter((e) => e.kind === 'update').length,
    registryWrites: observations.registry.length,
    convergedMs: observations.convergence?.ms ?? 0,
  };
}

/** What the framework saw of the first tasks a violation names (`fw/task`): each update, timed. */
function trails(failures: string, history: readonly HistoryEntry[]): string {
  const keys = [...new Set([...failures.matchAll(/^\s+(\S+\/\S+):/gm)].map((m) => m[1]!))].slice(0, 5);
  return keys.map((key) => {
    const [fw, taskId] = key.split('/');
    const seen = history.filter((e) => e.fw === fw && e.taskId === taskId && (e.kind === 'update' || e.kind === 'launch'));
    const t0 = seen[0]?.t ?? 0;
    const line = seen.map((e) => (e.kind === 'launch' ? `+${e.t - t0} launch` : `+${e.t - t0} ${e.state}${e.uuid ? ` uuid ${e.uuid.slice(0, 8)}` : ''} ${e.reason ?? ''} ${e.message ?? ''}`.trim()));
    return `${key} as its framework saw it:\n    ${line.join('\n    ')}`;
  }).join('\n');
}
