/**
 * The agent daemon's configuration: the schema (field docs, defaults, cross-field rules) and the help
 * table of `berth agent --help-config`. Loading, precedence (flags > `BERTH_*` env > file > defaults)
 * and error reporting are the generic `loadConfig` of `src/common/config.ts`:
 *
 *     const config = loadConfig({ schema: agentConfigSchema, flags: program.opts(), env: process.env });
 *
 * Durations are integer milliseconds (fields end in `Ms`) and accept `15s`, `500ms`, `10m`.
 */
import { tlsSettingsSchema } from '../common/tls-settings';
import * as os from 'node:os';
import { z } from 'zod';
import type { Attribute } from '../common/attributes';
import { configFields, configMeta, duration, formatConfigTable, port } from '../common/config';
import { Resources } from '../common/resources';
import { DEFAULT_DISK_WATCH_INTERVAL_MS, DEFAULT_GC_DELAY_MS, DEFAULT_GC_DISK_HEADROOM } from './sandbox-gc';

const MIB = 1024 * 1024;

/** Disk (MiB) declared when `resources` names none. */
export const DEFAULT_DISK_MIB = 10_240;
/** Ports declared when `resources` names none. */
export const DEFAULT_PORTS = '[31000-32000]';
/** Memory (MiB) kept back for the host and the agent itself when detecting `mem`. */
export const RESERVED_MEM_MIB = 1024;

/**
 * The resources an agent declares when the operator gives none (or leaves some out): every CPU of the
 * host, its memory less {@link RESERVED_MEM_MIB} (at least half of it), {@link DEFAULT_DISK_MIB} of
 * disk and the ports {@link DEFAULT_PORTS}.
 */
export function detectedResources(cpus = os.cpus().length, totalMemBytes = os.totalmem()): string {
  const totalMib = Math.floor(totalMemBytes / MIB);
  const mem = Math.max(Math.floor(totalMib / 2), totalMib - RESERVED_MEM_MIB);
  return `cpus:${Math.max(1, cpus)};mem:${mem};disk:${DEFAULT_DISK_MIB};ports:${DEFAULT_PORTS}`;
}

/**
 * The agent's total resources: the configured text, completed with detected values for each of
 * cpus, mem, disk and ports it does not name.
 * @throws ResourceError on malformed text.
 */
export function agentResources(text: string | undefined): Resources {
  const given = Resources.parse(text ?? '');
  const names = new Set(given.entries.map((e) => e.name));
  return given.plus(Resources.parse(detectedResources()).filter((e) => !names.has(e.name)));
}

/**
 * Parses attributes text `rack:r1;level:2;slots:[1-4]`: a number is a scalar, `[a-b,c-d]` ranges,
 * anything else text.
 * @throws Error naming the bad entry.
 */
export function parseAttributes(text: string): Attribute[] {
  const out: Attribute[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(';')) {
    const item = raw.trim();
    if (item === '') continue;
    const colon = item.indexOf(':');
    if (colon <= 0 || colon === item.length - 1) throw new Error(`attribute "${item}" must be name:value`);
    const name = item.slice(0, colon).trim();
    const value = item.slice(colon + 1).trim();
    if (!/^[A-Za-z0-9_.\-/]+$/.test(name)) throw new Error(`attribute name "${name}" may hold only letters, digits and _ . - /`);
    if (seen.has(name)) throw new Error(`attribute "${name}" is given twice`);
    seen.add(name);
    if (/^-?\d+(\.\d+)?$/.test(value)) {
      out.push({ name, scalar: Number(value) });
    } else if (/^\[.*\]$/.test(value)) {
      const ranges = value.slice(1, -1).split(',').map((part) => {
        const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
        if (m === null || Number(m[1]) > Number(m[2])) throw new Error(`attribute "${name}": bad range "${part}" (want begin-end)`);
        return { begin: Number(m[1]), end: Number(m[2]) };
      });
      out.push({ name, ranges });
    } else {
      out.push({ name, text: value });
    }
  }
  return out;
}

