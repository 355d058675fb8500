/**
 * `berth dev` as a user runs it (a child process, from the sources) with the real Docker engine: the
 * example plugin's greetings run in containers of the test image, an app deployed through the
 * berth.v1.Services API runs, a job run started through berth.v1.Jobs finishes, `berth task logs`
 * reads a task's output, and SIGTERM stops everything, containers included.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Dockerode from 'dockerode';
import { devAgentWorkDir } from '../../src/cli/dev-command';
import { main } from '../../src/cli/main';
import { loadBerthProto } from '../../src/common/rpc/proto';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import { TEST_IMAGE } from '../support/agent-fixture';
import { TestOperator, waitFor } from '../support/master-harness';

const RUN_BERTH = path.join(__dirname, '..', 'support', 'run-berth.js');

describe('berth dev', () => {
  let child: ChildProcess;
  let out = '';
  let workDir: string;
  let master = '';
  let frameworks = '';
  let operator: TestOperator;
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dev-'));
    child = spawn(process.execPath, [RUN_BERTH, 'dev', '--work-dir', workDir, '--grpc-port', '0', '--http-port', '0', '--agent-http-port', '0', '--frameworks-port', '0', '--frameworks-http-port', '0',
      '--plugins', path.join(__dirname, '..', '..', 'examples', 'hello-framework'), '--plugin-options', JSON.stringify({ 'hello-framework': { count: 2, image: TEST_IMAGE } })], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /APIs on (\S+)/.test(out) || child.exitCode !== null, 'berth dev to say it runs', 30_000);
    expect(out).toMatch(/Berth dev cluster is running/);
    master = /master\s+(\S+) \(gRPC\)/.exec(out)![1]!;
    frameworks = /APIs on (\S+)/.exec(out)![1]!;
    operator = new TestOperator(master);
  }, 40_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const docker = new Dockerode();
    // The agent's work directory (its containers' scope label) is not always under workDir.
    const { agentWorkDir } = devAgentWorkDir(workDir);
    const left = await docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${agentWorkDir}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.rmSync(agentWorkDir, { recursive: true, force: true });
  });

  function api<T>(service: string, method: string, request: object): Promise<T> {
    const Ctor = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1[service]!;
    const client = new Ctor(frameworks, grpc.credentials.createInsecure());
    clients.push(client);
    return new Promise((resolve, reject) => (client as unknown as Record<string, (r: object, cb: (e: Error | null, v: T) => void) => void>)[method]!.call(client, request, (e, v) => (e ? reject(e) : resolve(v))));
  }

  async function until(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const tasks = async (): Promise<GetTasksResponse__Output> => operator.call<GetTasksResponse__Output>('GetTasks', { include_completed: true });

  it('runs the example plugin\'s greetings in Docker containers, readable with berth task logs', async () => {
    await until(async () => (await tasks()).completed_tasks.filter((t) => t.task_id!.value.startsWith('hello-') && t.state === 'TASK_FINISHED').length === 2, 'both greetings to finish');
    let logs = '';
    const code = await main(['node', 'berth', 'task', 'logs', 'hello-1', '--master', master], { stdout: (s) => void (logs += s), stderr: (s) => void (logs += s) });
    expect({ code, logs }).toEqual({ code: 0, logs: 'hello from hello-1\n' });
  }, 40_000);

  it('deploys an app and runs a job with the CLI: the app RUNNING, the job finished', async () => {
    const files = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dev-files-'));
    try {
      fs.writeFileSync(path.join(files, 'app.yaml'), [
        'id: /demo/web',
        'cmd: while true; do echo serving on $PORT0 | nc -l -p $PORT0; done',
        `container: { docker: { image: "${TEST_IMAGE}" } }`,
        'cpus: 0.1',
        'mem: 32',
        'instances: 2',
        'portDefinitions: [{ port: 0, name: http }]',
        '',
      ].join('\n'));
      fs.writeFileSync(path.join(files, 'job.yaml'), `id: demo-job\nrun:\n  cmd: echo job done\n  docker: { image: "${TEST_IMAGE}" }\n  cpus: 0.1\n  mem: 32\n`);
      const cli = async (...args: string[]) => {
        let text = '';
        const code = await main(['node', 'berth', ...args, '--frameworks', frameworks], { stdout: (x) => void (text += x), stderr: (x) => void (text += x) });
        return { code, text };
      };
      const deployed = await cli('app', 'deploy', path.join(files, 'app.yaml'));
      expect(deployed).toMatchObject({ code: 0, text: expect.stringMatching(/create succeeded: 2\/2 running/) });
      expect((await api<{ app: { status: { running: number } } }>('Services', 'GetApp', { app_id: '/demo/web' })).app.status.running).toBe(2);
      expect((await cli('job', 'add', path.join(files, 'job.yaml'))).code).toBe(0);
      expect(await cli('job', 'run', 'demo-job')).toMatchObject({ code: 0, text: expect.stringMatching(/run \S+ success after 1 attempt/) });
    } finally {
      fs.rmSync(files, { recursive: true, force: true });
    }
  }, 60_000);

  it('stops on SIGTERM, with its containers', async () => {
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    const docker = new Dockerode();
    const running = await docker.listContainers({ filters: { label: [`io.berth.scope=${devAgentWorkDir(workDir).agentWorkDir}`] } });
    expect(running).toEqual([]);
  }, 40_000);
});
