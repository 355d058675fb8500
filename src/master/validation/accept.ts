/**
 * The pure core of ACCEPT (DESIGN §7, Mesos `Master::accept`/`_accept`): given the offers the master
 * resolved and the framework's operations, decide what launches, what converts, what is rejected and
 * what goes back to the allocator. No I/O and no master state: the master passes in what it knows
 * (known task ids, an authorizer) and carries the plan out.
 *
 * Rules:
 * - A task id used twice in the ACCEPT makes it invalid as a whole, before anything applies: nothing
 *   launches or converts, every offered resource is returned (without the ACCEPT's filters), each
 *   distinct id gets one TASK_ERROR (REASON_TASK_INVALID) and `refused` says why (see
 *   `accept-task-ids.ts`: a status update about a repeated id could not say which task it is about).
 * - Offers from more than one agent (or none) make the whole ACCEPT invalid: every task of every
 *   LAUNCH/LAUNCH_GROUP is dropped (`TASK_DROPPED`, REASON_INVALID_OFFERS), nothing converts, and
 *   every offered resource is returned.
 * - Otherwise operations apply in order to a pool per offer role, each seeing what the earlier ones
 *   left: a RESERVE before a LAUNCH can feed it; a LAUNCH before the RESERVE cannot.
 * - A rejected task is a status update (`TASK_ERROR` with a reason and a message naming the field
 *   and value) — except a task whose id is that of a task the framework already has, which is an
 *   `operationErrors` entry, since an update with that id would speak of the task that runs. A
 *   rejected RESERVE/UNRESERVE/CREATE/DESTROY, or a malformed operation, is an `operationErrors`
 *   entry too (an ERROR event). Rejections leave the pool as it was.
 * - LAUNCH_GROUP is all or nothing.
 *
 * Conservation (property-tested): replaying launches and conversions in operation order on the
 * offered resources leaves exactly `unused`; nothing is created or lost. Shared persistent volumes
 * used by tasks are the one exception by design: tasks use them without consuming them.
 */
import type { PriorityClasses } from '../priorities';
import { BerthError } from '../../common/errors';
import { Resources } from '../../common/resources';
import { enumName } from '../../common/wire/values';
import { _berth_v1_Operation_Type as OperationType } from '../../generated/berth/v1/Operation';
import type { Operation__Output } from '../../generated/berth/v1/Operation';
import type { TaskInfo__Output } from '../../generated/berth/v1/TaskInfo';
import type { _berth_v1_TaskStatus_Reason__Output as TaskReason } from '../../generated/berth/v1/TaskStatus';
import { reportableTaskIds, repeatedTaskIds, taskSites } from './accept-task-ids';
import { describeValue, formatProblems, type Problem } from './errors';
import { OfferPool } from './offer-pool';
import { planCreate, planDestroy, planReserve, planUnreserve, type AcceptAction, type ConversionContext, type ConversionResult } from './offer-conversions';
import { checkTaskInfo, type CheckedTask } from './task-info';

export type { AcceptAction } from './offer-conversions';

/** An offer being accepted, already resolved by the master (known, unused, this framework's). */
export interface AcceptOffer {
  readonly id: string;
  readonly agentId: string;
  /** The offer's allocation role. */
  readonly role: string;
  readonly resources: Resources;
}

