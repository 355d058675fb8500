/**
 * A service's `deploy:` (Swarm's part of a stack file) → the app definition's instances, resources,
 * upgrade strategy, launch backoff and constraints. Everything it cannot map is listed by path.
 *
 * - `replicas` → `instances`; `mode: global` and the job modes have no equivalent.
 * - `resources.limits.cpus|memory` → `cpus`/`mem` (Berth allocates what it limits, so limits win
 *   over `reservations`, which are used only when no limit is given).
 * - `update_config` → `upgradeStrategy` over the service's replicas: `stop-first` with parallelism p
 *   of n keeps n−p running (minimumHealthCapacity (n−p)/n, no surge); `start-first` starts p new
 *   tasks before it stops old ones (minimumHealthCapacity 1, maximumOverCapacity p/n); parallelism 0
 *   updates all at once. `monitor` + `delay` → `minReadySeconds` (a new task counts once it stayed up
 *   that long; the next batch starts then). `failure_action: rollback` is what Berth does anyway.
 * - `restart_policy.delay` → a constant launch backoff (backoffSeconds = delay, factor 1).
 * - `placement.constraints` on `node.hostname` / `node.labels.X` → IS / UNLIKE constraints,
 *   `preferences: spread` → GROUP_BY, `max_replicas_per_node` → hostname MAX_PER.
 */
import { describeValue } from '../../../common/wire/problems';
import { eachKey, isMapping, readOr, type Notes, type Path } from './notes';
import { readByteSize, readCpus, readInt, readSeconds } from './values';
import type { AppDraft } from './draft';

/** Fractions for the upgrade strategy are kept to this many decimals, rounded towards the given batch. */
const FRACTION_DIGITS = 6;

/** A mapping, or an error saying so (and undefined). */
function mapping(v: unknown, at: Path, notes: Notes, what: string): Record<string, unknown> | undefined {
  if (isMapping(v)) return v;
  if (v !== null && v !== undefined) notes.wrongShape(at, `a mapping of ${what}`, v);
  return undefined;
}

/** MiB (whole, rounded up) of a byte size; a warning when it was not a whole number of MiB. */
export function memMib(bytes: number, at: Path, notes: Notes): number {
  const mib = bytes / 2 ** 20;
  if (Number.isInteger(mib)) return mib;
  const up = Math.max(1, Math.ceil(mib));
  notes.warn(at, `${bytes} bytes is not a whole number of MiB: Berth gets ${up} MiB`);
  return up;
}

/** Reads `deploy:` into `draft` (instances first, since update_config needs them). */
export function readDeploy(value: unknown, at: Path, draft: AppDraft, notes: Notes): void {
  const deploy = mapping(value, at, notes, 'deploy settings');
  if (deploy === undefined) return;
  if (deploy.replicas !== undefined) draft.instances = readOr((v) => readInt(v, 0), deploy.replicas, [...at, 'replicas'], notes);
  eachKey(deploy, at, notes, {
    replicas: () => {},
    mode: (v, here) => {
      if (v === 'replicated') return;
      if (v === 'global') notes.unmappedKey(here, 'Berth has no global mode: set replicas to the number of agents and add the constraint node.hostname UNIQUE (["hostname", "UNIQUE"]) to the app');
      else if (v === 'replicated-job' || v === 'global-job') notes.unmappedKey(here, `a ${v} runs to completion: make it a Berth job (berth job add), not an app`);
      else notes.error(here, `must be "replicated", "global", "replicated-job" or "global-job", got ${describeValue(v)}`);
    },
    resources: (v, here) => readResources(v, here, draft, notes),
    update_config: (v, here) => readUpdateConfig(v, here, draft, notes),
    restart_policy: (v, here) => readRestartPolicy(v, here, draft, notes),
    placement: (v, here) => readPlacement(v, here, draft, notes),
    labels: (v, here) => draft.addLabels(v, here, notes),
    endpoint_mode: (v, here) => {
      if (v !== 'vip' && v !== 'dnsrr') notes.error(here, `must be "vip" or "dnsrr", got ${describeValue(v)}`);
      else notes.unmappedKey(here, 'Berth has no service VIP or DNS: find tasks by their host and ports (berth task list, the Services API)');
    },
  }, {
    rollback_config: 'Berth rolls back with the same upgradeStrategy as it upgrades',
  });
}

