/**
 * Loaded into a daemon by bench:idle (`node --require dist/bench/idle-probe.js bin/berth.js …`): on
 * SIGUSR2 it writes the process's own view of its memory — `process.memoryUsage()` and V8's heap
 * spaces — as JSON to the file named by BERTH_IDLE_PROBE_FILE, and, when BERTH_IDLE_HEAP_SNAPSHOT
 * names a directory, a heap snapshot there too (for finding where the memory goes). It does nothing
 * until signalled: no timer, no handle, so it does not change what it measures. For finding what
 * wakes up, BERTH_IDLE_CPU_PROFILE=<dir> runs V8's CPU profiler from the start and writes its
 * profile there on the signal (the last window_s seconds of it are the idle window).
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as path from 'node:path';
import * as v8 from 'node:v8';

/** What the probe writes. */
export interface ProbeReport {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Bytes used per V8 heap space (new_space, old_space, code_space, …). */
  readonly spaces: Record<string, number>;
  readonly snapshot?: string;
}

const file = process.env['BERTH_IDLE_PROBE_FILE'];
const cpuDir = process.env['BERTH_IDLE_CPU_PROFILE'];
let profiler: inspector.Session | undefined;
if (cpuDir !== undefined && cpuDir !== '') {
  profiler = new inspector.Session();
  profiler.connect();
  profiler.post('Profiler.enable', () => profiler!.post('Profiler.start'));
}
if (file !== undefined && file !== '') {
  process.on('SIGUSR2', () => {
    profiler?.post('Profiler.stop', (err, result) => {
      if (err === null) fs.writeFileSync(path.join(cpuDir!, `idle-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
    const spaces: Record<string, number> = {};
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = s.space_used_size;
    const dir = process.env['BERTH_IDLE_HEAP_SNAPSHOT'];
    const snapshot = dir !== undefined && dir !== '' ? v8.writeHeapSnapshot(path.join(dir, `idle-${process.pid}-${Date.now()}.heapsnapshot`)) : undefined;
    const report: ProbeReport = { ...process.memoryUsage(), spaces, ...(snapshot !== undefined ? { snapshot } : {}) };
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(report));
    fs.renameSync(`${file}.tmp`, file);
  });
}
