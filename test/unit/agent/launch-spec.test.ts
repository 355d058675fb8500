import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { launchSpecOf, persistentVolumePath, type LaunchContext } from '../../../src/agent/launch-spec';
import { Resources } from '../../../src/common/resources';
import { resourcesToWire } from '../../../src/common/wire';
import type { TaskInfo } from '../../../src/generated/berth/v1/TaskInfo';

describe('launchSpecOf: what the agent runs, and refuses', () => {
  let root: string;
  let ctx: LaunchContext;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-spec-'));
    fs.mkdirSync(path.join(root, 'allowed', 'data'), { recursive: true });
    fs.symlinkSync('/', path.join(root, 'allowed', 'root'));
    ctx = {
      containerId: 'c1', frameworkId: 'fw', agentId: 'a1', role: 'web', sandboxDir: path.join(root, 'sandbox'),
      volumesDir: path.join(root, 'volumes'), types: ['DOCKER', 'PROCESS'], allowedHostPaths: [path.join(root, 'allowed')], frameworkUser: '', users: { defaultUser: 'nobody', agentUid: 1000, agentUser: 'agent' },
    };
  });

  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const task = (extra: Partial<TaskInfo> = {}): TaskInfo => ({
    name: 't', task_id: { value: 't1' }, resources: resourcesToWire(Resources.parse('cpus:0.5;mem:64;ports:[31000-31001]')), command: { value: 'true' }, ...extra,
  });
  const docker = (volumes: object[] = [], more: object = {}) => ({ container: { type: 'DOCKER' as const, docker: { image: 'img', ...more }, volumes } as never });

  it('builds a DOCKER spec with limits, ports and labels; a DOCKER task without a command runs the image\'s', () => {
    const r = launchSpecOf(task({ ...docker(), command: undefined, labels: { labels: [{ key: 'tier', value: 'web' }] } }), ctx);
    if (!('spec' in r)) throw new Error(JSON.stringify(r));
    expect(r.spec).toMatchObject({ type: 'DOCKER', image: { name: 'img', forcePull: false }, cpus: 0.5, memMib: 64, ports: [31000, 31001], labels: { agentId: 'a1', 'task.tier': 'web' }, command: { value: '', shell: false, arguments: [] } });
  });

  it('mounts an allowed host path, but not a symlink inside it that leads out, nor a path that does not exist', () => {
    const ok = launchSpecOf(task(docker([{ container_path: '/data', host_path: path.join(root, 'allowed', 'data'), mode: 'RO' }])), ctx);
    expect('spec' in ok && ok.spec.volumes).toEqual([{ hostPath: fs.realpathSync(path.join(root, 'allowed', 'data')), containerPath: '/data', readOnly: true }]);
    const escape = launchSpecOf(task(docker([{ container_path: '/host', host_path: path.join(root, 'allowed', 'root') }])), ctx);
    expect(escape).toMatchObject({ refusal: { state: 'TASK_ERROR', reason: 'REASON_TASK_UNAUTHORIZED' } });
    const missing = launchSpecOf(task(docker([{ container_path: '/x', host_path: path.join(root, 'allowed', 'nope') }])), ctx);
    expect(missing).toMatchObject({ refusal: { reason: 'REASON_TASK_INVALID', message: expect.stringContaining('does not exist') } });
  });

  it('keeps persistent volumes inside the volumes directory, whatever their id', () => {
    for (const id of ['..', '.', 'a/../../b', 'ok-id']) {
      const p = persistentVolumePath(ctx.volumesDir, 'web', id);
      expect(path.dirname(path.dirname(p))).toBe(ctx.volumesDir);
    }
  });

  it('refuses privileged containers, unknown docker parameters, volumes on PROCESS tasks and kinds it cannot run', () => {
    expect(launchSpecOf(task(docker([], { privileged: true })), ctx)).toMatchObject({ refusal: { reason: 'REASON_TASK_UNAUTHORIZED' } });
    expect(launchSpecOf(task(docker([], { parameters: [{ key: 'cap-add', value: 'ALL' }] })), ctx)).toMatchObject({ refusal: { message: expect.stringContaining('docker parameter "cap-add" is not allowed') } });
    expect(launchSpecOf(task({ container: { type: 'PROCESS', volumes: [{ container_path: 'x', persistence_id: 'v' }] } as never }), ctx)).toMatchObject({ refusal: { reason: 'REASON_TASK_INVALID' } });
    expect(launchSpecOf(task(docker()), { ...ctx, types: ['PROCESS'] })).toMatchObject({ refusal: { message: expect.stringContaining('cannot run DOCKER') } });
  });

  it('refuses a health check on a port that is not the task\'s', () => {
    const hc = (port: number) => ({ health_check: { type: 'TCP', tcp: { port } } as never });
    expect('spec' in launchSpecOf(task(hc(31001)), ctx)).toBe(true);
    expect(launchSpecOf(task(hc(22)), ctx)).toMatchObject({ refusal: { state: 'TASK_ERROR', message: expect.stringContaining('health_check') } });
  });
});