/** What {@link planAccept} needs. */
export interface AcceptInput {
  readonly frameworkId: string;
  /** The framework's principal: reservations and volumes are made in its name. */
  readonly principal?: string;
  readonly frameworkRoles: ReadonlySet<string>;
  /**
   * The framework's capabilities (enum names): REVOCABLE_RESOURCES lets tasks use revocable
   * resources, RESERVATION_REFINEMENT lets RESERVE refine, SHARED_RESOURCES lets CREATE share.
   * @default none
   */
  readonly capabilities?: ReadonlySet<string>;
  readonly offers: readonly AcceptOffer[];
  /** `Call.accept.operations`, in order. */
  readonly operations: readonly Operation__Output[];
  /** Whether the framework already has a (non-terminal) task with this id. */
  readonly isKnownTask: (taskId: string) => boolean;
  /** ACL check per action and role (and, for run_task, the task's Unix user). @default everything allowed */
  readonly authorize?: (action: AcceptAction, role: string, user?: string) => boolean;
  /** FrameworkInfo.user: the user of tasks without CommandInfo.user ('' : the agent's default). */
  readonly frameworkUser?: string;
  /** The master's priority classes (a task's `priority_class` must name one). @default unchecked */
  readonly priorityClasses?: PriorityClasses;
}

/** A task to launch: the resources it takes, in the offer role they come from. */
export interface PlannedLaunch {
  readonly task: TaskInfo__Output;
  readonly role: string;
  readonly resources: Resources;
  /** Index of the operation in `operations`. */
  readonly index: number;
  /** True for a task of a LAUNCH_GROUP (all tasks with the same `index` launch together). */
  readonly group: boolean;
}

/** Reasons a launch is rejected with. */
export type LaunchRejection = Extract<
  TaskReason,
  'REASON_INVALID_OFFERS' | 'REASON_TASK_INVALID' | 'REASON_TASK_UNAUTHORIZED' | 'REASON_TASK_GROUP_INVALID' | 'REASON_TASK_GROUP_UNAUTHORIZED'
>;

/**
 * A rejected task, to report as a status update. `TASK_DROPPED` goes to PARTITION_AWARE frameworks
 * as is; the caller sends `TASK_LOST` to the others.
 */
export interface TaskOutcome {
  readonly taskId: string;
  readonly state: 'TASK_ERROR' | 'TASK_DROPPED';
  readonly reason: LaunchRejection;
  /** Names the field and the value (or the missing resources). */
  readonly message: string;
}

/** A RESERVE/UNRESERVE/CREATE/DESTROY to carry out (and persist): `consumed` became `converted`. */
export interface PlannedConversion {
  readonly index: number;
  readonly type: 'RESERVE' | 'UNRESERVE' | 'CREATE' | 'DESTROY';
  readonly role: string;
  readonly consumed: Resources;
  readonly converted: Resources;
}

/** A rejected operation that is not reported per task (an ERROR event; carries Operation.id). */
export interface OperationError {
  readonly index: number;
  /** The operation's type as sent (enum name, or what was there). */
  readonly type: string;
  readonly operationId?: string;
  readonly message: string;
}

/** The decisions of one ACCEPT. */
export interface AcceptPlan {
  readonly launches: PlannedLaunch[];
  readonly taskOutcomes: TaskOutcome[];
  readonly conversions: PlannedConversion[];
  readonly operationErrors: OperationError[];
  /**
   * What no operation used, per offer role: goes back to the allocator (with the ACCEPT's filters,
   * unless the ACCEPT was `refused`).
   */
  readonly unused: { role: string; resources: Resources }[];
  /** Set when the ACCEPT is invalid as a whole (a repeated task id): why, for one ERROR event. */
  refused?: string;
}

const MEMBER = { LAUNCH: 'launch', LAUNCH_GROUP: 'launch_group', RESERVE: 'reserve', UNRESERVE: 'unreserve', CREATE: 'create', DESTROY: 'destroy' } as const;
type OpType = keyof typeof MEMBER;
const OP_TYPES = Object.keys(MEMBER).join(', ');

/** Plans an ACCEPT. Never throws on any input; see the module comment for the rules. */
export function planAccept(input: AcceptInput): AcceptPlan {
  return new AcceptPlanner(input).run();
}

class AcceptPlanner {
  private readonly plan: AcceptPlan = { launches: [], taskOutcomes: [], conversions: [], operationErrors: [], unused: [] };
  private readonly pool: OfferPool;
  private readonly ctx: ConversionContext;
  private readonly capabilities: ReadonlySet<string>;

