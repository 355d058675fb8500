import { Resources } from '../../../src/common/resources';
import { resourcesToWire } from '../../../src/common/wire/resources';
import { imageReferenceProblem } from '../../../src/master/validation/image-reference';
import { checkTaskInfo, taskIdProblem, taskInfoProblems } from '../../../src/master/validation/task-info';
import type { TaskInfo } from '../../../src/generated/berth/v1/TaskInfo';
import { AGENT, task } from './builders';
import { PriorityClasses } from '../../../src/master/priorities';

const docker = (image: string): Partial<TaskInfo> => ({ command: null, container: { type: 'DOCKER', docker: { image } } });

describe('taskInfoProblems', () => {
  it('accepts a command task and a DOCKER task without command', () => {
    expect(taskInfoProblems(task('t1').build())).toEqual([]);
    expect(taskInfoProblems(task('t2').with(docker('registry.example:5000/team/app:1.2')).build())).toEqual([]);
    expect(taskInfoProblems(task('t3').with(docker('busybox@sha256:' + 'a'.repeat(64))).build())).toEqual([]);
  });

  it('returns the task id and its resources on the way', () => {
    const c = checkTaskInfo(task('t1').resources('cpus:1;mem:32;ports:[31000-31001]').build(), 'task');
    expect(c.taskId).toBe('t1');
    expect(c.resources?.equals(Resources.parse('cpus:1;mem:32;ports:[31000-31001]'))).toBe(true);
  });

  const revocable = resourcesToWire(Resources.parse('mem:32')).concat([{ ...resourcesToWire(Resources.parse('cpus:1'))[0], revocable: true }]);

  it.each<[string, Partial<TaskInfo>, string, string]>([
    ['missing task id', { task_id: null }, 'task.task_id', 'is required'],
    ['empty task id', { task_id: { value: '' } }, 'task.task_id.value', 'must be a non-empty string, got ""'],
    ['task id with a slash', { task_id: { value: 'a/b' } }, 'task.task_id.value', 'must not contain a path separator ("/" or "\\"), got "a/b"'],
    ['task id with whitespace', { task_id: { value: 'a b' } }, 'task.task_id.value', 'must not contain whitespace, got "a b"'],
    ['whitespace-only task id', { task_id: { value: '   ' } }, 'task.task_id.value', 'must not contain whitespace, got "   "'],
    ['task id with a control character', { task_id: { value: 'a\u0007' } }, 'task.task_id.value', 'must not contain control characters'],
    ['task id ..', { task_id: { value: '..' } }, 'task.task_id.value', 'must not be ".."'],
    ['overlong task id', { task_id: { value: 'x'.repeat(256) } }, 'task.task_id.value', 'must be at most 255 characters, got 256'],
    ['empty name', { name: ' ' }, 'task.name', 'must not be empty, got " "'],
    ['missing agent', { agent_id: null }, 'task.agent_id', 'is required'],
    ['other agent', { agent_id: { value: 'agent-2' } }, 'task.agent_id.value', `must be the offers' agent "${AGENT}", got "agent-2"`],
    ['no resources', { resources: [] }, 'task.resources', 'must not be empty'],
    ['negative resource', { resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }] }, 'task.resources[0].scalar.value', 'must be non-negative, got -1'],
    ['no cpus or mem', { resources: resourcesToWire(Resources.parse('disk:10')) }, 'task.resources', 'must include cpus or mem, got "disk:10"'],
    ['revocable resources', { resources: revocable }, 'task.resources', 'need the REVOCABLE_RESOURCES capability'],
    ['neither command nor container', { command: null }, 'task.command', 'is required unless the container is DOCKER'],
    ['PROCESS container without command', { command: null, container: { type: 'PROCESS' } }, 'task.command', 'is required unless the container is DOCKER'],
    ['empty shell command', { command: { value: ' ' } }, 'task.command.value', 'must be a command line when shell is true, got " "'],
    ['DOCKER without image', { command: null, container: { type: 'DOCKER' } }, 'task.container.docker', 'is required for a DOCKER container'],
    ['DOCKER with empty image', docker(''), 'task.container.docker.image', 'is required for a DOCKER container'],
    ['uppercase image', docker('Ubuntu:22.04'), 'task.container.docker.image', 'invalid image reference "Ubuntu:22.04": repository names must be lowercase'],
    ['malformed image', docker('app::1'), 'task.container.docker.image', 'invalid image reference "app::1": expected'],
    ['docker info on PROCESS', { container: { type: 'PROCESS', docker: { image: 'busybox' } } }, 'task.container.docker', 'must not be set for a PROCESS container'],
    ['relative volume path', { container: { type: 'PROCESS', volumes: [{ container_path: 'data', host_path: '/srv' }] } }, 'task.container.volumes[0].container_path', 'must be an absolute path, got "data"'],
    ['volume without source', { container: { type: 'PROCESS', volumes: [{ container_path: '/data' }] } }, 'task.container.volumes[0]', 'needs a source'],
    ['volume of an unknown persistent volume', { container: { type: 'PROCESS', volumes: [{ container_path: '/data', persistence_id: 'v9' }] } }, 'task.container.volumes[0].persistence_id', 'names no persistent volume in the task\'s resources, got "v9"'],
    ['env name with =', { command: { value: 'x', environment: { variables: [{ name: 'A=B', value: '1' }] } } }, 'task.command.environment.variables[0].name', 'must be non-empty without "=" or NUL, got "A=B"'],
    ['empty env name', { command: { value: 'x', environment: { variables: [{ name: '', value: '1' }] } } }, 'task.command.environment.variables[0].name', 'got ""'],
    ['ftp URI', { command: { value: 'x', uris: [{ value: 'ftp://x/y' }] } }, 'task.command.uris[0].value', 'must be an http, https or file URL, got "ftp://x/y"'],
    ['unset health check type', { health_check: { tcp: { port: 80 } } }, 'task.health_check.type', 'must be HTTP, TCP or COMMAND, got "TYPE_UNSPECIFIED"'],
    ['health check without its member', { health_check: { type: 'HTTP' } }, 'task.health_check.http', 'is required for a HTTP health check'],
    ['health check port 0', { health_check: { type: 'TCP', tcp: { port: 0 } } }, 'task.health_check.tcp.port', 'must be a port in 1-65535, got 0'],
    ['health check port 70000', { health_check: { type: 'HTTP', http: { port: 70000 } } }, 'task.health_check.http.port', 'must be a port in 1-65535, got 70000'],
    ['negative health check delay', { health_check: { type: 'TCP', tcp: { port: 80 }, delay_seconds: -1 } }, 'task.health_check.delay_seconds', 'must be a non-negative number of seconds, got -1'],
    ['NaN health check interval', { health_check: { type: 'TCP', tcp: { port: 80 }, interval_seconds: NaN } }, 'task.health_check.interval_seconds', 'must be a positive number of seconds, got NaN'],
    ['zero consecutive failures', { health_check: { type: 'TCP', tcp: { port: 80 }, consecutive_failures: 0 } }, 'task.health_check.consecutive_failures', 'must be at least 1, got 0'],
    ['bad HTTP status', { health_check: { type: 'HTTP', http: { port: 80, statuses: [99] } } }, 'task.health_check.http.statuses[0]', 'must be an HTTP status in 100-599, got 99'],
    ['negative kill grace', { kill_policy: { grace_period: { nanoseconds: -1 } } }, 'task.kill_policy.grace_period.nanoseconds', 'must be non-negative, got -1'],
    ['zero max completion time', { max_completion_time: { nanoseconds: 0 } }, 'task.max_completion_time.nanoseconds', 'must be positive, got 0'],
    ['repeated label', { labels: { labels: [{ key: 'k', value: 'v' }, { key: 'k', value: 'v' }] } }, 'task.labels.labels[1]', 'repeats the label "k"="v"'],
    ['discovery port 0', { discovery: { ports: [{ number: 0 }] } }, 'task.discovery.ports[0].number', 'must be a port in 1-65535, got 0'],
    ['1 MiB name', { name: 'n'.repeat(1 << 20) }, 'task.name', `must be at most 255 characters, got 1048576: "${'n'.repeat(80)}…"`],
    ['overlong command', { command: { value: 'x'.repeat(65537) } }, 'task.command.value', 'must be at most 65536 characters, got 65537'],
    ['too many arguments', { command: { value: 'x', arguments: Array.from({ length: 1025 }, () => 'a') } }, 'task.command.arguments', 'must have at most 1024 entries, got 1025'],
    ['command and arguments too long together', { command: { value: 'x', shell: false, arguments: Array.from({ length: 5 }, () => 'a'.repeat(60000)) } }, 'task.command', 'value and arguments must be at most 262144 characters together, got 300001'],
    ['overlong env value', { command: { value: 'x', environment: { variables: [{ name: 'A', value: 'v'.repeat(65537) }] } } }, 'task.command.environment.variables[0].value', 'must be at most 65536 characters, got 65537'],
    ['environment too large together', { command: { value: 'x', environment: { variables: Array.from({ length: 5 }, (_, i) => ({ name: `A${i}`, value: 'v'.repeat(60000) })) } } }, 'task.command.environment', "the variables' names and values must be at most 262144 characters together, got 300010"],
    ['overlong user', { command: { value: 'x', user: 'u'.repeat(256) } }, 'task.command.user', 'must be at most 255 characters, got 256'],
    ['overlong URI', { command: { value: 'x', uris: [{ value: 'https://x/' + 'y'.repeat(5000) }] } }, 'task.command.uris[0].value', 'must be at most 4096 characters, got 5010'],
    ['overlong label value', { labels: { labels: [{ key: 'k', value: 'v'.repeat(4097) }] } }, 'task.labels.labels[0].value', 'must be at most 4096 characters, got 4097'],
    ['too many labels', { labels: { labels: Array.from({ length: 257 }, (_, i) => ({ key: `k${i}`, value: '' })) } }, 'task.labels.labels', 'must have at most 256 entries, got 257'],
    ['overlong image', docker('a'.repeat(2000)), 'task.container.docker.image', 'must be at most 1024 characters, got 2000'],
    ['overlong docker parameter', { command: null, container: { type: 'DOCKER', docker: { image: 'busybox', parameters: [{ key: 'env', value: 'v'.repeat(4097) }] } } }, 'task.container.docker.parameters[0].value', 'must be at most 4096 characters, got 4097'],
    ['overlong discovery name', { discovery: { name: 'd'.repeat(256) } }, 'task.discovery.name', 'must be at most 255 characters, got 256'],
  ])('rejects a %s naming the field and the value', (_kind, fields, field, message) => {
    const problems = taskInfoProblems(task('t1').with(fields).build(), 'task', { agentId: AGENT });
    expect(problems).toEqual([{ field, message: expect.stringContaining(message) }]);
  });

  it('rejects a health check whose type names another member than the one set', () => {
    expect(taskInfoProblems(task('t1').with({ health_check: { type: 'HTTP', tcp: { port: 80 } } }).build(), 'task')).toEqual([
      { field: 'task.health_check.http', message: 'is required for a HTTP health check' },
      { field: 'task.health_check.tcp', message: 'must not be set for a HTTP health check' },
    ]);
  });

  it('allows revocable resources when asked to', () => {
    expect(taskInfoProblems(task('t1').with({ resources: revocable }).build(), 'task', { allowRevocable: true })).toEqual([]);
  });

  it('reports every problem of a task at once', () => {
    const problems = taskInfoProblems(task('a/b').with({ name: '', command: null }).build(), 'operations[0].launch.task_infos[3]');
    expect(problems.map((p) => p.field)).toEqual([
      'operations[0].launch.task_infos[3].task_id.value',
      'operations[0].launch.task_infos[3].name',
      'operations[0].launch.task_infos[3].command',
    ]);
  });
});

