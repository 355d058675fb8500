/**
 * The app definition one Compose service becomes, filled in key by key, and written out with only
 * the fields the service set (Berth's defaults stay defaults), in the form `berth app deploy` reads.
 */
import { describeValue } from '../../../common/wire/problems';
import { isMapping, type Notes, type Path } from './notes';
import type { PortDefinition } from './ports';

export interface HealthCheckDraft {
  protocol: 'COMMAND';
  command: { value: string };
  intervalSeconds: number;
  timeoutSeconds: number;
  maxConsecutiveFailures: number;
  gracePeriodSeconds: number;
  delaySeconds: number;
}

/** The fields of an app definition a Compose file can set. */
export class AppDraft {
  image?: string;
  forcePullImage?: boolean;
  privileged?: boolean;
  readOnly?: boolean;
  cmd?: string;
  args?: string[];
  instances?: number;
  cpus?: number;
  mem?: number;
  readonly env: Record<string, string> = {};
  readonly labels: Record<string, string> = {};
  portDefinitions: PortDefinition[] = [];
  readonly constraints: string[][] = [];
  healthCheck?: HealthCheckDraft;
  upgradeStrategy?: { minimumHealthCapacity: number; maximumOverCapacity: number };
  minReadySeconds?: number;
  backoffSeconds?: number;
  backoffFactor?: number;
  maxLaunchDelaySeconds?: number;
  taskKillGracePeriodSeconds?: number;

  constructor(readonly id: string) {}

  /** `labels:` as a mapping or a list of `key=value`, added to the app's labels. */
  addLabels(value: unknown, at: Path, notes: Notes): void {
    for (const [k, v] of Object.entries(readStringMap(value, at, notes, 'labels', () => ''))) {
      if (Object.hasOwn(this.labels, k) && this.labels[k] !== v) notes.warn(at, `label ${k} is set twice (${describeValue(this.labels[k])} and ${describeValue(v)}): the last one is kept`);
      this.labels[k] = v;
    }
  }

  /** The definition, in Marathon's JSON form, with only what the service set. */
  toDefinition(): Record<string, unknown> {
    const def: Record<string, unknown> = { id: this.id };
    if (this.cmd !== undefined) def.cmd = this.cmd;
    if (this.args !== undefined) def.args = this.args;
    if (this.image !== undefined) {
      const docker: Record<string, unknown> = { image: this.image };
      if (this.forcePullImage === true) docker.forcePullImage = true;
      if (this.privileged === true) docker.privileged = true;
      if (this.readOnly === true) docker.parameters = [{ key: 'read-only', value: 'true' }];
      def.container = { type: 'DOCKER', docker };
    }
    const put = (k: string, v: unknown): void => {
      if (v !== undefined) def[k] = v;
    };
    put('instances', this.instances);
    put('cpus', this.cpus);
    put('mem', this.mem);
    if (Object.keys(this.env).length > 0) def.env = this.env;
    if (Object.keys(this.labels).length > 0) def.labels = this.labels;
    if (this.portDefinitions.length > 0) {
      def.portDefinitions = this.portDefinitions;
      def.requirePorts = true;
    }
    if (this.constraints.length > 0) def.constraints = this.constraints;
    if (this.healthCheck !== undefined) def.healthChecks = [this.healthCheck];
    put('upgradeStrategy', this.upgradeStrategy);
    put('minReadySeconds', this.minReadySeconds);
    put('backoffSeconds', this.backoffSeconds);
    put('backoffFactor', this.backoffFactor);
    put('maxLaunchDelaySeconds', this.maxLaunchDelaySeconds);
    put('taskKillGracePeriodSeconds', this.taskKillGracePeriodSeconds);
    return def;
  }
}

/** A scalar as Compose turns it into a string (`true`, `8080`); null/undefined: not given. */
function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * `environment:` or `labels:` as a mapping (`NAME: value`) or a list (`NAME=value`). An entry without
 * a value (`NAME:` with null, or `NAME` in a list) takes `missing(name)`: for environment the
 * variable of the importing shell, left out when that is not set (as Compose does).
 */
export function readStringMap(value: unknown, at: Path, notes: Notes, what: string, missing: (name: string, at: Path) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (name: string, v: unknown, here: Path): void => {
    if (name === '' || /[=\s]/.test(name)) return notes.error(here, `${what} names must be non-empty, without "=" or blanks, got ${describeValue(name)}`);
    if (v === null || v === undefined) {
      const m = missing(name, here);
      if (m !== undefined) out[name] = m;
      return;
    }
    const text = scalarText(v);
    if (text === undefined) return notes.wrongShape(here, 'a string, number or boolean', v);
    out[name] = text;
  };
  if (Array.isArray(value)) {
    value.forEach((entry, i) => {
      if (typeof entry !== 'string') return notes.wrongShape([...at, i], `"NAME=value"`, entry);
      const eq = entry.indexOf('=');
      if (eq < 0) set(entry, undefined, [...at, i]);
      else set(entry.slice(0, eq), entry.slice(eq + 1), [...at, i]);
    });
  } else if (isMapping(value)) {
    for (const [k, v] of Object.entries(value)) set(k, v, [...at, k]);
  } else if (value !== null && value !== undefined) {
    notes.wrongShape(at, `a mapping (NAME: value) or a list ("NAME=value") of ${what}`, value);
  }
  return out;
}