  constructor(private readonly input: AcceptInput) {
    this.pool = new OfferPool(input.offers);
    this.capabilities = input.capabilities ?? new Set();
    const authorize = input.authorize ?? (() => true);
    this.ctx = { pool: this.pool, principal: input.principal, frameworkRoles: input.frameworkRoles, capabilities: this.capabilities, authorize };
  }

  run(): AcceptPlan {
    const sites = taskSites(this.input.operations);
    const agents = [...new Set(this.input.offers.map((o) => o.agentId))];
    const refused = repeatedTaskIds(sites);
    if (refused !== undefined) {
      this.plan.refused = refused;
      for (const id of reportableTaskIds(sites, this.input.isKnownTask)) this.reject(id, 'TASK_ERROR', 'REASON_TASK_INVALID', `not launched: the ACCEPT was ${refused}`);
    } else if (agents.length !== 1) {
      const why = agents.length === 0 ? 'no offers to accept' : `the offers span ${agents.length} agents (${agents.map((a) => JSON.stringify(a)).join(', ')}); one ACCEPT uses offers of one agent`;
      this.input.operations.forEach((op, index) => this.dropAll(op, index, why));
    } else {
      this.input.operations.forEach((op, index) => this.apply(op, index, agents[0]));
    }
    this.plan.unused.push(...this.pool.remaining());
    return this.plan;
  }

  private opType(op: Operation__Output, index: number): { type?: OpType; error?: string } {
    const at = `operations[${index}]`;
    const type = enumName(OperationType, op?.type);
    if (type === undefined || type === 'TYPE_UNSPECIFIED') return { error: `${at}.type: must be one of ${OP_TYPES}, got ${describeValue(type ?? op?.type)}` };
    const member = MEMBER[type];
    if (op.payload !== undefined && op.payload !== member) return { error: `${at}.${op.payload}: does not match type ${type} (set ${at}.${member})` };
    if (op[member] === undefined || op[member] === null) return { error: `${at}.${member}: is required for a ${type} operation` };
    return { type };
  }

  private operationError(op: Operation__Output, index: number, message: string): void {
    const id = op?.id?.value;
    const type = enumName(OperationType, op?.type) ?? String(op?.type);
    this.plan.operationErrors.push({ index, type, ...(id ? { operationId: id } : {}), message });
  }

  private reject(taskId: string, state: TaskOutcome['state'], reason: LaunchRejection, message: string): void {
    this.plan.taskOutcomes.push({ taskId, state, reason, message });
  }

  /** The invalid-offers path: nothing applies, every task is dropped. */
  private dropAll(op: Operation__Output, index: number, why: string): void {
    const tasks = op?.launch?.task_infos ?? op?.launch_group?.task_group?.tasks;
    if (tasks === undefined) return this.operationError(op, index, `operations[${index}]: ${why}`);
    const unreportable: number[] = [];
    tasks.forEach((task, j) => {
      const id = task?.task_id?.value;
      if (typeof id === 'string' && id !== '' && !this.input.isKnownTask(id)) this.reject(id, 'TASK_DROPPED', 'REASON_INVALID_OFFERS', why);
      else unreportable.push(j);
    });
    if (unreportable.length > 0) this.operationError(op, index, `operations[${index}]: ${why} (tasks ${unreportable.join(', ')} not launched and not reported by status update: no task_id, or the id of an existing task)`);
  }

  private apply(op: Operation__Output, index: number, agentId: string): void {
    try {
      this.applyChecked(op, index, agentId);
    } catch (err) {
      // Safety net: an input the checks above did not foresee must not crash the master. Each task
      // and each conversion changes the pool only in its last step, so the failed one changed nothing.
      if (!(err instanceof BerthError)) throw err;
      this.operationError(op, index, `operations[${index}]: ${err.message}`);
    }
  }

