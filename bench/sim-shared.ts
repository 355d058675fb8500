/**
 * What the processes of `bench:master` share: the IPC messages between the orchestrator
 * (`bench/master.ts`) and its children (`master-child`, `sim-agents`, `sim-frameworks`), a clock
 * that all of them agree on, percentiles, and the gRPC channel options of the simulators.
 *
 * Children are started with `fork(…, { serialization: 'advanced' })`, so typed arrays cross the
 * IPC channel as they are. A child whose IPC channel closes (the orchestrator died, or was killed)
 * exits at once: no simulator or master outlives a benchmark run.
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';

/**
 * Epoch milliseconds with sub-millisecond resolution. Processes on one host agree on it (each
 * process's `timeOrigin` is read from the same real-time clock), so a time taken in the agents'
 * process can be subtracted from one taken in the frameworks' process.
 */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/** The p-th percentile (nearest rank) of the first `n` values of `values`; NaN when empty. */
export function percentile(values: Float64Array, p: number, n = values.length): number {
  if (n === 0) return Number.NaN;
  const sorted = values.slice(0, n).sort();
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
}

export const round3 = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

/**
 * Client channel options of every simulated agent and framework: a channel of its own (a local
 * subchannel pool, hence its own TCP connection, as separate machines would have) and no receive
 * limit (one OFFERS event carries all of a framework's offers of a cycle).
 */
export const SIM_CHANNEL_OPTIONS = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
} as const;

/** The resources of one simulated task, as the frameworks launch it. */
export const TASK_CPUS_MILLI = 10; // cpus:0.01
export const TASK_MEM_MILLI = 1000; // mem:1 (MiB)
export const TASK_RESOURCES_TEXT = 'cpus:0.01;mem:1';

/** How a child says what went wrong before it exits non-zero. */
export interface FailedMessage {
  readonly type: 'failed';
  readonly message: string;
}

/** CPU and memory of a child, for the report. */
export interface ProcessUsage {
  readonly cpuUserS: number;
  readonly cpuSystemS: number;
  readonly rssMb: number;
}

export function processUsage(): ProcessUsage {
  const cpu = process.cpuUsage();
  return { cpuUserS: round3(cpu.user / 1e6), cpuSystemS: round3(cpu.system / 1e6), rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20) };
}

// ---------------------------------------------------------------------------------------------
// master-child

export interface MasterChildConfig {
  readonly registryDir: string;
  /** Serve TLS with this certificate (bench:master --tls). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  readonly allocationIntervalMs: number;
  readonly metrics: boolean;
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** The master's priorityClasses and preemption settings (bench:batch preemption). @default none, off */
  readonly priorityClasses?: Readonly<Record<string, number>>;
  readonly preemption?: { readonly roles: readonly string[]; readonly killGraceMs: number };
}

export type ToMaster =
  | { readonly type: 'memory'; readonly gc: boolean }
  | { readonly type: 'profile-start' }
  | { readonly type: 'profile-stop'; readonly file: string }
  | { readonly type: 'heap-profile-start' }
  | { readonly type: 'heap-profile-stop'; readonly file: string }
  | { readonly type: 'stop' };

export interface MasterMemory {
  readonly type: 'memory';
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
  /** The master's own view of the cluster at the time of the reading. */
  readonly agents: number;
  readonly agentsConnected: number;
  readonly frameworks: number;
  readonly tasks: number;
  readonly tasksRunning: number;
  readonly offersOutstanding: number;
  readonly usage: ProcessUsage;
  /** When the reading was taken (wallMs). */
  readonly at: number;
}

export type FromMaster =
  | { readonly type: 'ready'; readonly address: string }
  | MasterMemory
  | { readonly type: 'profile-started' }
  | { readonly type: 'profile-stopped'; readonly file: string }
  | { readonly type: 'heap-profile-started' }
  | { readonly type: 'heap-profile-stopped'; readonly file: string }
  | { readonly type: 'stopped' }
  | FailedMessage;

// ---------------------------------------------------------------------------------------------
// sim-agents

export interface AgentsConfig {
  readonly address: string;
  readonly agents: number;
  /** TCP connections the agents' streams are spread over (one each = agents). */
  readonly connections: number;
  /** Resources every agent registers with, text form. */
  readonly resources: string;
  /** Registrations in flight at once. */
  readonly registerConcurrency: number;
  /** Acknowledgements after which the agents report `acked`. */
  readonly expectedAcks: number;
  /** Dial TLS, verifying the master with this CA (bench:master --tls). */
  readonly tlsCaFile?: string;
  /** Answer a KILL_TASK only after its kill policy's grace (a task that ignores SIGTERM). @default false: at once */
  readonly killTakesGrace?: boolean;
}

