import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxGc, type SandboxGcOptions } from '../../../src/agent/sandbox-gc';
import { FakeClock } from '../../../src/common/clock';
import { nullLogger } from '../../../src/common/logging';

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** Sandbox GC on a fake clock and a fake disk gauge: by age, by disk use, across an agent restart. */
describe('SandboxGc', () => {
  let root: string;
  let clock: FakeClock;
  let usage: number;
  let inUse: Set<string>;
  const gcs: SandboxGc[] = [];

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-gc-'));
    clock = new FakeClock(1_800_000_000_000);
    usage = 0;
    inUse = new Set();
  });

  afterEach(() => {
    for (const gc of gcs.splice(0)) gc.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function gc(extra: Partial<SandboxGcOptions> = {}): SandboxGc {
    const g = new SandboxGc({ sandboxRoot: root, clock, gcDelayMs: 10 * HOUR, gcDiskHeadroom: 0.1, diskWatchIntervalMs: MINUTE, diskUsage: () => usage, inUse: () => inUse, logger: nullLogger, ...extra });
    gcs.push(g);
    return g;
  }

  function sandbox(fw: string, task: string, container: string): string {
    const dir = path.join(root, fw, task, container);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'stdout'), `${task} output\n`);
    return dir;
  }

  test('keeps a finished sandbox for gcDelay × (1 − headroom − usage), then removes it and its empty parents', () => {
    const g = gc();
    g.start();
    const dir = sandbox('fw', 'task', 'c1');
    const other = sandbox('fw', 'task2', 'c2');
    g.schedule(dir);
    // Disk empty: 10 h × (1 − 0.1 − 0) = 9 h.
    expect(g.maxAgeMs(0)).toBe(9 * HOUR);
    clock.advance(9 * HOUR - MINUTE);
    expect(fs.existsSync(dir)).toBe(true);
    clock.advance(MINUTE); // the check on the minute removes it
    expect([fs.existsSync(dir), fs.existsSync(path.join(root, 'fw', 'task'))]).toEqual([false, false]);
    // An unscheduled sandbox (a task still running) stays, and so does its framework's directory.
    expect([fs.existsSync(other), fs.existsSync(path.join(root, 'fw'))]).toEqual([true, true]);
    expect(g.pending).toBe(0);
  });

  test('a filling disk shortens the age; past 1 − headroom every finished sandbox goes at the next check', () => {
    const g = gc();
    g.start();
    const young = sandbox('fw', 'young', 'c');
    const older = sandbox('fw', 'older', 'c');
    g.schedule(older);
    clock.advance(2 * HOUR);
    g.schedule(young);
    clock.advance(30 * MINUTE);
    expect([fs.existsSync(older), fs.existsSync(young)]).toEqual([true, true]);

    usage = 0.7; // 10 h × 0.2 = 2 h: the older (2.5 h) goes, the younger (0.5 h) stays
    clock.advance(MINUTE);
    expect([fs.existsSync(older), fs.existsSync(young)]).toEqual([false, true]);

    usage = 0.95; // over 1 − headroom: age 0
    expect(g.maxAgeMs(usage)).toBe(0);
    clock.advance(MINUTE);
    expect(fs.existsSync(young)).toBe(false);
  });

  test('never removes the sandbox of a task the agent tracks', () => {
    const g = gc({ gcDelayMs: 0 });
    g.start();
    const dir = sandbox('fw', 'task', 'c');
    g.schedule(dir);
    inUse.add(dir); // relaunched into it, say: in use wins
    clock.advance(MINUTE);
    expect(fs.existsSync(dir)).toBe(true);
  });

  test('after an agent restart the sandboxes left on disk are scheduled by the time their task ended', () => {
    const first = gc();
    first.start();
    const done = sandbox('fw', 'done', 'c');
    first.schedule(done); // stamps the directory with the fake clock's time
    first.stop();
    const running = sandbox('fw', 'running', 'c');
    inUse.add(running);

    clock.advance(8 * HOUR);
    const second = gc();
    second.start();
    expect(second.pending).toBe(1); // `done` only: `running` belongs to a tracked task
    clock.advance(HOUR - MINUTE);
    expect(fs.existsSync(done)).toBe(true);
    clock.advance(MINUTE); // 9 h after the task ended, not 9 h after the restart
    expect([fs.existsSync(done), fs.existsSync(running)]).toEqual([false, true]);
  });

  test('stop ends the periodic check', () => {
    const g = gc({ gcDelayMs: 0 });
    g.start();
    const dir = sandbox('fw', 'task', 'c');
    g.schedule(dir);
    g.stop();
    clock.advance(10 * MINUTE);
    expect(fs.existsSync(dir)).toBe(true);
    expect(g.collect()).toEqual([dir]);
  });
});