  private applyChecked(op: Operation__Output, index: number, agentId: string): void {
    const { type, error } = this.opType(op, index);
    if (type === undefined) return this.operationError(op, index, error!);
    const at = `operations[${index}].${MEMBER[type]}`;
    switch (type) {
      case 'LAUNCH':
        op.launch!.task_infos?.forEach((task, j) => this.launch(op, index, task, `${at}.task_infos[${j}]`, agentId));
        return;
      case 'LAUNCH_GROUP':
        return this.launchGroup(op, index, `${at}.task_group`, agentId);
      case 'RESERVE':
        return this.convert(op, index, type, planReserve(op.reserve!, at, this.ctx));
      case 'UNRESERVE':
        return this.convert(op, index, type, planUnreserve(op.unreserve!, at, this.ctx));
      case 'CREATE':
        return this.convert(op, index, type, planCreate(op.create!, at, this.ctx));
      case 'DESTROY':
        return this.convert(op, index, type, planDestroy(op.destroy!, at, this.ctx));
    }
  }

  private convert(op: Operation__Output, index: number, type: PlannedConversion['type'], result: ConversionResult): void {
    if (result.error !== undefined) return this.operationError(op, index, result.error);
    try {
      this.pool.convert(result.role, result.consumed, result.converted);
    } catch (err) {
      return this.operationError(op, index, `operations[${index}]: ${(err as Error).message}`);
    }
    this.plan.conversions.push({ index, type, role: result.role, consumed: result.consumed, converted: result.converted });
  }

  /**
   * Checks a task alone and against the framework's tasks (ids repeated within the ACCEPT were
   * refused before). `existing`: its id is that of a task the framework has.
   */
  private check(task: TaskInfo__Output, at: string, agentId: string): CheckedTask & { existing?: true } {
    const checked = checkTaskInfo(task, at, { agentId, allowRevocable: this.capabilities.has('REVOCABLE_RESOURCES'), priorityClasses: this.input.priorityClasses });
    const id = checked.taskId;
    if (id === undefined || !this.input.isKnownTask(id)) return checked;
    const problems: Problem[] = [{ field: `${at}.task_id.value`, message: `duplicate task id ${describeValue(id)}: the framework already has a task with this id` }, ...checked.problems];
    return { ...checked, problems, existing: true };
  }

  /** The Unix user a task asks to run as: CommandInfo.user, else FrameworkInfo.user ('' : the agent's default). */
  private userOf(task: TaskInfo__Output): string {
    return task.command?.user ?? this.input.frameworkUser ?? '';
  }

  private launch(op: Operation__Output, index: number, task: TaskInfo__Output, at: string, agentId: string): void {
    const checked = this.check(task, at, agentId);
    const id = checked.taskId;
    if (id === undefined || checked.existing) return this.operationError(op, index, `${at}: task not launched and not reportable: ${formatProblems(checked.problems)}`);
    if (checked.problems.length > 0) return this.reject(id, 'TASK_ERROR', 'REASON_TASK_INVALID', formatProblems(checked.problems));
    const resources = checked.resources!;
    const choice = this.pool.chooseRole(resources);
    if (choice.role === undefined) return this.reject(id, 'TASK_ERROR', 'REASON_TASK_INVALID', `${at}.resources: ${choice.problem}`);
    const user = this.userOf(task);
    if (!this.ctx.authorize('run_task', choice.role, user)) {
      return this.reject(id, 'TASK_ERROR', 'REASON_TASK_UNAUTHORIZED', `${at}: not authorized to launch tasks in role ${JSON.stringify(choice.role)} as ${describeUser(user)}`);
    }
    const short = this.pool.shortfall(choice.role, resources);
    if (short !== undefined) return this.reject(id, 'TASK_ERROR', 'REASON_TASK_INVALID', `${at}.resources: ${short}`);
    this.pool.take(choice.role, resources);
    this.plan.launches.push({ task, role: choice.role, resources, index, group: false });
  }

