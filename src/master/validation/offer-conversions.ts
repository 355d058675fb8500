/**
 * RESERVE, UNRESERVE, CREATE and DESTROY inside an ACCEPT: each checked against the framework and
 * the resources left by the earlier operations, and turned into a conversion (`consumed` →
 * `converted`) in one offer role. Mesos semantics (master/validation.cpp, `Resources::apply`):
 * - RESERVE pushes one DYNAMIC reservation, to a role of the framework, by the framework's principal
 *   (filled in when absent), onto resources that are in the offers; refining an existing reservation
 *   needs RESERVATION_REFINEMENT.
 * - UNRESERVE pops a DYNAMIC reservation off offered resources; never a persistent volume's (DESTROY
 *   it first) and never a STATIC one.
 * - CREATE turns offered reserved disk into persistent volumes with new ids; DESTROY the reverse.
 * The planner applies a successful result to the pool; a failed one changes nothing.
 */
import { Resources, type Reservation, type Resource } from '../../common/resources';
import { readResources } from '../../common/wire/resources';
import type { Resource__Output } from '../../generated/berth/v1/Resource';
import { describeValue, formatProblems, Problems } from './errors';
import type { OfferPool } from './offer-pool';

/** Actions the master may be asked to authorize for an ACCEPT. */
export type AcceptAction = 'run_task' | 'reserve' | 'unreserve' | 'create_volume' | 'destroy_volume';

/** What the conversion checks need to know about the framework. */
export interface ConversionContext {
  readonly pool: OfferPool;
  readonly principal?: string;
  readonly frameworkRoles: ReadonlySet<string>;
  readonly capabilities: ReadonlySet<string>;
  readonly authorize: (action: AcceptAction, role: string, user?: string) => boolean;
}

/** A checked conversion, or why it is rejected. */
export type ConversionResult =
  | { readonly role: string; readonly consumed: Resources; readonly converted: Resources; readonly error?: undefined }
  | { readonly error: string };

const fail = (error: string): ConversionResult => ({ error });

function parse(list: readonly Resource__Output[] | undefined, at: string): Resources | string {
  const problems = new Problems();
  const r = readResources(list ?? [], at, problems);
  if (r === undefined) return formatProblems(problems.list);
  if (r.isEmpty()) return `${at}: must not be empty`;
  return r;
}

const text = (e: Resource): string => Resources.of([e]).toString();
const top = (e: Resource): Reservation | undefined => e.reservations[e.reservations.length - 1];
const quoteList = (xs: Iterable<string>): string => [...xs].map((x) => JSON.stringify(x)).join(', ');

function principalProblem(given: string | undefined, ctx: ConversionContext, what: string): string | undefined {
  if (given === undefined || given === ctx.principal) return undefined;
  return ctx.principal === undefined
    ? `${what} principal ${describeValue(given)} is not allowed: the framework has no principal`
    : `${what} principal ${describeValue(given)} must be the framework's principal ${describeValue(ctx.principal)}`;
}

/** Checks a RESERVE (`resources` with the new reservation on top; `source` optional). */
export function planReserve(op: { source?: readonly Resource__Output[]; resources?: readonly Resource__Output[] }, at: string, ctx: ConversionContext): ConversionResult {
  const resources = parse(op.resources, `${at}.resources`);
  if (typeof resources === 'string') return fail(resources);
  const roles = new Set<string>();
  const filled: Resource[] = [];
  for (const e of resources.entries) {
    const r = top(e);
    if (r === undefined) return fail(`${at}.resources: ${text(e)} carries no reservation: put the new DYNAMIC reservation on top of its stack`);
    if (r.type !== 'DYNAMIC') return fail(`${at}.resources: ${text(e)}: the new reservation must be DYNAMIC, got ${r.type}`);
    if (e.disk?.persistence !== undefined) return fail(`${at}.resources: ${text(e)} is a persistent volume; reserve the disk before creating the volume`);
    if (e.reservations.length > 1 && !ctx.capabilities.has('RESERVATION_REFINEMENT')) {
      return fail(`${at}.resources: ${text(e)} refines a reservation, which needs the RESERVATION_REFINEMENT capability`);
    }
    const pp = principalProblem(r.principal, ctx, `${at}.resources: reservation`);
    if (pp !== undefined) return fail(pp);
    roles.add(r.role);
    filled.push({ ...e, reservations: [...e.reservations.slice(0, -1), withPrincipal(r, ctx.principal)] });
  }
  if (roles.size !== 1) return fail(`${at}.resources: one RESERVE reserves for one role, got ${quoteList(roles)}`);
  const role = [...roles][0];
  if (!ctx.frameworkRoles.has(role)) return fail(`${at}.resources: cannot reserve for role ${JSON.stringify(role)}: not one of the framework's roles (${quoteList(ctx.frameworkRoles)})`);
  if (!ctx.pool.roles().includes(role)) return fail(`${at}.resources: no offer of role ${JSON.stringify(role)} is being accepted (offer roles: ${quoteList(ctx.pool.roles())})`);
  const converted = Resources.of(filled);
  const consumed = converted.popReservation();
  if (op.source !== undefined && op.source.length > 0) {
    const source = parse(op.source, `${at}.source`);
    if (typeof source === 'string') return fail(source);
    if (!source.equals(consumed)) return fail(`${at}.source: ${source.toString()} is not the resources without their new reservation (${consumed.toString()})`);
  }
  if (!ctx.authorize('reserve', role)) return fail(`${at}: not authorized to reserve resources for role ${JSON.stringify(role)}`);
  const short = ctx.pool.shortfall(role, consumed);
  return short === undefined ? { role, consumed, converted } : fail(`${at}.resources: ${short}`);
}

