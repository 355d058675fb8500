/**
 * `berth app import FILE --deploy` end to end: a Compose stack file of two services is turned into
 * two apps and deployed to a real master and agent running real Docker containers (the busybox test
 * image, host networking), waiting like `berth app deploy`; then the web service answers on its
 * target port and both apps run their instances.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { FrameworkCluster } from '../support/framework-cluster';
import { freePort } from '../support/master-process';

interface AppStatus { instances: number; running: number; healthy: number }

describe('berth app import --deploy', () => {
  let cluster: FrameworkCluster;
  let port: number;
  let dir: string;

  beforeAll(async () => {
    port = await freePort();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-import-'));
    cluster = await FrameworkCluster.start({
      agents: 1,
      plugins: [{ name: 'services', module: 'services', options: { refuseSeconds: 1 } }],
      containerizers: 'docker,process',
      resources: `cpus:4;mem:4096;disk:1000;ports:[${port}-${port},31000-31099]`,
    });
  });

  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('deploys every service of the file as an app and waits for them; the web app answers on its port', async () => {
    const file = path.join(dir, 'stack.yml');
    fs.writeFileSync(file, `
version: "3.8"
services:
  web:
    image: berth-test/busybox:latest
    command: ["httpd", "-f", "-p", "127.0.0.1:${port}", "-h", "/etc"]
    ports:
      - "80:${port}"
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:${port}/hostname"]
      interval: 1s
      timeout: 1s
      retries: 3
    deploy:
      resources: { limits: { cpus: "0.1", memory: 32M } }
  worker:
    image: berth-test/busybox:latest
    entrypoint: ["/bin/sh", "-c"]
    command: ["echo started; exec sleep 600"]
    volumes: ["cache:/cache"]
    deploy:
      replicas: 2
      resources: { limits: { cpus: "0.1", memory: 16M } }
      restart_policy: { condition: any, delay: 2s }
volumes:
  cache: {}
`);
    let stdout = '';
    let stderr = '';
    let code: number | undefined;
    const running = main(['node', 'berth', 'app', 'import', file, '--deploy', '--prefix', '/stack', '--timeout', '60', '--frameworks', cluster.host.grpcAddress!], {
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
    }).then((c) => (code = c));
    await cluster.cycleUntil(async () => code !== undefined, 'berth app import --deploy to exit', 100, 90_000);
    await running;

    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.stringContaining('2 services → /stack/web, /stack/worker; 2 keys not imported (listed above)') });
    expect(stderr).toContain(`${file}:20: services.worker.volumes: not imported: `);
    expect(stderr).toContain(`${file}:25: volumes: not imported: `);
    expect(stderr).not.toContain('entrypoint'); // sh -c COMMAND is a shell command as it is
    expect(stdout).toMatch(/^created \/stack\/web; deployment \S+$/m);
    expect(stdout).toMatch(/^created \/stack\/worker; deployment \S+$/m);
    expect(stdout).toMatch(/^create succeeded: 1\/1 running, 1 healthy$/m);
    expect(stdout).toMatch(/^create succeeded: 2\/2 running, 2 healthy$/m);

    const status = async (id: string) => (await cluster.call<{ app: { status: AppStatus; definition: Record<string, unknown> } }>('Services', 'GetApp', { app_id: id })).app;
    const web = await status('/stack/web');
    expect(web.status).toMatchObject({ instances: 1, running: 1, healthy: 1 });
    expect(web.definition).toMatchObject({ require_ports: true, port_definitions: [{ port }] });
    const worker = await status('/stack/worker');
    expect(worker.status).toMatchObject({ instances: 2, running: 2 });
    expect(worker.definition).toMatchObject({ cmd: 'echo started; exec sleep 600', backoff_seconds: 2, backoff_factor: 1 });

    // Host networking: the container listens on its target port on the agent's address.
    const res = await fetch(`http://127.0.0.1:${port}/hostname`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(200);
  }, 120_000);
});