/** The non-empty items of a comma-separated list, trimmed. */
export function splitList(text: string): string[] {
  return text.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

function problemOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The agent's configuration schema; see {@link AgentConfig}. */
export const agentConfigSchema = z.strictObject({
  /**
   * The masters' gRPC addresses, `host:port` or several comma-separated: any of them (a standby points
   * the agent to the leader); when the leader dies the agent tries them in turn. @default '127.0.0.1:5050'
   */
  master: z.string().regex(/^[^\s:,]+:\d{1,5}(,[^\s:,]+:\d{1,5})*$/).register(configMeta, { expect: 'host:port, or several comma-separated, e.g. 10.0.0.1:5050,10.0.0.2:5050' })
    .default('127.0.0.1:5050').describe('master gRPC address(es) host:port[,host:port…]'),
  /** The name the agent registers with (HOSTNAME constraints, maintenance). @default the host's name */
  hostname: z.string().min(1).default(() => os.hostname()).describe('hostname to register with')
    .register(configMeta, { defaultText: '<hostname>' }),
  /**
   * Total resources in the text form (`cpus:4;mem:8192;ports:[31000-32000]`). cpus, mem, disk and
   * ports that are not named are detected: all CPUs, memory less 1 GiB, 10 GiB disk, ports
   * [31000-32000]. @default detected
   */
  resources: z.string().optional()
    .superRefine((text, ctx) => {
      const problem = problemOf(() => agentResources(text));
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `must be resources like "cpus:4;mem:8192" (${problem})` });
    })
    .describe('total resources (unnamed cpus/mem/disk/ports are detected)')
    .register(configMeta, { defaultText: 'detected' }),
  /** Attributes `name:value;…` (numbers are scalars, `[a-b]` ranges, the rest text). @default '' */
  attributes: z.string().default('')
    .superRefine((text, ctx) => {
      const problem = problemOf(() => parseAttributes(text));
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe('attributes such as rack:r1;level:2'),
  http: z.strictObject({
    /** Address of the agent's HTTP port (/metrics, /health/live, /health/ready). @default '127.0.0.1' */
    host: z.string().min(1).default('127.0.0.1').describe('HTTP listen address (metrics, health)'),
    /**
     * HTTP port; 0 picks an ephemeral one (the bound address is logged at startup). 5052, not Mesos's
     * 5051: the master's HTTP port already defaults to 5051 and both often run on one host.
     * @default 5052
     */
    port: port().default(5052).describe('HTTP listen port'),
  }).prefault({}),
  /** Checkpoint directory and task sandboxes. @default './berth-agent' */
  workDir: z.string().min(1).default('./berth-agent').describe('directory for the checkpoint and sandboxes'),
  /**
   * Which containerizers run tasks: `docker` (containers of the local Docker engine, for tasks with a
   * DOCKER container), `process` (plain child processes, for PROCESS tasks), both, or `auto`: both when
   * a Docker engine answers on `dockerSocket` at startup, else `process` alone (logged). Naming
   * `docker` when no engine answers fails the start. @default 'auto'
   */
  containerizers: z.enum(['auto', 'docker,process', 'docker', 'process']).default('auto').describe('containerizers: auto, docker,process, docker or process'),
  /**
   * Enforce a Docker task's cpus as a hard CFS quota on top of CPU shares (Mesos's
   * `--cgroups_enable_cfs`). Off: cpus only weigh tasks against each other when the host is busy.
   * A tiny cpus (0.01) makes a container slow to start under a quota. @default true
   */
  dockerCpuQuota: z.boolean().default(true).describe('hard CPU limit (CFS quota) for Docker tasks'),
  /**
   * The Unix user of tasks that name none (neither CommandInfo.user nor FrameworkInfo.user). Applied
   * when the agent runs as root; an agent that is not root runs every task as itself, and fails those
   * that ask for another user. @default 'nobody'
   */
  taskUser: z.string().regex(/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/, 'must be a Unix user name').max(64).default('nobody').describe('user of tasks that name none (root agents)'),
  /**
   * PROCESS tasks get a cgroup each with their `mem` as memory limit and `cpus` as CPU share and
   * quota, where the host allows it (Linux, agent running as root); otherwise the agent says so at
   * start and runs them unlimited. @default true
   */
  processCgroups: z.boolean().default(true).describe('cgroup cpu/memory limits for PROCESS tasks'),
  /** Docker tasks run with `no-new-privileges` (setuid binaries grant nothing). @default true */
  dockerNoNewPrivileges: z.boolean().default(true).describe('no-new-privileges for Docker tasks'),
  /**
   * Capabilities dropped from Docker's default set for every task, comma-separated (`ALL` drops all).
   * NET_RAW would let a task forge packets on the host's network (tasks use host networking).
   * Empty: Docker's defaults. @default 'NET_RAW'
   */
  dockerDropCapabilities: z.string().default('NET_RAW')
    .superRefine((text, ctx) => {
      for (const c of splitList(text)) if (!/^[A-Z_]+$/.test(c)) ctx.addIssue({ code: 'custom', message: `must be capability names such as NET_RAW,SYS_CHROOT, got "${c}"` });
    })
    .describe('capabilities Docker tasks lose (comma-separated)'),
  /** Most processes a Docker task may run (fork bombs stop there); 0: no limit. @default 4096 */
  dockerPidsLimit: z.number().int().min(0).default(4096).describe('process limit per Docker task (0: none)'),
  /** The Docker engine's socket. @default '/var/run/docker.sock' */
  dockerSocket: z.string().min(1).default('/var/run/docker.sock').describe('Docker engine socket'),
  /**
   * Host directories (absolute paths, comma-separated) DOCKER tasks may mount with a `host_path`
   * volume, with everything below them; others fail with TASK_ERROR (REASON_TASK_UNAUTHORIZED).
   * @default '' (none)
   */
  allowedHostPaths: z.string().default('')
    .superRefine((text, ctx) => {
      for (const p of splitList(text)) if (!p.startsWith('/')) ctx.addIssue({ code: 'custom', message: `must be absolute paths separated by commas, got "${p}"` });
    })
    .describe('host paths tasks may mount (comma-separated)'),
  /** Fault domain `region/zone` (e.g. `eu-west/eu-west-1b`), for region-aware frameworks. @default unset */
  domain: z.string().regex(/^[^/\s]+\/[^/\s]+$/).optional().describe('fault domain region/zone')
    .register(configMeta, { expect: 'region/zone, e.g. eu-west/eu-west-1b', defaultText: 'unset' }),
  /**
   * At startup: `reconnect` recovers the checkpoint and re-attaches to running containers; `cleanup`
   * kills every container of this agent, moves the checkpoint aside (`meta.discarded-<time>`) and
   * registers as a new agent — the way out of a corrupt checkpoint. @default 'reconnect'
   */
  recover: z.enum(['reconnect', 'cleanup']).default('reconnect').describe('reconnect (keep tasks) or cleanup (kill them, start afresh)'),
  /** On SIGTERM, kill every task before exiting (otherwise they keep running and are recovered). @default false */
  killTasksOnShutdown: z.boolean().default(false).describe('kill tasks when the agent stops'),
  /**
   * How long the sandbox (and so the logs) of a finished task is kept at most, counted from the
   * acknowledgement of its terminal update (Mesos's `--gc_delay`); less as the disk fills, see
   * `gcDiskHeadroom`. @default 604800000 (7 days)
   */
  gcDelayMs: duration({ min: 0 }).default(DEFAULT_GC_DELAY_MS).describe('longest a finished task\'s sandbox is kept'),
  /**
   * Fraction of the work directory's disk kept free: sandboxes older than
   * gcDelayMs × max(0, 1 − gcDiskHeadroom − disk usage) are removed, so all finished ones go once
   * usage passes 1 − gcDiskHeadroom (Mesos's `--gc_disk_headroom`). @default 0.1
   */
  gcDiskHeadroom: z.number().min(0).max(1).default(DEFAULT_GC_DISK_HEADROOM).describe('fraction of the disk sandbox GC keeps free (0…1)'),
  /** How often disk use is measured and old sandboxes removed (Mesos's `--disk_watch_interval`). @default 60000 */
  diskWatchIntervalMs: duration({ min: 1000 }).default(DEFAULT_DISK_WATCH_INTERVAL_MS).describe('how often sandbox GC checks disk use'),
  /** Cap of the reconnection backoff to the master. @default 30000 */
  reconnectMaxMs: duration({ min: 100 }).default(30_000).describe('cap of the reconnect backoff'),
  /**
   * Bearer token presented to the master (`authorization: Bearer <token>` on AgentLink.Connect) when
   * it authenticates; its principal needs the `register_agent` ACL. A secret: never logged or echoed
   * in errors; prefer `tokenFile`. @default unset (no authentication)
   */
  token: z.string().min(1).optional().describe('bearer token for the master (secret; prefer tokenFile)')
    .register(configMeta, { secret: true, defaultText: 'unset' }),
  /** File holding the bearer token (surrounding whitespace ignored), read when the agent starts. @default unset */
  tokenFile: z.string().min(1).optional().describe('file holding the bearer token for the master'),
  /**
   * TLS: `caFile` verifies the masters (the agent then dials TLS only), `certFile`/`keyFile` are this
   * agent's certificate — presented to the masters (mutual TLS: its common name is the agent's
   * principal) and served on the HTTP port, which then speaks HTTPS only.
   */
  tls: tlsSettingsSchema.omit({ clientCertificates: true }).prefault({}),
  /**
   * Modules file (YAML or JSON): third-party modules for the agent's extension points, each a package
   * name or path with its options (docs/modules.md). A module that cannot be loaded, or refuses its
   * options, stops the agent with exit 78. @default none
   */
  modules: z.string().min(1).optional().describe('modules file (YAML or JSON) to load at start'),
  /** Log level. @default 'info' */
  logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('log level'),
}).superRefine((c, ctx) => {
  if (c.token !== undefined && c.tokenFile !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: 'give token or tokenFile, not both' });
  }
});

/** The agent's configuration, as loaded and validated. */
export type AgentConfig = z.output<typeof agentConfigSchema>;


/** The help table of `berth agent --help-config`. */
export function describeAgentConfig(): string {
  return formatConfigTable(configFields(agentConfigSchema, 'BERTH_'));
}
