/**
 * `ports:` → Berth port definitions. Berth's tasks use host networking: a container listens on the
 * agent's own address, on the port its process binds — the Compose *target* (container) port. There
 * is no mapping from a published port to it and no routing mesh. So each target port becomes a port
 * definition with that fixed number (`requirePorts: true`): Berth reserves it in the agent's offer so
 * that no two tasks on one agent collide, and the app listens where it always did. A published
 * port that differs from its target is said in a warning; `host_ip` is listed as not imported.
 *
 * Short syntax: `"3000"`, `"3000-3005"`, `"8080:80"`, `"9090-9091:8080-8081"`, `"127.0.0.1:8001:8001"`,
 * `"127.0.0.1::5000"`, `"[::1]:6001:6001"`, `"6060:6060/udp"`, or a bare number. Long syntax:
 * `{target, published, host_ip, protocol, mode, name, app_protocol}`.
 */
import { isMapping, type Notes, type Path } from './notes';
import { describeValue } from '../../../common/wire/problems';

/** One Berth port definition, as an app definition spells it. */
export interface PortDefinition {
  port: number;
  protocol?: 'tcp' | 'udp' | 'udp,tcp';
  name?: string;
}

interface PortSpec {
  readonly targets: number[];
  readonly published?: number[];
  readonly protocol: string;
  readonly name?: unknown;
}

const PORT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** A port or a range `a-b`, each 1-65535 (0 is not a port a container listens on). */
function readRange(text: string): number[] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (m === null) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) return undefined;
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

const SHORT_HELP = 'must be "TARGET", "PUBLISHED:TARGET" or "HOST_IP:PUBLISHED:TARGET", each port 1-65535 or a range a-b, optionally with /tcp or /udp';

function readShort(entry: string | number, at: Path, notes: Notes): PortSpec | undefined {
  let text = String(entry).trim();
  let protocol = 'tcp';
  const slash = text.lastIndexOf('/');
  if (slash >= 0) {
    protocol = text.slice(slash + 1).toLowerCase();
    text = text.slice(0, slash);
  }
  let hostIp: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']:');
    if (end < 0) {
      notes.error(at, `${SHORT_HELP}, got ${describeValue(entry)}`);
      return undefined;
    }
    hostIp = text.slice(1, end);
    text = text.slice(end + 2);
  }
  const parts = text.split(':');
  if (parts.length === 3 && hostIp === undefined) hostIp = parts.shift();
  if (parts.length > 2 || (hostIp !== undefined && parts.length !== 2)) {
    notes.error(at, `${SHORT_HELP} (an IPv6 address goes in brackets: "[::1]:80:80"), got ${describeValue(entry)}`);
    return undefined;
  }
  const targets = readRange(parts.at(-1)!);
  const published = parts.length === 2 && parts[0] !== '' ? readRange(parts[0]!) : undefined;
  if (targets === undefined || (parts.length === 2 && parts[0] !== '' && published === undefined)) {
    notes.error(at, `${SHORT_HELP}, got ${describeValue(entry)}`);
    return undefined;
  }
  if (hostIp !== undefined && hostIp !== '') notes.unmappedKey(at, `host IP ${hostIp}: a task's ports are on every address of its agent's host (host networking); bind the address in the app itself`);
  return { targets, ...(published === undefined ? {} : { published }), protocol };
}

const LONG_KEYS = new Set(['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol']);

