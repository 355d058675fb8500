/**
 * The master under test in `bench:master`: a real `MasterDaemon` in a process of its own, built as
 * `berth master` builds it (src/cli/master-command.ts) — the SystemClock, the real hierarchical
 * allocator with the configuration defaults, a FileRegistry in a temporary directory, SoloLeadership,
 * Prometheus metrics, authentication disabled — serving gRPC on 127.0.0.1 (an ephemeral port).
 *
 * Started by bench/master.js with the config as JSON in argv[2]. Answers IPC requests for its
 * memory (optionally after a full GC, when started with --expose-gc), for a CPU profile of a
 * phase (the inspector's sampling profiler, written as a .cpuprofile file) and for the allocation
 * sites of live memory (the sampling heap profiler, a .heapprofile file).
 */
import { loadTls, serverCredentials } from '../src/common/tls';
import * as fs from 'node:fs';
import { Session } from 'node:inspector';
import * as path from 'node:path';
import { SystemClock } from '../src/common/clock';
import { createLogger } from '../src/common/logging';
import { HeapTrimmer } from '../src/common/heap-trim';
import { masterConfigSchema, parseMinAllocatable } from '../src/master/config';
import { MasterDaemon } from '../src/master/daemon';
import { MasterMetrics } from '../src/master/metrics';
import { FileRegistry } from '../src/master/registry/file-registry';
import { SoloLeadership } from '../src/master/registry/solo-election';
import { childIpc, processUsage, type FromMaster, type MasterChildConfig, type MasterMemory, type ToMaster, wallMs } from './sim-shared';

const config = JSON.parse(process.argv[2] ?? '{}') as MasterChildConfig;
// The registry lives in the orchestrator's temporary directory; if the orchestrator dies first,
// this process is the last one that can remove it.
process.on('exit', () => fs.rmSync(path.dirname(config.registryDir), { recursive: true, force: true }));
let daemon: MasterDaemon | undefined;
let profiler: Session | undefined;
let heapProfiler: Session | undefined;

const send = childIpc<ToMaster>('master-child', (m) => {
  switch (m.type) {
    case 'memory':
      if (m.gc) global.gc?.();
      send(memory());
      return;
    case 'profile-start':
      profiler = new Session();
      profiler.connect();
      profiler.post('Profiler.enable', () => profiler!.post('Profiler.start', () => send({ type: 'profile-started' } satisfies FromMaster)));
      return;
    case 'profile-stop':
      if (profiler === undefined) throw new Error('profile-stop without profile-start');
      profiler.post('Profiler.stop', (err, result) => {
        if (err !== null) throw err;
        fs.writeFileSync(m.file, JSON.stringify(result.profile));
        profiler!.disconnect();
        profiler = undefined;
        send({ type: 'profile-stopped', file: m.file } satisfies FromMaster);
      });
      return;
    case 'heap-profile-start':
      heapProfiler = new Session();
      heapProfiler.connect();
      // One sample per 64 KiB allocated on average: cheap enough to leave on for a whole run.
      heapProfiler.post('HeapProfiler.enable', () => heapProfiler!.post('HeapProfiler.startSampling', { samplingInterval: 65536 }, () => send({ type: 'heap-profile-started' } satisfies FromMaster)));
      return;
    case 'heap-profile-stop':
      if (heapProfiler === undefined) throw new Error('heap-profile-stop without heap-profile-start');
      global.gc?.();
      heapProfiler.post('HeapProfiler.getSamplingProfile', (err, result) => {
        if (err !== null) throw err;
        fs.writeFileSync(m.file, JSON.stringify(result.profile));
        heapProfiler!.post('HeapProfiler.stopSampling', () => {
          heapProfiler!.disconnect();
          heapProfiler = undefined;
          send({ type: 'heap-profile-stopped', file: m.file } satisfies FromMaster);
        });
      });
      return;
    case 'stop':
      void (async () => {
        await daemon?.stop();
        send({ type: 'stopped' } satisfies FromMaster);
        process.exit(0);
      })();
      return;
  }
});