export type ToAgents = { readonly type: 'progress' } | { readonly type: 'stop' };

export interface AgentsProgress {
  readonly type: 'progress';
  readonly registered: number;
  readonly runTasks: number;
  readonly acks: number;
  readonly pings: number;
  readonly streamsLost: number;
  readonly usage: ProcessUsage;
}

export interface AgentsDone {
  readonly type: 'acked';
  /** When the last expected acknowledgement arrived (wallMs). */
  readonly lastAckAt: number;
  readonly firstRunTaskAt: number;
  readonly acks: number;
  /** Per acknowledged update: TASK_RUNNING sent by the agent → its acknowledgement back at the agent, ms. */
  readonly updateToAck: Float64Array;
  /** Per task: RUN_TASK received → acknowledgement received, ms. */
  readonly runToAck: Float64Array;
  readonly usage: ProcessUsage;
}

export type FromAgents =
  | { readonly type: 'registered'; readonly agents: number; readonly ms: number; readonly usage: ProcessUsage }
  | AgentsProgress
  | AgentsDone
  | { readonly type: 'usage'; readonly usage: ProcessUsage; readonly pings: number; readonly acks: number; readonly streamsLost: number }
  | FailedMessage;

// ---------------------------------------------------------------------------------------------
// sim-frameworks

export interface FrameworksConfig {
  readonly address: string;
  readonly frameworks: number;
  readonly tasks: number;
  /** refuse_seconds of DECLINE (and of the unused part of an ACCEPT). */
  readonly refuseSeconds: number;
  /** Dial TLS, verifying the master with this CA (bench:master --tls). */
  readonly tlsCaFile?: string;
}

/** The channel credentials of the simulators: TLS with `caFile`, plaintext without. */
export function simCredentials(caFile: string | undefined): grpc.ChannelCredentials {
  return caFile === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(fs.readFileSync(caFile));
}

export type ToFrameworks = { readonly type: 'go' } | { readonly type: 'progress' } | { readonly type: 'stop' };

export interface FrameworksProgress {
  readonly type: 'progress';
  readonly subscribed: number;
  readonly launched: number;
  readonly running: number;
  readonly failed: number;
  readonly offers: number;
  readonly usage: ProcessUsage;
}

export interface FrameworksDone {
  readonly type: 'done';
  /** The first OFFERS event after `go` (wallMs), any framework. */
  readonly firstOfferAt: number;
  /** Each framework's first OFFERS event after `go` (wallMs). */
  readonly firstOfferAtPerFramework: number[];
  /** When the last TASK_RUNNING was acknowledged by its framework (ACKNOWLEDGE written). */
  readonly lastAckSentAt: number;
  /** Per task: OFFERS received → ACCEPT written, ms. */
  readonly offerToLaunch: Float64Array;
  /** Per task: ACCEPT written → TASK_RUNNING received, ms. */
  readonly launchToRunning: Float64Array;
  readonly offerEvents: number;
  readonly offers: number;
  readonly accepts: number;
  readonly declinedOffers: number;
  readonly rescinds: number;
  readonly heartbeats: number;
  readonly usage: ProcessUsage;
}

export type FromFrameworks =
  | { readonly type: 'subscribed'; readonly frameworks: number; readonly ms: number }
  | FrameworksProgress
  | FrameworksDone
  | { readonly type: 'usage'; readonly usage: ProcessUsage; readonly heartbeats: number }
  | FailedMessage;

/**
 * Wires a child's IPC: messages to `onMessage`, and exit when the orchestrator goes away. Every
 * uncaught error is reported as `failed` before the child exits non-zero.
 */
export function childIpc<In>(name: string, onMessage: (m: In) => void): (m: unknown) => void {
  if (process.send === undefined) {
    process.stderr.write(`${name}: must be started by bench/master.js (no IPC channel)\n`);
    process.exit(2);
  }
  const send = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  const fail = (err: unknown) => {
    const message = `${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    process.stderr.write(`${message}\n`);
    if (process.connected) process.send!({ type: 'failed', message } satisfies FailedMessage, () => process.exit(1));
    else process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  process.on('disconnect', () => process.exit(1));
  process.on('message', (m) => {
    try {
      onMessage(m as In);
    } catch (err) {
      fail(err);
    }
  });
  return send;
}
