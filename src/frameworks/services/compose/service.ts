/**
 * One Compose service → one app definition draft: image, command and entrypoint, environment,
 * labels, ports, healthcheck, deploy, and the service-level resource keys. Every other key is listed
 * as not imported with the reason (the table below), never dropped.
 */
import { describeValue } from '../../../common/wire/problems';
import { memMib, readDeploy } from './deploy';
import { AppDraft, readStringMap } from './draft';
import { eachKey, isMapping, readOr, type Notes, type Path } from './notes';
import { readPorts } from './ports';
import { parseEnvFile, readByteSize, readCpus, readInt, readSeconds, shellLine, splitShellWords } from './values';

/** What a service's conversion reads besides the service. */
export interface ServiceContext {
  /** The importing environment (for `environment: [NAME]` without a value). */
  readonly env: (name: string) => string | undefined;
  /** The text of an `env_file`, or undefined when it does not exist. Absent: env_file is not read. */
  readonly envFile?: (path: string) => string | undefined;
}

/** Why a Compose service key has no Berth equivalent. */
const NOT_MAPPED: Record<string, string> = {
  volumes: 'app definitions have no volumes: a task gets a sandbox directory ($BERTH_SANDBOX), kept only while it runs',
  volumes_from: 'app definitions have no volumes',
  tmpfs: 'app definitions have no volumes (a task\'s sandbox directory is on the host)',
  secrets: 'Berth secrets are environment variables: move each into the app\'s "secrets"',
  configs: 'app definitions have no config files: pass the content in env, or bake it into the image',
  depends_on: 'Berth starts every app on its own, in no order: make each app wait for what it needs (retry at start, or a health check)',
  links: 'tasks use host networking: reach other apps by their host and port',
  external_links: 'tasks use host networking: reach other apps by their host and port',
  networks: 'tasks use host networking (network_mode: host): there are no container networks',
  extra_hosts: 'tasks share their agent\'s /etc/hosts (host networking)',
  dns: 'tasks use their agent\'s resolver (host networking)', dns_search: 'tasks use their agent\'s resolver (host networking)', dns_opt: 'tasks use their agent\'s resolver (host networking)',
  mac_address: 'tasks use host networking', domainname: 'tasks use host networking',
  container_name: 'Berth names containers itself (berth-<container id>), one per task',
  hostname: 'tasks use their agent\'s host name (host networking)',
  logging: 'Berth captures stdout and stderr per task (berth task logs)',
  user: 'the task user is the framework\'s or the agent\'s (see the agent\'s task user options), not the app\'s',
  working_dir: 'app definitions have no working directory: cd in a shell command (cmd), or set WORKDIR in the image',
  cap_add: 'the agent decides container capabilities (its docker hardening), not the app', cap_drop: 'the agent drops capabilities itself (its docker hardening)',
  security_opt: 'the agent sets security options itself (no-new-privileges)',
  ulimits: 'app definitions have no ulimits', sysctls: 'app definitions have no sysctls', shm_size: 'app definitions have no /dev/shm size',
  devices: 'app definitions pass no devices (GPUs: the app\'s gpus field)', device_cgroup_rules: 'app definitions pass no devices', gpus: 'ask for GPUs with the app\'s gpus field',
  stop_signal: 'Berth stops a task with SIGTERM, then SIGKILL after taskKillGracePeriodSeconds',
  profiles: 'every service of the file is imported: import a file without the services you do not want',
  extends: 'resolve it first: docker compose config prints the file with extends applied',
  build: 'Berth runs images: build and push the image first (docker compose build), the app runs image',
  expose: 'tasks use host networking: every port the container listens on is on its agent\'s address already',
  stdin_open: 'tasks have no terminal', tty: 'tasks have no terminal', attach: 'use berth task logs',
  platform: 'put the platform in the image reference, or constrain the app to agents with an attribute',
  pid: 'tasks have their own PID namespace', ipc: 'tasks have their own IPC namespace', uts: 'tasks have their own UTS namespace', userns_mode: 'app definitions have no user namespace mode',
  isolation: 'app definitions have no isolation mode', runtime: 'the agent picks the container runtime', cgroup: 'the agent places containers in cgroups', cgroup_parent: 'the agent places containers in cgroups',
  cpu_shares: 'Berth derives CPU shares from cpus', cpu_quota: 'Berth derives the CPU quota from cpus', cpu_period: 'Berth derives the CPU quota from cpus', cpuset: 'app definitions have no cpuset',
  cpu_count: 'use cpus', cpu_percent: 'use cpus', cpu_rt_runtime: 'app definitions have no real-time CPU settings', cpu_rt_period: 'app definitions have no real-time CPU settings',
  mem_reservation: 'Berth allocates and limits one amount: mem (from mem_limit or deploy.resources.limits.memory)',
  memswap_limit: 'Berth sets swap equal to the memory limit (no swap)', mem_swappiness: 'app definitions have no swappiness', oom_kill_disable: 'the memory limit is enforced', oom_score_adj: 'app definitions have no OOM score',
  pids_limit: 'the agent sets its own PID limit per container', blkio_config: 'app definitions have no block I/O limits', storage_opt: 'app definitions have no storage options',
  group_add: 'the task user\'s groups are the agent\'s to decide', credential_spec: 'Windows only', annotations: 'use labels',
  label_file: 'copy the labels into labels', develop: 'docker compose watch is a development tool', post_start: 'app definitions have no lifecycle hooks', pre_stop: 'app definitions have no lifecycle hooks',
  provider: 'app definitions run containers only', models: 'app definitions have no models', use_api_socket: 'tasks get no Docker API socket',
};

