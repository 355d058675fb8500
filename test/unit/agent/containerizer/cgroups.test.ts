import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectCgroups, joiningCgroups, type Cgroups } from '../../../../src/agent/containerizer/cgroups';

describe('cgroups of PROCESS tasks', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cgroup-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const read = (...p: string[]) => fs.readFileSync(path.join(root, ...p), 'utf8');

  it('v1: a cgroup per controller with the memory limit, CPU shares and quota', () => {
    for (const c of ['memory', 'cpu']) fs.mkdirSync(path.join(root, c));
    const cg = detectCgroups(root) as Cgroups;
    expect(cg.version).toBe(1);
    const t = cg.create('c1', { cpus: 0.5, memMib: 64 });
    expect([read('memory/berth/c1/memory.limit_in_bytes'), read('cpu/berth/c1/cpu.shares'), read('cpu/berth/c1/cpu.cfs_quota_us'), read('cpu/berth/c1/cpu.cfs_period_us')])
      .toEqual([String(64 * 1024 * 1024), '512', '50000', '100000']);
    expect(t.procsFiles).toEqual([path.join(root, 'memory/berth/c1/cgroup.procs'), path.join(root, 'cpu/berth/c1/cgroup.procs')]);
    fs.writeFileSync(path.join(root, 'memory/berth/c1/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    expect(t.oomKilled()).toBe(true);
  });

  it('v2: one cgroup with memory.max and cpu.max, controllers enabled for the children', () => {
    fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu memory pids');
    const cg = detectCgroups(root) as Cgroups;
    expect(cg.version).toBe(2);
    const t = cg.create('c2', { cpus: 2, memMib: 128 });
    expect([read('cgroup.subtree_control'), read('berth/cgroup.subtree_control'), read('berth/c2/memory.max'), read('berth/c2/cpu.max')])
      .toEqual(['+memory +cpu', '+memory +cpu', String(128 * 1024 * 1024), '200000 100000']);
    expect(t.oomKilled()).toBe(false);
  });

  it('says why when the host has none', () => {
    expect(detectCgroups(root)).toEqual({ unavailable: `no memory and cpu controllers under ${root}` });
  });

  it('the first process joins its cgroups, then execs the command', () => {
    const procs = [path.join(root, 'a.procs'), path.join(root, 'b.procs')];
    const cmd = joiningCgroups({ file: '/bin/sh', args: ['-c', 'echo $$'], argv0: 'sh' }, procs);
    const printed = execFileSync(cmd.file, cmd.args, { encoding: 'utf8' }).trim();
    // The pid written is the pid of the command itself (exec, not a child).
    expect(procs.map((f) => fs.readFileSync(f, 'utf8').trim())).toEqual([printed, printed]);
  });
});
