/**
 * The task ids of one ACCEPT, and which of them a status update may speak about.
 *
 * A status update names a task by its id only, so an update about an id must be about the one task
 * that has it. Two rules follow (DESIGN §7):
 * - An id used twice in one ACCEPT makes the ACCEPT invalid as a whole: had the first copy launched,
 *   a TASK_ERROR for the second would read, to the framework, as the death of the first. Nothing of
 *   such an ACCEPT launches or converts; each of its ids gets one TASK_ERROR (none of them runs).
 * - An id of a task the framework already has (not terminal) is never answered with a status
 *   update when a launch with it is rejected: the update would be about the task that runs. Such a
 *   rejection is an ERROR event naming the field and the id.
 */
import type { Operation__Output } from '../../generated/berth/v1/Operation';
import type { TaskInfo__Output } from '../../generated/berth/v1/TaskInfo';
import { describeValue } from './errors';

/** A task of a LAUNCH or LAUNCH_GROUP operation and where it is (`operations[0].launch.task_infos[1]`). */
export interface TaskSite {
  readonly task: TaskInfo__Output;
  readonly at: string;
}

/** Every task of the LAUNCH and LAUNCH_GROUP operations, in order, whatever their `type` says. Never throws. */
export function taskSites(operations: readonly Operation__Output[]): TaskSite[] {
  const out: TaskSite[] = [];
  operations.forEach((op, i) => {
    (op?.launch?.task_infos ?? []).forEach((task, j) => out.push({ task, at: `operations[${i}].launch.task_infos[${j}]` }));
    (op?.launch_group?.task_group?.tasks ?? []).forEach((task, j) => out.push({ task, at: `operations[${i}].launch_group.task_group.tasks[${j}]` }));
  });
  return out;
}

/** A task's id if it is a non-empty string (an id a status update could carry). */
function siteTaskId(site: TaskSite): string | undefined {
  const id: unknown = site.task?.task_id?.value;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * Why the ACCEPT is invalid as a whole because of repeated task ids, naming each repeated id and
 * every place it is used; `undefined` when every id is used once.
 */
export function repeatedTaskIds(sites: readonly TaskSite[]): string | undefined {
  const where = new Map<string, string[]>();
  for (const site of sites) {
    const id = siteTaskId(site);
    if (id !== undefined) where.set(id, [...(where.get(id) ?? []), `${site.at}.task_id.value`]);
  }
  const repeats = [...where].filter(([, at]) => at.length > 1);
  if (repeats.length === 0) return undefined;
  const list = repeats.map(([id, at]) => `duplicate task id ${describeValue(id)} at ${at.join(' and ')}`).join('; ');
  return `refused as a whole, nothing launched or converted: ${list} (a task id may appear once in an ACCEPT)`;
}

/**
 * The distinct ids of `sites` a status update may be sent for: non-empty and not of a task the
 * framework already has. In order of first use.
 */
export function reportableTaskIds(sites: readonly TaskSite[], isKnownTask: (taskId: string) => boolean): string[] {
  const out = new Set<string>();
  for (const site of sites) {
    const id = siteTaskId(site);
    if (id !== undefined && !isKnownTask(id)) out.add(id);
  }
  return [...out];
}
