/**
 * SUBSCRIBE / UPDATE_FRAMEWORK: a wire `FrameworkInfo` → a {@link ValidFramework}, the master's
 * validated view of a framework, including the allocator's {@link FrameworkDescription}.
 *
 * Every field is checked and every problem reported at once, each naming the field and the value
 * (`framework_info.roles[1]: invalid role "a b": role must not contain " "`). Offer constraints are
 * compiled here once, so a bad regular expression is an INVALID_ARGUMENT for the framework that sent
 * it, never an exception inside an allocation cycle.
 */
import { compileConstraints } from '../../allocator/constraints';
import type { ConstraintPredicate, FrameworkDescription, GangSpec, Quantities, RoleOfferConstraints, TaskShape } from '../../allocator/types';
import { roleProblem } from '../../common/roles';
import { readLabels, type LabelEntry } from '../../common/wire/labels';
import { readQuantity } from '../../common/wire/quantities';
import { enumName, readDouble, textProblem } from '../../common/wire/values';
import { _berth_v1_AttributeConstraint_Op as ConstraintOp } from '../../generated/berth/v1/AttributeConstraint';
import { _berth_v1_AttributeConstraint_PseudoAttribute as PseudoAttribute } from '../../generated/berth/v1/AttributeConstraint';
import type { AttributeConstraint__Output } from '../../generated/berth/v1/AttributeConstraint';
import { _berth_v1_FrameworkInfo_Capability_Type as CapabilityType } from '../../generated/berth/v1/FrameworkInfo';
import type { FrameworkInfo__Output } from '../../generated/berth/v1/FrameworkInfo';
import type { MinAllocatableResources__Output } from '../../generated/berth/v1/MinAllocatableResources';
import type { RoleConstraints__Output } from '../../generated/berth/v1/RoleConstraints';
import type { RoleDemand__Output } from '../../generated/berth/v1/RoleDemand';
import type { TaskShape__Output } from '../../generated/berth/v1/TaskShape';
import { readGangs } from './gangs';
import { DEFAULT_PRIORITY_CLASS, PriorityClasses } from '../priorities';
import { describeValue, mapField, Problems, type Problem } from './errors';

/** A framework as the master keeps it after validation. */
export interface ValidFramework {
  /** `framework_info.id.value`; absent on a first SUBSCRIBE. */
  readonly id?: string;
  readonly name: string;
  /** Unix user for tasks without `CommandInfo.user`; `''` means the agent's default. */
  readonly user: string;
  readonly principal?: string;
  readonly hostname?: string;
  readonly webuiUrl?: string;
  /** Subscribed roles, in the order given, unique, at least one; `*` allowed. */
  readonly roles: readonly string[];
  /** How long tasks survive a disconnected scheduler. @default 0 */
  readonly failoverTimeoutMs: number;
  readonly checkpoint: boolean;
  /** Capability names as in the proto enum (`PARTITION_AWARE`, …); unknown ones are dropped. */
  readonly capabilities: ReadonlySet<string>;
  readonly labels: readonly LabelEntry[];
  /** What the allocator needs (suppressed roles are not part of FrameworkInfo; the caller adds them). */
  readonly description: FrameworkDescription;
  /** `priority_class`, resolved ("default" when empty). */
  readonly priorityClass: string;
}

/** How validation treats priority class names (priorities.ts). */
export interface PriorityCheck {
  readonly classes: PriorityClasses;
  /** Unknown names are problems (SUBSCRIBE, UPDATE_FRAMEWORK); lenient (recovery) counts them as "default". */
  readonly strict: boolean;
}

/** Names unknown classes only: recovery must not fail because the configured classes changed. */
const LENIENT: PriorityCheck = { classes: new PriorityClasses(), strict: false };

/** Longest framework name, user, principal and hostname accepted. */
export const MAX_FRAMEWORK_TEXT_LENGTH = 1024;
/** Longest framework id accepted (ids are UUIDs in practice). */
export const MAX_FRAMEWORK_ID_LENGTH = 255;
/** Largest failover timeout, so that its milliseconds stay exact integers. */
export const MAX_FAILOVER_TIMEOUT_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

const WHITESPACE = /\s/;

/**
 * Validates a FrameworkInfo from SUBSCRIBE or UPDATE_FRAMEWORK.
 *
 * @param path the field path of `info` in the call, for messages.
 * @throws ValidationError listing every invalid field with its value.
 */
export function validateFrameworkInfo(info: FrameworkInfo__Output, path = 'framework_info', priorities: PriorityCheck = LENIENT): ValidFramework {
  const problems = new Problems();
  const result = readFrameworkInfo(info, path, problems, priorities);
  problems.throwIfAny();
  return result;
}