function readLong(entry: Record<string, unknown>, at: Path, notes: Notes): PortSpec | undefined {
  for (const k of Object.keys(entry)) {
    if (k.startsWith('x-')) notes.warn([...at, k], 'extension field: not read');
    else if (!LONG_KEYS.has(k)) notes.unmappedKey([...at, k], 'not a key of the long ports syntax (target, published, host_ip, protocol, mode, name, app_protocol)');
  }
  const t = entry.target;
  const targets = typeof t === 'number' || typeof t === 'string' ? readRange(String(t)) : undefined;
  if (targets === undefined || targets.length !== 1) {
    notes.error([...at, 'target'], `is required: the container port, 1-65535, got ${describeValue(t)}`);
    return undefined;
  }
  let published: number[] | undefined;
  const p = entry.published;
  if (p !== undefined && p !== null && p !== '') {
    published = typeof p === 'number' || typeof p === 'string' ? readRange(String(p)) : undefined;
    if (published === undefined) {
      notes.error([...at, 'published'], `must be a port 1-65535 or a range a-b, got ${describeValue(p)}`);
      return undefined;
    }
  }
  if (typeof entry.host_ip === 'string' && entry.host_ip !== '') notes.unmappedKey([...at, 'host_ip'], `a task's ports are on every address of its agent's host (host networking); bind ${entry.host_ip} in the app itself`);
  if (entry.mode !== undefined && entry.mode !== 'host' && entry.mode !== 'ingress') notes.error([...at, 'mode'], `must be "host" or "ingress", got ${describeValue(entry.mode)}`);
  if (entry.mode === 'ingress') notes.unmappedKey([...at, 'mode'], 'Berth has no routing mesh: the port is open only on the agents that run a task of the app (as mode: host)');
  if (entry.app_protocol !== undefined) notes.unmappedKey([...at, 'app_protocol'], 'Berth port definitions have no application protocol');
  const protocol = entry.protocol === undefined ? 'tcp' : String(entry.protocol).toLowerCase();
  return { targets, ...(published === undefined ? {} : { published }), protocol, name: entry.name };
}

/** The port definitions of one service's `ports:`, in the order given, each target port once. */
export function readPorts(value: unknown, at: Path, notes: Notes): PortDefinition[] {
  if (!Array.isArray(value)) {
    notes.wrongShape(at, 'a list of ports ("8080:80" or {target: 80, published: 8080})', value);
    return [];
  }
  const defs: PortDefinition[] = [];
  const byPort = new Map<number, PortDefinition>();
  value.forEach((entry, i) => {
    const here = [...at, i];
    let spec: PortSpec | undefined;
    if (typeof entry === 'string' || typeof entry === 'number') spec = readShort(entry, here, notes);
    else if (isMapping(entry)) spec = readLong(entry, here, notes);
    else notes.wrongShape(here, `a port ("8080:80", 80) or a mapping {target, published, protocol}`, entry);
    if (spec === undefined) return;
    if (spec.protocol !== 'tcp' && spec.protocol !== 'udp') {
      notes.error(here, `protocol must be tcp or udp (Berth has no ${spec.protocol} ports), got ${describeValue(spec.protocol)}`);
      return;
    }
    if (spec.published !== undefined && spec.published.length !== spec.targets.length && spec.published.length !== 1) {
      notes.error(here, `the published range has ${spec.published.length} ports and the target range ${spec.targets.length}: they must be as long`);
      return;
    }
    const moved = spec.published?.some((p, k) => p !== spec.targets[spec.published!.length === 1 ? 0 : k]) ?? false;
    if (moved) {
      notes.warn(here, `published ${spec.published!.join(',')} is not used: tasks use host networking, so the container listens on its target port ${spec.targets.join(',')} on the agent's address; Berth reserves that port`);
    }
    let name: string | undefined;
    if (spec.name !== undefined) {
      const n = String(spec.name).toLowerCase().replace(/[_.]/g, '-');
      if (PORT_NAME.test(n) && spec.targets.length === 1) name = n;
      else notes.warn([...here, 'name'], `${describeValue(spec.name)} is not a Berth port name (lowercase letters, digits and inner dashes; one port): the port has no name`);
    }
    for (const port of spec.targets) {
      const seen = byPort.get(port);
      if (seen !== undefined) {
        const protocols = new Set([...(seen.protocol ?? 'tcp').split(','), spec.protocol]);
        if (protocols.size === 1) notes.warn(here, `port ${port} is already listed: one port definition for it`);
        else seen.protocol = 'udp,tcp';
        continue;
      }
      const def: PortDefinition = { port, ...(spec.protocol === 'udp' ? { protocol: 'udp' as const } : {}), ...(name === undefined ? {} : { name }) };
      byPort.set(port, def);
      defs.push(def);
    }
  });
  return defs;
}
