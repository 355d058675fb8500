/**
 * The master daemon's configuration: the schema (field docs, defaults, cross-field rules) and the
 * help table of `berth master --help-config`. Loading, precedence and error reporting are the generic
 * `loadConfig` of `src/common/config.ts`:
 *
 *     const config = loadConfig({ schema: masterConfigSchema, flags: program.opts(), env: process.env });
 *
 * Every duration is integer milliseconds (fields end in `Ms`) and accepts `15s`, `500ms`, `10m` in
 * flags, env and file.
 */
import { authSettingsSchema } from '../common/auth-settings';
import { natsAuthFields } from '../common/nats-auth';
import { tlsSettingsSchema } from '../common/tls-settings';
import * as os from 'node:os';
import { z } from 'zod';
import { configFields, configMeta, duration, formatConfigTable, port } from '../common/config';
import { Resources, type Quantities } from '../common/resources';
import { MAX_PRIORITY } from './priorities';

const MIB = 1024 * 1024;

/** Problem with a `minAllocatableResources` text, or undefined. */
function minAllocatableProblem(text: string): string | undefined {
  try {
    parseMinAllocatable(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Parses `minAllocatableResources` (`cpus:0.01|mem:32`: alternatives separated by `|`, each in the
 * resources text form without reservations) into the allocator's `Quantities[]`.
 * @throws ResourceError on malformed text.
 */
export function parseMinAllocatable(text: string): Quantities[] {
  return text.split('|').map((alternative) => {
    const r = Resources.parse(alternative.trim());
    if (r.isEmpty()) throw new Error(`alternative "${alternative}" names no resources`);
    return r.quantities();
  });
}

const sorter = z.enum(['drf', 'random']);

/** `backfill:-10,prod:1000` (flags, env) → a mapping; anything else is left for the schema to judge. */
function priorityClassesFromText(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const out: Record<string, unknown> = {};
  for (const part of v.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const at = part.lastIndexOf(':');
    if (at <= 0) return v;
    const value = part.slice(at + 1).trim();
    if (!/^[-+]?\d+$/.test(value)) return v;
    out[part.slice(0, at).trim()] = Number(value);
  }
  return out;
}



/** The master's configuration schema; see {@link MasterConfig} for the fields. */
export const masterConfigSchema = z
  .strictObject({
    grpc: z.strictObject({
      /** Address the gRPC API (frameworks, agents, operators) listens on. @default '127.0.0.1' */
      host: z.string().min(1).default('127.0.0.1').describe('gRPC listen address'),
      /** gRPC port; 0 picks an ephemeral one. @default 5050 */
      port: port().default(5050).describe('gRPC listen port'),
    }).prefault({}),
    http: z.strictObject({
      /** Address of the HTTP port (/metrics, /health, /leader; later the dashboard). @default '127.0.0.1' */
      host: z.string().min(1).default('127.0.0.1').describe('HTTP listen address (metrics, health, leader)'),
      /** HTTP port; 0 picks an ephemeral one. @default 5051 */
      port: port().default(5051).describe('HTTP listen port'),
    }).prefault({}),
    /** Directory of the file registry and other local state. @default './berth-master' */
    workDir: z.string().min(1).default('./berth-master').describe('directory for the file registry and local state'),
    registry: z.strictObject({
      /** Where durable state lives: `file` (one master, under workDir) or `nats` (JetStream KV, HA). @default 'file' */
      kind: z.enum(['file', 'nats']).default('file').describe('registry backend: file (single master) or nats (HA)'),
    }).prefault({}),
    nats: z.strictObject({
      /** NATS server URLs; required when `registry.kind` is `nats`. @default [] */
      servers: z.array(z.url({ protocol: /^(nats|tls|wss?)$/ }).register(configMeta, { expect: 'a NATS URL such as nats://127.0.0.1:4222' }))
        .default([]).describe('NATS server URLs (required for registry.kind nats)'),
      ...natsAuthFields,
      /** JetStream KV bucket of the registry. @default 'berth-registry' */
      registryBucket: z.string().min(1).default('berth-registry').describe('KV bucket of the registry'),
      /** JetStream KV bucket of the leader election. @default 'berth-election' */
      electionBucket: z.string().min(1).default('berth-election').describe('KV bucket of the leader election'),
      /** Replicas of both buckets: 3 needs a 3-node NATS cluster. @default 1 */
      replicas: z.literal([1, 3]).default(1).describe('bucket replicas (3 needs a NATS cluster)'),
      /** Leader lease (the election bucket's TTL); a dead leader is replaced this long after its last renew. @default 10000 */
      leaseMs: duration({ min: 1000 }).default(10_000).describe('leader lease'),
    }).prefault({}),
    /** This master's id, in MasterInfo and the election record. @default `<hostname>:<pid>` */
    masterId: z.string().min(1).default(() => `${os.hostname()}:${process.pid}`).describe('master id')
      .register(configMeta, { defaultText: '<hostname>:<pid>' }),
    /** Fault domain region of the master (REGION_AWARE frameworks are offered remote agents). @default unset */
    region: z.string().min(1).optional().describe('fault domain region'),
    /** Fault domain zone; needs `region`. @default unset */
    zone: z.string().min(1).optional().describe('fault domain zone (needs region)'),
    /**
     * Priority classes: name → whole number, higher wins ("default" is 0 unless set here). Frameworks,
     * gangs and tasks name one (`priority_class`); an unknown name is refused. @default {}
     */
    priorityClasses: z.preprocess(priorityClassesFromText, z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.number().int().min(-MAX_PRIORITY).max(MAX_PRIORITY)))
      .default({}).describe('priority classes, name -> integer (higher wins); in flags and env: name:value,...')
      .register(configMeta, { expect: 'class names (letters, digits, _ . -) with whole numbers: a mapping in the file, "backfill:-10,prod:1000" in flags and env', defaultText: 'none (only "default": 0)' }),
    preemption: z.strictObject({
      /** Roles whose gangs may preempt tasks of lower priority (docs/preemption.md). @default [] (off) */
      roles: z.array(z.string().min(1)).default([]).describe('roles whose gangs may preempt lower-priority tasks (empty: off)'),
      /** Grace a preempted task gets between its termination signal and a forced kill. @default 5000 */
      killGraceMs: duration({ max: 600_000 }).default(5000).describe('grace a preempted task gets before it is killed'),
    }).prefault({}),
    /** Time between allocation cycles (plus a prompt cycle when resources free up). @default 1000 */
    allocationIntervalMs: duration({ min: 1 }).default(1000).describe('time between allocation cycles'),
    /** How long an offer stays valid before it is rescinded; unset: offers never time out (as Mesos). @default unset */
    offerTimeoutMs: duration({ min: 1 }).optional().describe('offer timeout (unset: never)'),
    /**
     * How long a gang offer (every offer of one gang) is held for its framework before it is
     * rescinded whole, unless accepted or declined; 1 s to 5 min. @default 20000
     */
    gangHoldMs: duration({ min: 1000, max: 300_000 }).default(20_000).describe('how long a gang offer is held before it is rescinded whole (1s-5m)'),
    /** Interval of HEARTBEAT events to frameworks. @default 15000 */
    heartbeatIntervalMs: duration({ min: 1 }).default(15_000).describe('heartbeat interval to frameworks'),
    /** How long the master waits for an agent's ping reply. @default 15000 */
    agentPingTimeoutMs: duration({ min: 1 }).default(15_000).describe('agent ping timeout'),
    /** Missed pings in a row after which an agent is unreachable. @default 5 */
    maxAgentPingTimeouts: z.number().int().min(1).default(5).describe('missed pings before an agent is unreachable'),
    /** After a failover, how long agents have to re-register before they are marked unreachable. @default 600000 */
    agentReregisterTimeoutMs: duration({ min: 1000 }).default(600_000).describe('time agents have to re-register after failover'),
    /** Largest gRPC message accepted or sent, in bytes. @default 4194304 (4 MiB) */
    maxMessageBytes: z.number().int().min(64 * 1024).max(2 ** 31 - 1).default(4 * MIB).describe('largest gRPC message in bytes'),
    /**
     * Bytes of events the master queues for a framework that is not reading its stream; past it the
     * stream is cut (RESOURCE_EXHAUSTED) and the framework must re-subscribe. @default 67108864 (64 MiB)
     */
    maxFrameworkBufferBytes: z.number().int().min(64 * 1024).max(2 ** 31 - 1).default(64 * MIB).describe('event bytes queued for a framework that is not reading before its stream is cut'),
    /** Completed tasks remembered per framework (for state queries). @default 1000 */
    maxCompletedTasksPerFramework: z.number().int().min(0).default(1000).describe('completed tasks kept per framework'),
    /**
     * Explicit reconciliations remembered per framework while their agents are still expected back
     * (answered when they return or are given up on); asks past it get RESOURCE_EXHAUSTED. @default 100000
     */
    maxPendingReconciliationsPerFramework: z.number().int().min(1).default(100_000).describe('reconciliations remembered per framework until their agents return'),
    /** Completed (torn down) frameworks remembered. @default 50 */
    maxCompletedFrameworks: z.number().int().min(0).default(50).describe('completed frameworks kept'),
    /** Failover timeout for frameworks that do not set one; 0: tasks die as soon as the framework disconnects. @default 0 */
    frameworkFailoverTimeoutDefaultMs: duration().default(0).describe('failover timeout for frameworks that set none'),
    /** Smallest offer worth making: `|`-separated alternatives, any one suffices. @default 'cpus:0.01|mem:32' */
    minAllocatableResources: z.string().min(1).default('cpus:0.01|mem:32')
      .superRefine((text, ctx) => {
        const problem = minAllocatableProblem(text);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `must be alternatives like "cpus:0.01|mem:32" (${problem})` });
      })
      .describe('smallest offer worth making, e.g. cpus:0.01|mem:32'),
    /** Resource names left out of DRF shares (e.g. `gpus`). @default [] */
    fairnessExcludedResourceNames: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/).register(configMeta, { expect: 'a resource name' }))
      .default([]).describe('resource names excluded from DRF shares'),
    /** Order of roles: `drf` (weighted dominant share) or `random` (weighted). @default 'drf' */
    roleSorter: sorter.default('drf').describe('role sorter: drf or random'),
    /** Order of frameworks within a role. @default 'drf' */
    frameworkSorter: sorter.default('drf').describe('framework sorter: drf or random'),
    dashboard: z.strictObject({
      /**
       * `host:port` of the frameworks' gRPC APIs (berth.v1.Services, berth.v1.Jobs; `berth frameworks
       * --grpc-port`), whose apps and jobs the dashboard shows. Unset: those panels say so. @default unset
       */
      frameworks: z.string().regex(/^[^\s:]+:\d{1,5}$/).register(configMeta, { expect: 'host:port, e.g. 127.0.0.1:5060' }).optional()
        .describe('frameworks API host:port for the dashboard\'s apps and jobs'),
    }).prefault({}),
    /** Authentication and authorization; see `src/master/auth.ts` for the files' formats. */
    auth: authSettingsSchema.prefault({}),
    /**
     * TLS for the gRPC API and the HTTP port (dashboard, /metrics): with a certificate and key the
     * master speaks TLS only; with `clientCertificates` a verified client certificate's common name
     * is the caller's principal (mutual TLS). See `src/common/tls.ts`.
     */
    tls: tlsSettingsSchema.prefault({}),
    /**
     * Modules file (YAML or JSON): third-party modules for the master's extension points, each a package
     * name or path with its options (docs/modules.md). A module that cannot be loaded, or refuses its
     * options, stops the master with exit 78. @default none
     */
    modules: z.string().min(1).optional().describe('modules file (YAML or JSON) to load at start'),
    /**
     * After a burst, once the event loop is quiet, run full GCs (one per idle 2 s) so V8 compacts
     * the fragmented heap and hands it back (src/common/heap-trim.ts); each pauses the master (~0.3 s
     * at 300 MB of live heap). @default true
     */
    heapTrim: z.boolean().default(true).describe('give a fragmented heap back after a burst, with full GCs while idle'),
    /** Log level. @default 'info' */
    logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('log level'),
  })
  .superRefine((c, ctx) => {
    // Runs despite other problems (`when`), so `c` may hold unvalidated values: check types first.
    if (c?.registry?.kind === 'nats' && Array.isArray(c.nats?.servers) && c.nats.servers.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['nats', 'servers'], message: 'must list at least one NATS URL when registry.kind is "nats" (--nats-servers, BERTH_NATS_SERVERS)' });
    }
    if (typeof c?.zone === 'string' && c.region === undefined) {
      ctx.addIssue({ code: 'custom', path: ['zone'], message: 'needs region: a fault domain is a region and a zone' });
    }
  }, { when: () => true });

/** The master's configuration, as loaded and validated (deep-frozen by `loadConfig`). */
export type MasterConfig = z.output<typeof masterConfigSchema>;

/** The help table of `berth master --help-config`: every field with its env var, default and meaning. */
export function describeConfig(): string {
  return formatConfigTable(configFields(masterConfigSchema, 'BERTH_'));
}