function readFrameworkInfo(info: FrameworkInfo__Output, path: string, problems: Problems, priorities: PriorityCheck): ValidFramework {
  const optionalText = (field: string, v: unknown, max: number, noSpace: boolean): string | undefined => {
    if (v === undefined || v === null || v === '') return undefined;
    const p = textProblem(v, max) ?? (noSpace && WHITESPACE.test(v as string) ? `must not contain whitespace, got ${describeValue(v)}` : undefined);
    if (p !== undefined) problems.add(`${path}.${field}`, p);
    return p === undefined ? (v as string) : undefined;
  };

  let id: string | undefined;
  if (info.id !== undefined && info.id !== null) {
    const p = textProblem(info.id.value, MAX_FRAMEWORK_ID_LENGTH);
    if (p !== undefined) problems.add(`${path}.id.value`, `${p} (leave ${path}.id unset to register a new framework)`);
    else id = info.id.value;
  }
  const nameProblem = textProblem(info.name, MAX_FRAMEWORK_TEXT_LENGTH);
  if (nameProblem !== undefined) problems.add(`${path}.name`, nameProblem);
  const user = optionalText('user', info.user, MAX_FRAMEWORK_TEXT_LENGTH, true) ?? '';
  const principal = optionalText('principal', info.principal, MAX_FRAMEWORK_TEXT_LENGTH, false);
  const hostname = optionalText('hostname', info.hostname, MAX_FRAMEWORK_TEXT_LENGTH, true);
  const webuiUrl = optionalText('webui_url', info.webui_url, MAX_FRAMEWORK_TEXT_LENGTH, true);
  if (webuiUrl !== undefined && !/^https?:\/\/[^/]/i.test(webuiUrl)) {
    problems.add(`${path}.webui_url`, `must be an absolute http(s) URL, got ${describeValue(webuiUrl)}`);
  }

  const failoverTimeoutMs = readFailoverTimeout(info.failover_timeout, `${path}.failover_timeout`, problems);
  const roles = readRoles(info.roles, `${path}.roles`, problems);
  const roleSet = new Set(roles);
  const capabilities = new Set<string>();
  for (const c of info.capabilities ?? []) {
    const name = enumName(CapabilityType, c?.type);
    if (name !== undefined && name !== 'TYPE_UNSPECIFIED') capabilities.add(name); // unknown ones are ignored (proto)
  }
  const labels = readLabels(info.labels, `${path}.labels`, problems);

  const offerConstraints: Record<string, RoleOfferConstraints> = {};
  const minAllocatableResources: Record<string, readonly Quantities[]> = {};
  const demand: Record<string, readonly TaskShape[]> = {};
  forEachRole(info.offer_filters, `${path}.offer_filters`, roleSet, path, problems, (role, filters, at) => {
    const min = filters?.min_allocatable_resources;
    if (min !== undefined && min !== null) minAllocatableResources[role] = readMinAllocatable(min, `${at}.min_allocatable_resources`, problems);
  });
  forEachRole(info.offer_constraints, `${path}.offer_constraints`, roleSet, path, problems, (role, rc, at) => {
    const c = readRoleConstraints(rc, at, problems);
    if (c !== undefined && c.groups.length > 0) offerConstraints[role] = c;
  });
  const priorityClass = priorities.classes.resolveName(info.priority_class);
  const classProblem = (name: string, at: string) => {
    const p = priorities.strict ? priorities.classes.problem(name) : undefined;
    if (p !== undefined) problems.add(at, p);
    return p === undefined;
  };
  if (priorityClass !== DEFAULT_PRIORITY_CLASS) classProblem(priorityClass, `${path}.priority_class`);
  const gangPriority = (name: string | undefined, at: string): { priorityClass: string; priority: number } | undefined => {
    const resolved = priorities.classes.resolveName(name, priorityClass);
    if (name !== undefined && name !== '' && !classProblem(resolved, at)) return undefined;
    return { priorityClass: resolved, priority: priorities.classes.valueOr0(resolved) };
  };
  const gangs: Record<string, readonly GangSpec[]> = {};
  const gangIds = new Map<string, string>();
  forEachRole(info.demand, `${path}.demand`, roleSet, path, problems, (role, d, at) => {
    demand[role] = readRoleDemand(d, at, problems);
    const list = readGangs(d?.gangs, at, problems, gangIds, (shape, where) => readTaskShape(shape, where, problems), gangPriority);
    if (list.length > 0) gangs[role] = list;
  });

  const description: FrameworkDescription = {
    roles,
    capabilities: {
      gpuResources: capabilities.has('GPU_RESOURCES'),
      regionAware: capabilities.has('REGION_AWARE'),
      revocableResources: capabilities.has('REVOCABLE_RESOURCES'),
    },
    offerConstraints,
    minAllocatableResources,
    demand,
    gangs,
  };
  return {
    ...(id === undefined ? {} : { id }),
    name: info.name,
    user,
    ...(principal === undefined ? {} : { principal }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(webuiUrl === undefined ? {} : { webuiUrl }),
    roles,
    failoverTimeoutMs,
    checkpoint: info.checkpoint === true,
    capabilities,
    labels,
    description,
    priorityClass,
  };
}

function readFailoverTimeout(v: unknown, at: string, problems: Problems): number {
  const d = readDouble(v);
  if (!d.ok || !Number.isFinite(d.value) || d.value < 0) {
    problems.add(at, `must be a non-negative number of seconds, got ${describeValue(d.ok ? d.value : v)}`);
    return 0;
  }
  if (d.value > MAX_FAILOVER_TIMEOUT_SECONDS) {
    problems.add(at, `must be at most ${MAX_FAILOVER_TIMEOUT_SECONDS} seconds, got ${d.value}`);
    return 0;
  }
  return Math.round(d.value * 1000);
}

function readRoles(list: readonly string[] | undefined, at: string, problems: Problems): string[] {
  const roles: string[] = [];
  const first = new Map<string, number>();
  (list ?? []).forEach((role, i) => {
    const p = roleProblem(role);
    if (p !== undefined) return void problems.add(`${at}[${i}]`, `invalid role ${describeValue(role)}: ${p}`);
    if (first.has(role)) return void problems.add(`${at}[${i}]`, `duplicate role ${describeValue(role)} (also ${at}[${first.get(role)}])`);
    first.set(role, i);
    roles.push(role);
  });
  if ((list ?? []).length === 0) problems.add(at, 'must name at least one role');
  return roles;
}

/** Visits a role-keyed map, reporting keys that are not subscribed roles. */
function forEachRole<T>(
  map: Readonly<Record<string, T>> | undefined | null,
  at: string,
  roles: ReadonlySet<string>,
  path: string,
  problems: Problems,
  visit: (role: string, value: T, at: string) => void,
): void {
  for (const role of Object.keys(map ?? {}).sort()) {
    const here = mapField(at, role);
    if (!roles.has(role)) problems.add(here, `role ${describeValue(role)} is not one of ${path}.roles`);
    else visit(role, map![role], here);
  }
}

function readMinAllocatable(min: MinAllocatableResources__Output, at: string, problems: Problems): Quantities[] {
  return (min.alternatives ?? []).map((alt, i) => {
    const q = new Map<string, number>();
    (alt?.quantities ?? []).forEach((wire, j) => {
      const here = `${at}.alternatives[${i}].quantities[${j}]`;
      if (wire?.name === 'ports') {
        return void problems.add(`${here}.name`, '"ports" is a range resource; minimum offer sizes count scalar resources only');
      }
      const e = readQuantity(wire, here, problems);
      if (e !== undefined && e.milli !== 0) q.set(e.name, (q.get(e.name) ?? 0) + e.milli);
    });
    return q;
  });
}

function readRoleDemand(d: RoleDemand__Output | null, at: string, problems: Problems): TaskShape[] {
  const shapes: TaskShape[] = [];
  (d?.shapes ?? []).forEach((shape, i) => {
    const read = readTaskShape(shape, `${at}.shapes[${i}]`, problems);
    const count = shape?.count ?? 0;
    if (count === 0) return; // "0 means the shape is ignored"
    shapes.push({ ...read, count });
  });
  return shapes;
}

/** A wire TaskShape's resources and constraints (not its count), problems recorded at `here`. */
function readTaskShape(shape: TaskShape__Output | null, here: string, problems: Problems): TaskShape {
  const quantities = new Map<string, number>();
  let ports = 0;
  (shape?.resources ?? []).forEach((wire, j) => {
    const e = readQuantity(wire, `${here}.resources[${j}]`, problems);
    if (e === undefined) return;
    if (e.name !== 'ports') quantities.set(e.name, (quantities.get(e.name) ?? 0) + e.milli);
    else if (e.milli % 1000 !== 0) problems.add(`${here}.resources[${j}].value`, `ports is a count of ports and must be whole, got ${wire.value}`);
    else ports += e.milli / 1000;
  });
  const constraints = shape?.constraints === null || shape?.constraints === undefined ? undefined : readRoleConstraints(shape.constraints, `${here}.constraints`, problems);
  return {
    quantities,
    ...(ports > 0 ? { ports } : {}),
    ...(constraints !== undefined && constraints.groups.length > 0 ? { constraints } : {}),
  };
}

const OPS = Object.keys(ConstraintOp).filter((op) => op !== 'OP_UNSPECIFIED');
const PSEUDOS = Object.keys(PseudoAttribute).filter((p) => p !== 'PSEUDO_ATTRIBUTE_UNSPECIFIED');

/**
 * Converts and checks wire role constraints (groups of attribute predicates): a selector, a known
 * operator, and for TEXT_MATCHES / TEXT_NOT_MATCHES a regular expression that compiles (with the
 * allocator's own compiler). Records problems at `at.groups[g].constraints[c]…`; returns `undefined`
 * if there were any.
 */
export function readRoleConstraints(rc: RoleConstraints__Output | null | undefined, at: string, problems: Problems): RoleOfferConstraints | undefined {
  const before = problems.size;
  const groups = (rc?.groups ?? []).map((g, gi) => ({
    predicates: (g?.constraints ?? []).map((c, ci) => readConstraint(c, `${at}.groups[${gi}].constraints[${ci}]`, problems)).filter((p) => p !== undefined),
  }));
  return problems.size > before ? undefined : { groups };
}

function readConstraint(c: AttributeConstraint__Output, at: string, problems: Problems): ConstraintPredicate | undefined {
  const before = problems.size;
  let selector: ConstraintPredicate['selector'] | undefined;
  const hasPseudo = c?.pseudo_attribute !== undefined && c?.pseudo_attribute !== null;
  const hasName = c?.attribute_name !== undefined && c?.attribute_name !== null;
  if (hasPseudo && hasName) {
    problems.add(at, 'set only one of pseudo_attribute and attribute_name');
  } else if (hasPseudo) {
    const pseudo = enumName(PseudoAttribute, c.pseudo_attribute);
    if (pseudo === 'HOSTNAME' || pseudo === 'REGION' || pseudo === 'ZONE') selector = { pseudo };
    else problems.add(`${at}.pseudo_attribute`, `must be one of ${PSEUDOS.join(', ')}, got ${describeValue(pseudo ?? c.pseudo_attribute)}`);
  } else if (hasName) {
    const p = textProblem(c.attribute_name, 256);
    if (p === undefined) selector = { attribute: c.attribute_name! };
    else problems.add(`${at}.attribute_name`, p);
  } else {
    problems.add(at, 'needs a selector: set pseudo_attribute or attribute_name');
  }
  const op = enumName(ConstraintOp, c?.op);
  if (op === undefined || op === 'OP_UNSPECIFIED') problems.add(`${at}.op`, `must be one of ${OPS.join(', ')}, got ${describeValue(op ?? c?.op)}`);
  const value = typeof c?.value === 'string' ? c.value : '';
  if (problems.size > before || selector === undefined || op === undefined || op === 'OP_UNSPECIFIED') return undefined;
  let predicate: ConstraintPredicate;
  if (op === 'EXISTS' || op === 'NOT_EXISTS') predicate = { selector, op };
  else if (op === 'TEXT_EQUALS' || op === 'TEXT_NOT_EQUALS') predicate = { selector, op, value };
  else predicate = { selector, op, regex: value };
  try {
    compileConstraints({ groups: [{ predicates: [predicate] }] }, 'c');
  } catch (err) {
    // The allocator's message starts with its own path ("c.groups[0].predicates[0].regex: …").
    const message = (err as Error).message;
    const colon = message.indexOf(': ');
    problems.add(`${at}.value`, colon < 0 ? message : message.slice(colon + 2));
    return undefined;
  }
  return predicate;
}

/**
 * What an UPDATE_FRAMEWORK (or a failover SUBSCRIBE) may not change, as in Mesos: `principal`,
 * `user` and `checkpoint`, plus the id itself. Returns one problem per changed field naming both
 * values; empty when the update is allowed.
 */
export function frameworkUpdateProblems(old: ValidFramework, next: ValidFramework, path = 'framework_info'): Problem[] {
  const problems: Problem[] = [];
  const changed = (field: string, a: unknown, b: unknown): void => {
    problems.push({ field: `${path}.${field}`, message: `cannot change after the first SUBSCRIBE: was ${describeValue(a)}, got ${describeValue(b)}` });
  };
  if (old.id !== undefined && next.id !== old.id) changed('id.value', old.id, next.id);
  if (next.principal !== old.principal) changed('principal', old.principal ?? '', next.principal ?? '');
  if (next.user !== old.user) changed('user', old.user, next.user);
  if (next.checkpoint !== old.checkpoint) changed('checkpoint', old.checkpoint, next.checkpoint);
  return problems;
}

/**
 * Checks `Subscribe.suppressed_roles` / `UpdateFramework.suppressed_roles`: each must be one of the
 * framework's roles. Returns the problems (empty when fine).
 */
export function suppressedRolesProblems(list: readonly string[], framework: ValidFramework, path = 'suppressed_roles'): Problem[] {
  const roles = new Set(framework.roles);
  return list.flatMap((role, i) => (roles.has(role) ? [] : [{ field: `${path}[${i}]`, message: `role ${describeValue(role)} is not one of the framework's roles` }]));
}