/** Command words of `command:` or `entrypoint:` (string: split like a shell, without a shell). */
function readWords(v: unknown, at: Path, notes: Notes): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return readOr(() => splitShellWords(v), v, at, notes);
  if (Array.isArray(v) && v.every((w) => typeof w === 'string' || typeof w === 'number')) return v.map(String);
  notes.wrongShape(at, 'a command line ("npm start") or a list of words (["npm", "start"])', v);
  return undefined;
}

/** Compose's command and entrypoint → Berth's args (exec, image entrypoint kept) or cmd (shell). */
function readCommand(svc: Record<string, unknown>, at: Path, draft: AppDraft, notes: Notes): void {
  const command = readWords(svc.command, [...at, 'command'], notes);
  const entrypoint = readWords(svc.entrypoint, [...at, 'entrypoint'], notes);
  if (entrypoint === undefined) {
    if (command === undefined) return;
    if (command.length === 0) notes.unmappedKey([...at, 'command'], 'an empty command clears the image\'s CMD; Berth cannot: the image\'s CMD runs');
    else draft.args = command; // the image's entrypoint with these arguments, as Compose runs it
    return;
  }
  if ((entrypoint[0] === '/bin/sh' || entrypoint[0] === 'sh') && entrypoint[1] === '-c' && entrypoint.length === 2 && command?.length === 1) {
    draft.cmd = command[0]!; // a shell command already: Berth's cmd runs in /bin/sh -c too
    return;
  }
  // An entrypoint replaces the image's and clears its CMD (as in Compose); Berth sets one only as a shell command.
  const words = [...entrypoint, ...(command ?? [])];
  if (words.length === 0) {
    notes.error([...at, 'entrypoint'], 'clears the image\'s entrypoint and there is no command: nothing to run; give a command');
    return;
  }
  draft.cmd = `exec ${shellLine(words)}`;
  notes.warn([...at, 'entrypoint'], `Berth sets a container's entrypoint only as a shell command: it runs as /bin/sh -c ${describeValue(draft.cmd)} (the image needs /bin/sh)`);
}

const DOCKER_HEALTH_DEFAULT = { interval: 30, timeout: 30, retries: 3 } as const;