describe('taskIdProblem and imageReferenceProblem', () => {
  it.each(['web-1', 'job.run_2024-01-01T00:00:00Z', 'a'.repeat(255), 'ünïcode'])('accept task id %j', (id) => {
    expect(taskIdProblem(id)).toBeUndefined();
  });

  it.each(['busybox', 'library/busybox:1.36', 'localhost:5000/a/b-c_d.e:latest', '[::1]:5000/app', 'ghcr.io/org/app@sha256:' + '0'.repeat(64)])('accept image %j', (image) => {
    expect(imageReferenceProblem(image)).toBeUndefined();
  });

  it.each(['', 'app:', ':tag', 'app@sha256:abc', 'a b', 'app:' + 'x'.repeat(129), '-app'])('reject image %j', (image) => {
    expect(imageReferenceProblem(image)).toBeDefined();
  });
});

describe('task priority class and disruption budget', () => {
  const classes = new PriorityClasses({ prod: 100 });
  const problems = (extra: Partial<TaskInfo>) => checkTaskInfo(task('t1').with(extra).build(), 'task', { priorityClasses: classes }).problems.map((p) => `${p.field}: ${p.message}`);

  it('accepts a known class, an empty one and a sound budget', () => {
    expect(problems({ priority_class: 'prod', disruption_budget: { group: 'web', instances: 3, max_unavailable: 1 } })).toEqual([]);
    expect(problems({ priority_class: '' })).toEqual([]);
  });

  it('names an unknown class with the known ones, and every budget problem', () => {
    expect(problems({ priority_class: 'urgent' })).toEqual(['task.priority_class: unknown priority class "urgent": the master knows default (0), prod (100) (its priorityClasses setting)']);
    expect(problems({ disruption_budget: { group: '', instances: 0, max_unavailable: 0 } })).toEqual([
      "task.disruption_budget.group: must be set: the name of the task's group (e.g. its app id)",
      'task.disruption_budget.instances: must be at least 1 (how many tasks the group wants running), got 0',
    ]);
    expect(problems({ disruption_budget: { group: 'web', instances: 2, max_unavailable: 3 } })).toEqual(['task.disruption_budget.max_unavailable: must be at most instances (2), got 3']);
  });
});