function readResources(value: unknown, at: Path, draft: AppDraft, notes: Notes): void {
  const r = mapping(value, at, notes, 'limits and reservations');
  if (r === undefined) return;
  const amounts = (side: 'limits' | 'reservations'): { cpus?: number; mem?: number } => {
    const m = mapping(r[side], [...at, side], notes, 'cpus and memory');
    const out: { cpus?: number; mem?: number } = {};
    if (m === undefined) return out;
    eachKey(m, [...at, side], notes, {
      cpus: (v, here) => { const c = readOr(readCpus, v, here, notes); if (c !== undefined) out.cpus = c; },
      memory: (v, here) => { const b = readOr(readByteSize, v, here, notes); if (b !== undefined) out.mem = memMib(b, here, notes); },
    }, {
      pids: 'Berth sets its own PID limit per container (the agent\'s docker hardening)',
      devices: 'Berth allocates GPUs with the app\'s gpus field, not devices',
      generic_resources: 'Berth has no generic resources in app definitions',
    });
    return out;
  };
  const limits = amounts('limits');
  const reservations = amounts('reservations');
  for (const k of ['cpus', 'mem'] as const) {
    const name = k === 'mem' ? 'memory' : 'cpus';
    const limit = limits[k];
    const reserved = reservations[k];
    if (limit !== undefined) draft[k] = limit;
    else if (reserved !== undefined) draft[k] = reserved;
    if (limit !== undefined && reserved !== undefined && limit !== reserved) {
      notes.warn([...at, 'reservations', name], `Berth allocates and limits one amount: ${k} ${limit} (the limit), not the reservation ${reserved}`);
    }
  }
  for (const k of Object.keys(r)) if (k !== 'limits' && k !== 'reservations' && !k.startsWith('x-')) notes.unmappedKey([...at, k], 'not a key of deploy.resources (limits, reservations)');
}

/** Rounds a fraction down (`up` false) or up to {@link FRACTION_DIGITS} decimals, within [0, 1]. */
function fraction(x: number, up: boolean): number {
  const f = 10 ** FRACTION_DIGITS;
  return Math.min(1, Math.max(0, (up ? Math.ceil(x * f - 1e-9) : Math.floor(x * f + 1e-9)) / f));
}

function readUpdateConfig(value: unknown, at: Path, draft: AppDraft, notes: Notes): void {
  const u = mapping(value, at, notes, 'update settings');
  if (u === undefined) return;
  let parallelism = 1;
  let order = 'stop-first';
  let readyMs = 0;
  eachKey(u, at, notes, {
    parallelism: (v, here) => { parallelism = readOr((x) => readInt(x, 0), v, here, notes) ?? parallelism; },
    order: (v, here) => {
      if (v === 'stop-first' || v === 'start-first') order = v;
      else notes.error(here, `must be "stop-first" or "start-first", got ${describeValue(v)}`);
    },
    delay: (v, here) => { readyMs += (readOr(readSeconds, v, here, notes) ?? 0) * 1000; },
    monitor: (v, here) => { readyMs += (readOr(readSeconds, v, here, notes) ?? 0) * 1000; },
    failure_action: (v, here) => {
      if (v === 'rollback') return;
      if (v === 'pause' || v === 'continue') notes.warn(here, `Berth does not ${v} a failed update: a deployment without progress for progressDeadlineSeconds fails and is rolled back`);
      else notes.error(here, `must be "pause", "continue" or "rollback", got ${describeValue(v)}`);
    },
    max_failure_ratio: (v, here) => {
      if (v !== 0 && v !== '0') notes.unmappedKey(here, 'Berth judges a deployment by its progress (progressDeadlineSeconds), not by a ratio of failed tasks');
    },
  });
  const n = draft.instances ?? 1;
  if (n === 0) notes.warn(at, 'with 0 replicas there is no batch size to keep: Berth\'s default upgrade strategy applies');
  else {
    const batch = parallelism === 0 ? n : Math.min(parallelism, n);
    draft.upgradeStrategy = order === 'start-first'
      ? { minimumHealthCapacity: 1, maximumOverCapacity: fraction(batch / n, true) }
      : { minimumHealthCapacity: fraction((n - batch) / n, false), maximumOverCapacity: 0 };
  }
  if (readyMs > 0) {
    const s = Math.round(readyMs) / 1000;
    if (s > 3600) notes.warn(at, `delay + monitor is ${s} s; Berth's minReadySeconds is at most 3600: 3600 is used`);
    draft.minReadySeconds = Math.min(3600, s);
  }
}

