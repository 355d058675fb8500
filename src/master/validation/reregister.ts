/**
 * An agent's REREGISTER report (AgentManager.reregister): its tasks read whole before the master
 * changes anything (a bad report must leave no half state), a reported task's TaskInfo, and the
 * reported total merged with the reservations the master made.
 */
import { status as Status } from '@grpc/grpc-js';
import type { Resources } from '../../common/resources';
import { formatRanges, rangesDifference, type Range } from '../../common/resource-values';
import { resourcesFromWire } from '../../common/wire';
import type { AgentMessage__Output } from '../../generated/berth/v1/AgentMessage';
import { MasterError } from '../errors';
import { isTaskState, isTerminal, type TaskState } from '../task-states';

type ReportedWire = NonNullable<AgentMessage__Output['reregister']>['tasks'][number];

/** A task as its agent reports it: the wire task, its state (RUNNING when unset) and its resources. */
export interface ReportedTask {
  readonly t: ReportedWire;
  readonly state: TaskState;
  readonly resources: Resources;
}

/**
 * Reads the reported tasks' states and resources; throws INVALID_ARGUMENT naming the field for an
 * invalid resource list, or for two live tasks holding the same values of a range resource (ports):
 * accepted, the allocator would count those values once, and freeing the second task would fail.
 */
export function readReportedTasks(tasks: readonly ReportedWire[]): ReportedTask[] {
  const read = tasks.map((t, i) => ({
    t,
    state: isTaskState(t.state) ? t.state : ('TASK_RUNNING' as const),
    resources: resourcesFromWire(t.resources ?? [], `reregister.tasks[${i}].resources`),
  }));
  refuseSharedRanges(read);
  return read;
}

function refuseSharedRanges(tasks: readonly ReportedTask[]): void {
  const held: { i: number; taskId: string; name: string; ranges: readonly Range[] }[] = [];
  tasks.forEach(({ t, state, resources }, i) => {
    if (isTerminal(state)) return;
    const taskId = t.task_id?.value ?? '';
    for (const e of resources.entries) {
      if (e.ranges === undefined) continue;
      for (const other of held) {
        if (other.name !== e.name) continue;
        const shared = rangesDifference(e.ranges, rangesDifference(e.ranges, other.ranges));
        if (shared.length > 0) {
          throw new MasterError(Status.INVALID_ARGUMENT, `reregister.tasks[${i}].resources: task ${taskId} holds ${e.name} ${formatRanges(shared)} that task ${other.taskId} (reregister.tasks[${other.i}]) holds too`);
        }
      }
      held.push({ i, taskId, name: e.name, ranges: e.ranges });
    }
  });
}

/** The TaskInfo of a task an agent reports in REREGISTER. */
export function reportedInfo(t: ReportedWire, agentId: string): never {
  return { name: t.name, task_id: t.task_id, agent_id: { value: agentId }, resources: t.resources, command: t.command, container: t.container, health_check: t.health_check, kill_policy: t.kill_policy, labels: t.labels, discovery: t.discovery, max_completion_time: t.max_completion_time } as never;
}

/** Keeps the master's dynamic reservations when an agent re-reports its (static) resources. */
export function mergeReservations(known: Resources, reported: Resources): Resources {
  const dynamic = known.filter((e) => e.reservations.some((r) => r.type === 'DYNAMIC') || e.disk?.persistence !== undefined);
  if (dynamic.isEmpty()) return reported;
  const flatDynamic = dynamic.flatten();
  const base = reported.flatten().contains(flatDynamic) ? subtractFlat(reported, flatDynamic) : reported;
  return base.plus(dynamic);
}

function subtractFlat(reported: Resources, amount: Resources): Resources {
  const unreserved = reported.unreserved();
  return unreserved.contains(amount) ? reported.minus(amount) : reported;
}