function readHealthcheck(value: unknown, at: Path, draft: AppDraft, notes: Notes): void {
  if (!isMapping(value)) return notes.wrongShape(at, 'a mapping {test, interval, timeout, retries, start_period}', value);
  const seconds = (k: string): number | undefined => (value[k] === undefined ? undefined : readOr(readSeconds, value[k], [...at, k], notes));
  let command: string | undefined;
  let none = value.disable === true;
  const test = value.test;
  const testAt = [...at, 'test'];
  if (value.disable !== undefined && typeof value.disable !== 'boolean') notes.wrongShape([...at, 'disable'], 'true or false', value.disable);
  if (typeof test === 'string') command = test; // a string is CMD-SHELL
  else if (Array.isArray(test) && test.every((w) => typeof w === 'string')) {
    const [kind, ...rest] = test as string[];
    if (kind === 'NONE') none = true;
    else if (kind === 'CMD' && rest.length > 0) command = shellLine(rest);
    else if (kind === 'CMD-SHELL' && rest.length > 0) command = rest.join(' ');
    else if (kind === undefined) notes.unmappedKey(testAt, 'an empty test inherits the image\'s HEALTHCHECK, which Berth does not run: write the test out');
    else notes.error(testAt, `must be a command line, ["CMD", program, args…], ["CMD-SHELL", "command line"] or ["NONE"], got ${describeValue(JSON.stringify(test))}`);
  } else if (test !== undefined) notes.wrongShape(testAt, 'a command line or a list ["CMD", …] / ["CMD-SHELL", …] / ["NONE"]', test);
  else if (!none) notes.unmappedKey(at, 'no test: Berth does not run the image\'s HEALTHCHECK; give test');
  const known = new Set(['test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval', 'disable']);
  for (const k of Object.keys(value)) if (!known.has(k)) notes.unmappedKey([...at, k], k.startsWith('x-') ? 'extension field: not read' : 'not a healthcheck key (test, interval, timeout, retries, start_period, start_interval, disable)');
  const interval = seconds('interval') || DOCKER_HEALTH_DEFAULT.interval; // 0 means the default, as in Docker
  const timeout = seconds('timeout') || DOCKER_HEALTH_DEFAULT.timeout;
  const retries = (value.retries === undefined ? undefined : readOr((v) => readInt(v, 0), value.retries, [...at, 'retries'], notes)) || DOCKER_HEALTH_DEFAULT.retries;
  const startPeriod = seconds('start_period') ?? 0;
  const startInterval = seconds('start_interval');
  if (none || command === undefined) return;
  if (startInterval !== undefined) notes.warn([...at, 'start_interval'], `the first check comes after ${startInterval} s; later checks in start_period run every interval (${interval} s), not every start_interval`);
  draft.healthCheck = {
    protocol: 'COMMAND', command: { value: command },
    intervalSeconds: interval, timeoutSeconds: timeout, maxConsecutiveFailures: retries,
    gracePeriodSeconds: startPeriod,
    delaySeconds: startInterval ?? interval, // Docker runs the first check one interval after the start
  };
}

/** The env_file entries' variables (later files win), read through `ctx.envFile`. */
function readEnvFiles(value: unknown, at: Path, ctx: ServiceContext, notes: Notes): Record<string, string> {
  const entries = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (entries === undefined) {
    notes.wrongShape(at, 'a file name or a list of file names ({path, required})', value);
    return {};
  }
  const out: Record<string, string> = {};
  entries.forEach((e, i) => {
    const here = typeof value === 'string' ? at : [...at, i];
    const file = typeof e === 'string' ? e : isMapping(e) && typeof e.path === 'string' ? e.path : undefined;
    const required = isMapping(e) ? e.required !== false : true;
    if (file === undefined) return notes.wrongShape(here, 'a file name or {path, required}', e);
    if (ctx.envFile === undefined) return notes.unmappedKey(here, `${file} is not read here: copy its variables into environment`);
    const text = ctx.envFile(file);
    if (text === undefined) {
      if (required) notes.error(here, `${file} does not exist: create it, or mark it {path: ${file}, required: false}`);
      return;
    }
    const parsed = parseEnvFile(text, ctx.env);
    if (!parsed.ok) return notes.error(here, `${file} line ${parsed.line}: ${parsed.problem}`);
    Object.assign(out, parsed.value);
  });
  return out;
}

