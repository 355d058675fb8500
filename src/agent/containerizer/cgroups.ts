/**
 * Linux control groups for PROCESS tasks: each task gets a memory limit (its `mem`, swap included
 * where the host accounts it) and a CPU share with a hard quota (its `cpus`), as Docker gives DOCKER
 * tasks — a cgroup per task under `berth/<containerId>` in each controller (cgroup v1) or in the
 * unified hierarchy (cgroup v2).
 *
 * The task's first process joins its cgroups before it execs the command (a root-run `/bin/sh`
 * writes its own pid into them, then execs), so nothing the task starts ever runs outside them.
 * When the host does not let the agent create cgroups (not Linux, not root, a read-only
 * /sys/fs/cgroup), {@link detectCgroups} says why and tasks run without limits.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A program to spawn: its file, its arguments, and the argv[0] it sees. */
export interface CommandLine {
  readonly file: string;
  readonly args: string[];
  readonly argv0: string;
}

/** CFS period for the CPU quota, µs (the kernel's and Docker's default). */
const CFS_PERIOD_US = 100_000;

export interface CgroupLimits {
  /** CPU share; the quota is cpus × the period. 0: no CPU limit. */
  readonly cpus: number;
  /** Memory limit, MiB. 0: no memory limit. */
  readonly memMib: number;
}

/** One task's cgroups. */
export interface TaskCgroups {
  /** The `cgroup.procs` files the task's first process writes its pid into. */
  readonly procsFiles: readonly string[];
  /** Whether the kernel killed a process of the task for exceeding its memory limit. */
  oomKilled(): boolean;
  /** Removes the (empty) cgroups. Idempotent; never throws. */
  remove(): void;
}

export interface Cgroups {
  readonly version: 1 | 2;
  /** Creates the cgroups of a task with its limits. @throws Error when the kernel refuses. */
  create(containerId: string, limits: CgroupLimits): TaskCgroups;
}

const V1_CONTROLLERS = ['memory', 'cpu'] as const;

/** The host's cgroups, or why tasks cannot have them. */
export function detectCgroups(root = '/sys/fs/cgroup'): Cgroups | { unavailable: string } {
  if (process.platform !== 'linux') return { unavailable: `cgroups need Linux (this is ${process.platform})` };
  try {
    if (V1_CONTROLLERS.every((c) => fs.existsSync(path.join(root, c)))) {
      for (const c of V1_CONTROLLERS) ensureDir(path.join(root, c, 'berth'));
      return new CgroupsV1(root);
    }
    if (fs.existsSync(path.join(root, 'cgroup.controllers'))) {
      const parent = path.join(root, 'berth');
      ensureDir(parent);
      // Controllers must be enabled for the children of the root and of berth/.
      for (const dir of [root, parent]) fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), '+memory +cpu');
      return new CgroupsV2(root);
    }
    return { unavailable: `no memory and cpu controllers under ${root}` };
  } catch (err) {
    return { unavailable: `cannot create cgroups under ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
}

function removeDir(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // Gone already, or still busy for a moment: the next agent start does not need it.
  }
}

class CgroupsV1 implements Cgroups {
  readonly version = 1;
  constructor(private readonly root: string) {}

  create(containerId: string, limits: CgroupLimits): TaskCgroups {
    const dir = (c: string) => path.join(this.root, c, 'berth', containerId);
    for (const c of V1_CONTROLLERS) ensureDir(dir(c));
    if (limits.memMib > 0) {
      const bytes = String(Math.ceil(limits.memMib) * 1024 * 1024);
      fs.writeFileSync(path.join(dir('memory'), 'memory.limit_in_bytes'), bytes);
      // Swap accounting is off on many hosts: then there is no memsw file, and no swap limit.
      const memsw = path.join(dir('memory'), 'memory.memsw.limit_in_bytes');
      if (fs.existsSync(memsw)) fs.writeFileSync(memsw, bytes);
    }
    if (limits.cpus > 0) {
      fs.writeFileSync(path.join(dir('cpu'), 'cpu.shares'), String(Math.max(2, Math.round(limits.cpus * 1024))));
      fs.writeFileSync(path.join(dir('cpu'), 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      fs.writeFileSync(path.join(dir('cpu'), 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US))));
    }
    return {
      procsFiles: V1_CONTROLLERS.map((c) => path.join(dir(c), 'cgroup.procs')),
      oomKilled: () => counter(path.join(dir('memory'), 'memory.oom_control'), 'oom_kill') > 0,
      remove: () => V1_CONTROLLERS.forEach((c) => removeDir(dir(c))),
    };
  }
}

class CgroupsV2 implements Cgroups {
  readonly version = 2;
  constructor(private readonly root: string) {}

  create(containerId: string, limits: CgroupLimits): TaskCgroups {
    const dir = path.join(this.root, 'berth', containerId);
    ensureDir(dir);
    if (limits.memMib > 0) {
      const bytes = String(Math.ceil(limits.memMib) * 1024 * 1024);
      fs.writeFileSync(path.join(dir, 'memory.max'), bytes);
      const swap = path.join(dir, 'memory.swap.max');
      if (fs.existsSync(swap)) fs.writeFileSync(swap, '0');
    }
    if (limits.cpus > 0) {
      fs.writeFileSync(path.join(dir, 'cpu.weight'), String(Math.min(10_000, Math.max(1, Math.round(limits.cpus * 100)))));
      fs.writeFileSync(path.join(dir, 'cpu.max'), `${Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US))} ${CFS_PERIOD_US}`);
    }
    return {
      procsFiles: [path.join(dir, 'cgroup.procs')],
      oomKilled: () => counter(path.join(dir, 'memory.events'), 'oom_kill') > 0,
      remove: () => removeDir(dir),
    };
  }
}

/** A `name value` line of a flat-keyed cgroup file; 0 when absent. */
function counter(file: string, name: string): number {
  try {
    const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]) || 0;
  } catch {
    return 0;
  }
}

/**
 * The command line that makes its first process join `procsFiles` and then exec `cmd`: a shell
 * writes its own pid into each (exit 125 when the kernel refuses), so the command starts inside.
 */
export function joiningCgroups(cmd: CommandLine, procsFiles: readonly string[]): CommandLine {
  if (procsFiles.length === 0) return cmd;
  const script = 'for f in $1; do echo $$ > "$f" || exit 125; done; shift; exec "$@"';
  return { file: '/bin/sh', args: ['-c', script, 'berth-cgroup', procsFiles.join(' '), cmd.file, ...cmd.args], argv0: 'sh' };
}