function memory(): MasterMemory {
  const mem = process.memoryUsage();
  const mb = (x: number) => Math.round((x / 2 ** 20) * 10) / 10;
  const core = daemon?.core;
  let tasks = 0;
  let tasksRunning = 0;
  let agentsConnected = 0;
  for (const fw of core?.frameworks.values() ?? []) {
    tasks += fw.tasks.size;
    for (const t of fw.tasks.values()) if (t.state === 'TASK_RUNNING') tasksRunning++;
  }
  for (const a of core?.agents.values() ?? []) if (a.connected) agentsConnected++;
  return {
    type: 'memory',
    rssMb: mb(mem.rss),
    heapUsedMb: mb(mem.heapUsed),
    heapTotalMb: mb(mem.heapTotal),
    externalMb: mb(mem.external),
    arrayBuffersMb: mb(mem.arrayBuffers),
    agents: core?.agents.size ?? 0,
    agentsConnected,
    frameworks: core?.frameworks.size ?? 0,
    tasks,
    tasksRunning,
    offersOutstanding: core?.offers.offers.size ?? 0,
    usage: processUsage(),
    at: wallMs(),
  };
}

async function main(): Promise<void> {
  // The configuration defaults of `berth master`, with what the benchmark sets.
  const defaults = masterConfigSchema.parse({ auth: { enabled: false }, grpc: { port: 0 }, allocationIntervalMs: config.allocationIntervalMs, logLevel: config.logLevel });
  const logger = createLogger({ component: 'master', level: defaults.logLevel, stream: process.stderr });
  const metrics = config.metrics ? new MasterMetrics() : undefined;
  const clock = new SystemClock();
  daemon = new MasterDaemon({
    core: {
      masterId: `bench-master-${process.pid}`,
      version: 'bench',
      allocationIntervalMs: defaults.allocationIntervalMs,
      offerTimeoutMs: defaults.offerTimeoutMs,
      heartbeatIntervalMs: defaults.heartbeatIntervalMs,
      agentPingTimeoutMs: defaults.agentPingTimeoutMs,
      maxAgentPingTimeouts: defaults.maxAgentPingTimeouts,
      agentReregisterTimeoutMs: defaults.agentReregisterTimeoutMs,
      maxCompletedTasksPerFramework: defaults.maxCompletedTasksPerFramework,
      defaultFailoverTimeoutMs: defaults.frameworkFailoverTimeoutDefaultMs,
      maxFrameworkBufferBytes: 64 << 20,
      priorityClasses: config.priorityClasses,
      preemption: config.preemption,
    },
    grpcHost: '127.0.0.1',
    grpcPort: 0,
    grpcCredentials: serverCredentials(loadTls(config.tls, 'tls', 'server')),
    maxMessageBytes: defaults.maxMessageBytes,
    allocator: {
      minAllocatableResources: parseMinAllocatable(defaults.minAllocatableResources),
      fairnessExcludedResourceNames: defaults.fairnessExcludedResourceNames,
    },
    clock,
    logger,
    metrics,
    election: new SoloLeadership(),
    openRegistry: async () => FileRegistry.open({ dir: config.registryDir, logger }),
    authenticate: undefined,
    authorizer: undefined,
  });
  await daemon.start();
  // As `berth master` runs it (startMaster): the heap handed back once the master is idle.
  if (defaults.heapTrim) new HeapTrimmer({ clock, logger }).start();
  await daemon.settled();
  if (daemon.core === undefined) throw new Error('the master did not become leader');
  send({ type: 'ready', address: daemon.grpcAddress } satisfies FromMaster);
}

main().catch((err: unknown) => {
  process.stderr.write(`master-child: ${(err as Error).stack ?? String(err)}\n`);
  send({ type: 'failed', message: `master-child: ${(err as Error).message}` });
  setTimeout(() => process.exit(1), 100);
});