  private launchGroup(op: Operation__Output, index: number, at: string, agentId: string): void {
    const tasks = op.launch_group!.task_group?.tasks ?? [];
    if (tasks.length === 0) return this.operationError(op, index, `${at}.tasks: a task group needs at least one task`);
    const checked = tasks.map((task, j) => this.check(task, `${at}.tasks[${j}]`, agentId));

    let reason: LaunchRejection = 'REASON_TASK_GROUP_INVALID';
    let why: string | undefined;
    const bad = checked.filter((c) => c.problems.length > 0);
    const unreportable = checked.filter((c) => c.taskId === undefined || c.existing).length;
    if (bad.length > 0) {
      why = bad.map((c) => (c.taskId === undefined ? '' : `task ${JSON.stringify(c.taskId)}: `) + formatProblems(c.problems)).join('; ');
    }
    let total = Resources.empty();
    if (why === undefined) {
      const sum = groupTotal(checked.map((c) => c.resources!));
      if (sum instanceof Resources) total = sum;
      else why = `${at}.tasks[${sum.index}].resources: ${sum.problem}`;
    }
    let role: string | undefined;
    if (why === undefined) {
      const choice = this.pool.chooseRole(total);
      if (choice.role === undefined) why = `${at}: ${choice.problem}`;
      else {
        const refused = tasks.map((t) => this.userOf(t)).find((user) => !this.ctx.authorize('run_task', choice.role!, user));
        if (refused !== undefined) {
          reason = 'REASON_TASK_GROUP_UNAUTHORIZED';
          why = `${at}: not authorized to launch tasks in role ${JSON.stringify(choice.role)} as ${describeUser(refused)}`;
        }
      }
      if (why === undefined && choice.role !== undefined) {
        const short = this.pool.shortfall(choice.role, total);
        if (short === undefined) role = choice.role;
        else why = `${at}: the group's resources together: ${short}`;
      }
    }
    if (role === undefined) {
      const message = `task group rejected as a whole: ${why}`;
      for (const c of checked) if (c.taskId !== undefined && !c.existing) this.reject(c.taskId, 'TASK_ERROR', reason, message);
      if (unreportable > 0) this.operationError(op, index, `${at}: ${message}`);
      return;
    }
    this.pool.take(role, total);
    tasks.forEach((task, j) => this.plan.launches.push({ task, role: role!, resources: checked[j].resources!, index, group: true }));
  }
}

/**
 * What a group's tasks need together: their resources added up, except that a port (range value),
 * a set item or a persistent volume may be claimed by one task only (adding would silently merge the
 * two claims into one), while a shared volume is needed once however many tasks use it. Returns
 * the first task that claims something an earlier one claimed, and what.
 */
function groupTotal(list: readonly Resources[]): Resources | { index: number; problem: string } {
  let own = Resources.empty();
  let shared = Resources.empty();
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    const exclusive = r.filter((e) => !e.shared);
    let next: Resources;
    try {
      next = own.plus(exclusive);
    } catch (err) {
      return { index: i, problem: (err as Error).message }; // one persistent volume in two tasks
    }
    if (!next.minus(exclusive).equals(own)) {
      return { index: i, problem: `${exclusive.toString()} overlaps the resources of an earlier task of the group (a port, set item or volume goes to one task only)` };
    }
    own = next;
    for (const e of r.filter((x) => x.shared === true).entries) {
      const one = Resources.of([e]);
      if (!shared.contains(one)) shared = shared.plus(one);
    }
  }
  try {
    return own.plus(shared);
  } catch (err) {
    return { index: list.length - 1, problem: (err as Error).message }; // a volume both shared and not
  }
}

function describeUser(user: string): string {
  return user === '' ? "the agent's default user" : `user ${JSON.stringify(user)}`;
}