function readRestartPolicy(value: unknown, at: Path, draft: AppDraft, notes: Notes): void {
  const r = mapping(value, at, notes, 'restart settings');
  if (r === undefined) return;
  eachKey(r, at, notes, {
    condition: (v, here) => {
      if (v === 'any') return;
      if (v === 'on-failure') notes.warn(here, 'Berth relaunches a task of an app whenever it ends, also after exit 0 (an app runs forever; a task that should end is a job: berth job add)');
      else if (v === 'none') notes.unmappedKey(here, 'an app\'s tasks are always relaunched; a task that should run once is a job (berth job add)');
      else notes.error(here, `must be "none", "on-failure" or "any", got ${describeValue(v)}`);
    },
    delay: (v, here) => {
      const s = readOr(readSeconds, v, here, notes);
      if (s === undefined) return;
      draft.backoffSeconds = s;
      draft.backoffFactor = 1;
      draft.maxLaunchDelaySeconds = s;
    },
    max_attempts: (v, here) => {
      if (readOr((x) => readInt(x, 0), v, here, notes) !== 0) notes.unmappedKey(here, 'Berth never gives up relaunching an app\'s tasks (it backs off instead): remove the app to stop it');
    },
    window: (v, here) => {
      if (readOr(readSeconds, v, here, notes) !== 0) notes.unmappedKey(here, 'Berth resets the launch backoff after a task stayed up backoffResetSeconds, a framework option (60 s unless set)');
    },
  });
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|]/g;

function readPlacement(value: unknown, at: Path, draft: AppDraft, notes: Notes): void {
  const p = mapping(value, at, notes, 'placement settings');
  if (p === undefined) return;
  eachKey(p, at, notes, {
    constraints: (v, here) => {
      if (!Array.isArray(v)) return notes.wrongShape(here, 'a list such as ["node.hostname == a", "node.labels.zone != east"]', v);
      v.forEach((c, i) => {
        const m = typeof c === 'string' ? /^\s*([A-Za-z0-9_.-]+)\s*(==|!=)\s*(.+?)\s*$/.exec(c) : null;
        if (m === null) return notes.error([...here, i], `must be "ATTRIBUTE == value" or "ATTRIBUTE != value", got ${describeValue(c)}`);
        const [, key, op, val] = m as unknown as [string, string, string, string];
        const field = key === 'node.hostname' ? 'hostname' : key.startsWith('node.labels.') ? key.slice('node.labels.'.length) : undefined;
        if (field === undefined || field === '') {
          return notes.unmappedKey([...here, i], `${key}: Berth constrains on hostname and agent attributes only (node.hostname, node.labels.NAME → the agent attribute NAME)`);
        }
        draft.constraints.push(op === '==' ? [field, 'IS', val] : [field, 'UNLIKE', val.replace(REGEX_SPECIAL, '\\$&')]);
      });
    },
    preferences: (v, here) => {
      if (!Array.isArray(v)) return notes.wrongShape(here, 'a list such as [{spread: node.labels.zone}]', v);
      v.forEach((pref, i) => {
        const spread = isMapping(pref) ? pref.spread : undefined;
        const field = spread === 'node.hostname' ? 'hostname' : typeof spread === 'string' && spread.startsWith('node.labels.') ? spread.slice('node.labels.'.length) : undefined;
        if (field === undefined || field === '') notes.unmappedKey([...here, i], `${describeValue(spread ?? pref)}: Berth spreads (GROUP_BY) over hostname or an agent attribute (spread: node.labels.NAME)`);
        else draft.constraints.push([field, 'GROUP_BY']);
      });
    },
    max_replicas_per_node: (v, here) => {
      const n = readOr((x) => readInt(x, 1), v, here, notes);
      if (n !== undefined) draft.constraints.push(['hostname', 'MAX_PER', String(n)]);
    },
  });
}
