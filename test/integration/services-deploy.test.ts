/**
 * Issue 15, point 2 and the deploy commands' exit codes, as a user meets them: `berth app deploy |
 * scale | restart` against the framework host over real gRPC, a real master and one real agent that
 * runs real processes (and Docker, for an image that does not exist). The framework host's clock is a
 * fake one the test moves on while the CLI waits (100 ms per allocation cycle, about 7 × real time),
 * so the deadlines below are in the host's seconds.
 *
 * Exit codes: 0 succeeded, 3 failed, 4 rolled back, 5 not finished within --timeout, 2 bad --timeout.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { FrameworkCluster } from '../support/framework-cluster';
import { freePort } from '../support/master-process';

interface Run { code: number; stdout: string; stderr: string }

describe('berth app deploy|scale|restart: exit codes that say what the deployment did', () => {
  let cluster: FrameworkCluster;
  let held: net.Server;
  let port: number;
  let dir: string;

  beforeAll(async () => {
    port = await freePort();
    // Another process holds the app's port: its task fails right after it starts.
    held = net.createServer();
    await new Promise<void>((resolve) => held.listen(port, '127.0.0.1', resolve));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-deploy-'));
    cluster = await FrameworkCluster.start({
      agents: 1,
      plugins: [{ name: 'services', module: 'services', options: { refuseSeconds: 1 } }],
      containerizers: 'docker,process',
      resources: `cpus:4;mem:4096;disk:1000;ports:[${port}-${port}]`,
    });
  });

  afterAll(async () => {
    await cluster?.stop();
    await new Promise((resolve) => held.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the CLI while the cluster's cycles (and the host's clock) go on; resolves when it exits. */
  async function berth(...args: string[]): Promise<Run> {
    let stdout = '';
    let stderr = '';
    let result: Run | undefined;
    const running = main(['node', 'berth', ...args, '--frameworks', cluster.host.grpcAddress!], { stdout: (x) => void (stdout += x), stderr: (x) => void (stderr += x) })
      .then((code) => (result = { code, stdout, stderr }));
    await cluster.cycleUntil(async () => result !== undefined, `berth ${args.join(' ')} to exit`, 100, 60_000);
    await running;
    return result!;
  }

  const file = (name: string, def: object): string => {
    const f = path.join(dir, `${name}.json`);
    fs.writeFileSync(f, JSON.stringify(def));
    return f;
  };

  const lines = (r: Run): string[] => r.stdout.split('\n').filter((l) => l !== '');
  /** The progress lines change every time they are printed: never the same line twice in a row. */
  const expectNoRepeats = (r: Run): void => {
    const ls = lines(r);
    expect(ls.filter((l, i) => i > 0 && l === ls[i - 1])).toEqual([]);
    expect(ls.filter((l) => /launch delayed \d/.test(l))).toEqual([]);
  };

  const ok = { id: '/ok', cmd: 'exec sleep 600', cpus: 1, mem: 32, progressDeadlineSeconds: 10 };

  it('exit 0: a create, a scale and a restart whose tasks keep running succeed', async () => {
    const deployed = await berth('app', 'deploy', file('ok', ok));
    expect(deployed).toMatchObject({ code: 0, stderr: '' });
    expect(lines(deployed).at(-1)).toBe('create succeeded: 1/1 running, 1 healthy');
    expectNoRepeats(deployed);
    expect(await berth('app', 'scale', '/ok', '2', '--timeout', '60')).toMatchObject({ code: 0, stdout: expect.stringMatching(/scale succeeded: 2\/2 running, 2 healthy\n$/) });
    expect(await berth('app', 'restart', '/ok', '--timeout', '1m')).toMatchObject({ code: 0, stdout: expect.stringMatching(/restart succeeded: 2\/2 running, 2 healthy\n$/) });
  });

  it('exit 3: a create whose task fails at start (its port is taken) fails at its deadline; the app backs off and says why', async () => {
    const def = {
      id: '/porty',
      cmd: `exec ${process.execPath} -e "require('net').createServer().listen(${port}, '127.0.0.1')"`,
      cpus: 0.1, mem: 64,
      portDefinitions: [{ port }], requirePorts: true,
      // Host seconds run ~7 × faster than real ones here: 20 of them leave the failing task time to die.
      minReadySeconds: 20, progressDeadlineSeconds: 30, backoffSeconds: 1, backoffFactor: 2, maxLaunchDelaySeconds: 4,
    };
    const r = await berth('app', 'deploy', file('porty', def));
    expect(r.code).toBe(3);
    expect(r.stdout).not.toMatch(/succeeded/);
    expect(r.stderr).toMatch(/^deployment \S+ failed: no progress for 30 s \(progressDeadlineSeconds\): .*last task failure: TASK_FAILED /m);
    expect(lines(r).at(-1)).toMatch(/^create failed: [01]\/1 running/); // a relaunched task may be running again
    expectNoRepeats(r);

    const shown = await berth('app', 'show', '/porty');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^last deployment \S+: create failed — no progress for 30 s/m);
    expect(shown.stdout).toMatch(/^launch backoff: [1-4](\.\d+)? s$/m);
    expect(shown.stdout).toMatch(/^last failure: porty\.\S+ TASK_FAILED /m);

    // --json is the documented shape: no "_cmd"-style markers of the proto loader.
    const json = await berth('app', 'show', '/porty', '--json');
    expect(json.stdout).not.toMatch(/"_[a-z_]+":/);
    const app = JSON.parse(json.stdout).app;
    expect(app.definition).toMatchObject({ cmd: def.cmd, instances: 1, min_ready_seconds: 20, progress_deadline_seconds: 30 });
    expect(app.status.last_deployment).toMatchObject({ kind: 'CREATE', state: 'FAILED' });
    expect(app.status.backoff_seconds).toBeLessThanOrEqual(4);
  });

  it('exit 3: an image that does not exist fails after progressDeadlineSeconds, with the pull error', async () => {
    const r = await berth('app', 'deploy', file('ghost', { id: '/ghost', container: { docker: { image: '127.0.0.1:1/berth/nope:1' } }, cmd: 'sleep 600', cpus: 0.1, mem: 32, progressDeadlineSeconds: 10 }));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/failed: no progress for 10 s \(progressDeadlineSeconds\): .*pulling image 127\.0\.0\.1:1\/berth\/nope:1 failed/);
  });

  it('exit 4: a change that cannot finish is rolled back (deploy and scale)', async () => {
    const bigger = await berth('app', 'deploy', file('ok-big', { ...ok, cpus: 100 }));
    expect(bigger.code).toBe(4);
    expect(bigger.stderr).toMatch(/^deployment \S+ failed: no progress for 10 s \(progressDeadlineSeconds\): .*resources:cpus.* \(rolled back by \S+\)$/m);
    await cluster.cycleUntil(async () => (await cluster.call<{ app: { status: { running: number; deployment?: unknown } } }>('Services', 'GetApp', { app_id: '/ok' })).app.status.deployment == null, 'the rollback to finish');

    // 4 cpus: 4 instances of 1 cpu fit, a 6th never does.
    const scaled = await berth('app', 'scale', '/ok', '6');
    expect(scaled.code).toBe(4);
    expect(scaled.stderr).toMatch(/^deployment \S+ failed: .*\(rolled back by \S+\)$/m);
  });

  it('exit 5: a deployment not finished within --timeout (it goes on); a bad --timeout is exit 2', async () => {
    const started = Date.now();
    const r = await berth('app', 'deploy', file('huge', { id: '/huge', cmd: 'sleep 600', cpus: 100, mem: 32 }), '--timeout', '1s');
    expect(r.code).toBe(5);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/^deployment (\S+) did not finish within --timeout 1 s; it goes on \(.*?berth(?:\.js)? deployment cancel \1 rolls it back\)$/m);
    expect((await berth('app', 'restart', '/porty', '--timeout', '1')).code).toBe(5);
    expect(await berth('app', 'scale', '/huge', '0', '--timeout', 'soon')).toMatchObject({ code: 2, stderr: expect.stringContaining('--timeout must be seconds (90) or a duration (90s, 5m, 1h30m), got "soon"') });
    expect((await berth('app', 'rm', '/huge')).code).toBe(0);
  });
});