function withPrincipal(r: Reservation, principal: string | undefined): Reservation {
  return r.principal !== undefined || principal === undefined ? r : { ...r, principal };
}

/** Checks an UNRESERVE (`resources` as offered; their top DYNAMIC reservation is removed). */
export function planUnreserve(op: { resources?: readonly Resource__Output[] }, at: string, ctx: ConversionContext): ConversionResult {
  const resources = parse(op.resources, `${at}.resources`);
  if (typeof resources === 'string') return fail(resources);
  const roles = new Set<string>();
  for (const e of resources.entries) {
    const r = top(e);
    if (r === undefined) return fail(`${at}.resources: ${text(e)} is not reserved`);
    if (r.type !== 'DYNAMIC') return fail(`${at}.resources: ${text(e)} is STATICally reserved; only DYNAMIC reservations can be unreserved`);
    if (e.disk?.persistence !== undefined) {
      return fail(`${at}.resources: ${text(e)} backs the persistent volume ${JSON.stringify(e.disk.persistence.id)}; DESTROY it first`);
    }
    roles.add(r.role);
  }
  for (const role of roles) {
    if (!ctx.authorize('unreserve', role)) return fail(`${at}: not authorized to unreserve resources of role ${JSON.stringify(role)}`);
  }
  return inPool(ctx, at, resources, resources.popReservation(), [...roles]);
}

/** Checks a CREATE (`volumes`: reserved disk with `disk.persistence`). */
export function planCreate(op: { volumes?: readonly Resource__Output[] }, at: string, ctx: ConversionContext): ConversionResult {
  const volumes = parse(op.volumes, `${at}.volumes`);
  if (typeof volumes === 'string') return fail(volumes);
  const existing = new Set(ctx.pool.roles().flatMap((role) => ctx.pool.get(role).persistentVolumes().entries.map((v) => v.disk!.persistence!.id)));
  const roles = new Set<string>();
  const filled: Resource[] = [];
  for (const e of volumes.entries) {
    const p = e.disk?.persistence;
    if (p === undefined) return fail(`${at}.volumes: ${text(e)} is not a persistent volume: set disk.persistence.id`);
    const r = top(e);
    if (r === undefined) return fail(`${at}.volumes: ${text(e)}: persistent volumes need reserved disk`);
    if (existing.has(p.id)) return fail(`${at}.volumes: a persistent volume with id ${JSON.stringify(p.id)} already exists on the agent`);
    if (e.shared && !ctx.capabilities.has('SHARED_RESOURCES')) return fail(`${at}.volumes: ${text(e)}: shared volumes need the SHARED_RESOURCES capability`);
    const pp = principalProblem(p.principal, ctx, `${at}.volumes: ${JSON.stringify(p.id)}: persistence`);
    if (pp !== undefined) return fail(pp);
    roles.add(r.role);
    const persistence = p.principal === undefined && ctx.principal !== undefined ? { ...p, principal: ctx.principal } : p;
    filled.push({ ...e, disk: { ...e.disk, persistence } });
  }
  for (const role of roles) {
    if (!ctx.authorize('create_volume', role)) return fail(`${at}: not authorized to create volumes for role ${JSON.stringify(role)}`);
  }
  const converted = Resources.of(filled);
  return inPool(ctx, at, stripVolumes(converted), converted, [...roles]);
}

/** Checks a DESTROY (`volumes` as offered). */
export function planDestroy(op: { volumes?: readonly Resource__Output[] }, at: string, ctx: ConversionContext): ConversionResult {
  const volumes = parse(op.volumes, `${at}.volumes`);
  if (typeof volumes === 'string') return fail(volumes);
  const roles = new Set<string>();
  for (const e of volumes.entries) {
    if (e.disk?.persistence === undefined) return fail(`${at}.volumes: ${text(e)} is not a persistent volume`);
    roles.add(top(e)?.role ?? '*');
  }
  for (const role of roles) {
    if (!ctx.authorize('destroy_volume', role)) return fail(`${at}: not authorized to destroy volumes of role ${JSON.stringify(role)}`);
  }
  return inPool(ctx, at, volumes, stripVolumes(volumes), [...roles]);
}

/** Plain disk under the volumes: persistence, mount and sharing removed (Mesos `stripPersistentVolume`). */
function stripVolumes(r: Resources): Resources {
  return Resources.of(r.entries.map((e) => (e.disk === undefined ? e : { ...e, disk: undefined, shared: undefined })));
}

/** Finds the offer role holding `consumed` and returns the conversion, or what is missing. */
function inPool(ctx: ConversionContext, at: string, consumed: Resources, converted: Resources, preferred: readonly string[]): ConversionResult {
  const choice = ctx.pool.chooseRole(consumed, preferred);
  if (choice.role === undefined) return fail(`${at}: ${choice.problem}`);
  const short = ctx.pool.shortfall(choice.role, consumed);
  return short === undefined ? { role: choice.role, consumed, converted } : fail(`${at}: ${short}`);
}