/** The draft of one service; problems and unmapped keys go to `notes`. */
export function convertService(svc: Record<string, unknown>, at: Path, draft: AppDraft, ctx: ServiceContext, notes: Notes): void {
  if (svc.scale !== undefined) draft.instances = readOr((v) => readInt(v, 0), svc.scale, [...at, 'scale'], notes);
  let cpus: number | undefined;
  let mem: number | undefined;
  let envFromFiles: Record<string, string> = {};
  let env: Record<string, string> = {};
  eachKey(svc, at, notes, {
    image: (v, here) => {
      if (typeof v === 'string' && v.trim() !== '') draft.image = v.trim();
      else notes.wrongShape(here, 'an image reference such as "nginx:1.27"', v);
    },
    build: (_v, here) => notes.unmappedKey(here, NOT_MAPPED.build!),
    command: () => {},
    entrypoint: () => {},
    environment: (v, here) => {
      env = readStringMap(v, here, notes, 'environment', (name, entryAt) => {
        const fromShell = ctx.env(name);
        if (fromShell === undefined) notes.warn(entryAt, `${name} has no value and is not set in the importing environment: the app does not get it`);
        else notes.warn(entryAt, `${name} has no value: the app gets the importing environment's value, written into its definition`);
        return fromShell;
      });
    },
    env_file: (v, here) => { envFromFiles = readEnvFiles(v, here, ctx, notes); },
    labels: (v, here) => draft.addLabels(v, here, notes),
    ports: (v, here) => { draft.portDefinitions = readPorts(v, here, notes); },
    healthcheck: (v, here) => readHealthcheck(v, here, draft, notes),
    deploy: (v, here) => readDeploy(v, here, draft, notes),
    scale: () => {},
    cpus: (v, here) => { cpus = readOr(readCpus, v, here, notes); },
    mem_limit: (v, here) => {
      const b = readOr(readByteSize, v, here, notes);
      if (b !== undefined) mem = memMib(b, here, notes);
    },
    network_mode: (v, here) => {
      if (v !== 'host') notes.unmappedKey(here, `${describeValue(v)}: tasks always use host networking`);
    },
    restart: (v, here) => {
      if (v === 'always' || v === 'unless-stopped') return;
      if (typeof v === 'string' && /^on-failure(:\d+)?$/.test(v)) notes.warn(here, 'Berth relaunches a task of an app whenever it ends, also after exit 0 (a task that should end is a job: berth job add)');
      else if (v === 'no' || v === false) notes.unmappedKey(here, 'an app\'s tasks are always relaunched; a task that should run once is a job (berth job add)');
      else notes.error(here, `must be "no", "always", "on-failure[:N]" or "unless-stopped", got ${describeValue(v)}`);
    },
    stop_grace_period: (v, here) => { draft.taskKillGracePeriodSeconds = readOr(readSeconds, v, here, notes); },
    privileged: (v, here) => {
      if (typeof v !== 'boolean') return notes.wrongShape(here, 'true or false', v);
      draft.privileged = v;
      if (v) notes.warn(here, 'agents refuse privileged containers unless their policy allows them');
    },
    read_only: (v, here) => {
      if (typeof v !== 'boolean') return notes.wrongShape(here, 'true or false', v);
      draft.readOnly = v;
    },
    init: (v, here) => {
      if (v === false) notes.unmappedKey(here, 'Berth runs every Docker task with an init process');
      else if (v !== true) notes.wrongShape(here, 'true or false', v);
    },
    pull_policy: (v, here) => {
      if (v === 'always') draft.forcePullImage = true;
      else if (v === 'build') notes.unmappedKey(here, NOT_MAPPED.build!);
      else if (v === 'never') notes.unmappedKey(here, 'an agent pulls an image it does not have');
      else if (v !== 'missing' && v !== 'if_not_present') notes.error(here, `must be "always", "never", "missing", "if_not_present" or "build", got ${describeValue(v)}`);
    },
  }, NOT_MAPPED);
  readCommand(svc, at, draft, notes);
  Object.assign(draft.env, envFromFiles, env); // environment wins over env_file, as in Compose
  if (draft.image === undefined && !('image' in svc)) {
    notes.error([...at, 'image'], svc.build !== undefined ? 'is required: Berth runs images; build the image (docker compose build), push or tag it, and name it in image' : 'is required: the image the service runs');
  }
  if (draft.cpus === undefined && cpus !== undefined) draft.cpus = cpus;
  if (draft.mem === undefined && mem !== undefined) draft.mem = mem;
  if (draft.cpus === undefined || draft.mem === undefined) {
    notes.warn(at, `no ${draft.cpus === undefined && draft.mem === undefined ? 'cpus and memory' : draft.cpus === undefined ? 'cpus' : 'memory'} limit: Berth's default applies (cpus 1, mem 128 MiB), allocated and enforced as a limit; set deploy.resources.limits`);
  }
}
