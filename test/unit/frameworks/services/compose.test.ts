import { parseAppDefinition } from '../../../../src/frameworks/services/app-definition';
import { ComposeImportError, importCompose, pathText, type ComposeImportOptions, type Note } from '../../../../src/frameworks/services/compose/index';
import { parseComposeText, ComposeSyntaxError } from '../../../../src/frameworks/services/compose/source';

const noEnv = (): undefined => undefined;

function load(yaml: string, opts: Partial<ComposeImportOptions> = {}) {
  return importCompose(parseComposeText(yaml).parsed, { env: noEnv, ...opts });
}

function failure(yaml: string, opts: Partial<ComposeImportOptions> = {}): ComposeImportError {
  try {
    load(yaml, opts);
  } catch (err) {
    if (err instanceof ComposeImportError) return err;
    throw err;
  }
  throw new Error('the import succeeded');
}

const paths = (notes: readonly Note[]): string[] => notes.map((n) => pathText(n.at));
const said = (notes: readonly Note[]): string[] => notes.map((n) => `${pathText(n.at)}: ${n.message}`);

describe('berth app import: Compose files → app definitions', () => {
  it('a minimal file: one service, its image, an app of the same name', () => {
    const r = load('services:\n  web:\n    image: nginx:1.27\n');
    expect(r.apps).toEqual([{ service: 'web', id: '/web', definition: { id: '/web', container: { type: 'DOCKER', docker: { image: 'nginx:1.27' } } } }]);
    expect(r.unmapped).toEqual([]);
    expect(said(r.warnings)).toEqual([expect.stringMatching(/^services\.web: no cpus and memory limit: Berth's default applies \(cpus 1, mem 128 MiB\)/)]);
  });

  it('a full Swarm stack file: deploy, healthcheck, long ports syntax, and --prefix', () => {
    const r = load(`
version: "3.9"
services:
  api:
    image: registry.example/api:2.1
    command: ["serve", "--port", "8080"]
    environment:
      LOG_LEVEL: debug
      WORKERS: 4
      DEBUG: false
    labels: { team: payments }
    ports:
      - target: 8080
        published: 80
        protocol: tcp
        mode: host
        name: http
      - "9000-9001/udp"
    healthcheck:
      test: ["CMD-SHELL", "wget -qO- http://localhost:8080/health || exit 1"]
      interval: 10s
      timeout: 2s
      retries: 5
      start_period: 1m
    stop_grace_period: 45s
    deploy:
      replicas: 4
      labels: [tier=backend]
      resources:
        limits: { cpus: "1.5", memory: 1g }
        reservations: { cpus: "0.5", memory: 256M }
      update_config: { parallelism: 2, delay: 5s, monitor: 10s, order: stop-first, failure_action: rollback }
      restart_policy: { condition: any, delay: 3s }
      placement:
        constraints: ["node.hostname == node-1", "node.labels.zone != eu.west"]
        preferences: [{ spread: node.labels.rack }]
        max_replicas_per_node: 2
`, { prefix: '/shop' });
    expect(r.apps.map((a) => a.id)).toEqual(['/shop/api']);
    expect(r.apps[0]!.definition).toEqual({
      id: '/shop/api',
      args: ['serve', '--port', '8080'],
      container: { type: 'DOCKER', docker: { image: 'registry.example/api:2.1' } },
      instances: 4, cpus: 1.5, mem: 1024,
      env: { LOG_LEVEL: 'debug', WORKERS: '4', DEBUG: 'false' },
      labels: { team: 'payments', tier: 'backend' },
      portDefinitions: [{ port: 8080, name: 'http' }, { port: 9000, protocol: 'udp' }, { port: 9001, protocol: 'udp' }],
      requirePorts: true,
      constraints: [['hostname', 'IS', 'node-1'], ['zone', 'UNLIKE', 'eu\\.west'], ['rack', 'GROUP_BY'], ['hostname', 'MAX_PER', '2']],
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'wget -qO- http://localhost:8080/health || exit 1' }, intervalSeconds: 10, timeoutSeconds: 2, maxConsecutiveFailures: 5, gracePeriodSeconds: 60, delaySeconds: 10 }],
      // 4 replicas, 2 at a time, stop-first: 2 keep running, no surge.
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
      minReadySeconds: 15,
      backoffSeconds: 3, backoffFactor: 1, maxLaunchDelaySeconds: 3,
      taskKillGracePeriodSeconds: 45,
    });
    expect(r.unmapped).toEqual([]);
    expect(said(r.warnings)).toEqual([
      'version: obsolete (as in Compose): not read',
      'services.api.ports[0]: published 80 is not used: tasks use host networking, so the container listens on its target port 8080 on the agent\'s address; Berth reserves that port',
      'services.api.deploy.resources.reservations.cpus: Berth allocates and limits one amount: cpus 1.5 (the limit), not the reservation 0.5',
      'services.api.deploy.resources.reservations.memory: Berth allocates and limits one amount: mem 1024 (the limit), not the reservation 256',
    ]);
    // What berth app deploy would make of it.
    expect(parseAppDefinition(r.apps[0]!.definition)).toMatchObject({ id: '/shop/api', instances: 4, requirePorts: true, healthChecks: [{ protocol: 'COMMAND' }] });
  });

  it('update_config: start-first surges by the batch, parallelism 0 is all at once, rounded towards the batch', () => {
    const strategy = (replicas: number, update: string) => load(`services:\n  w:\n    image: x\n    deploy:\n      replicas: ${replicas}\n      update_config: ${update}\n`).apps[0]!.definition.upgradeStrategy;
    expect(strategy(3, '{ parallelism: 1, order: start-first }')).toEqual({ minimumHealthCapacity: 1, maximumOverCapacity: 0.333334 });
    expect(strategy(3, '{ parallelism: 1 }')).toEqual({ minimumHealthCapacity: 0.666666, maximumOverCapacity: 0 });
    expect(strategy(1, '{ parallelism: 1 }')).toEqual({ minimumHealthCapacity: 0, maximumOverCapacity: 0 });
    expect(strategy(5, '{ parallelism: 0, order: start-first }')).toEqual({ minimumHealthCapacity: 1, maximumOverCapacity: 1 });
    expect(strategy(2, '{ parallelism: 9 }')).toEqual({ minimumHealthCapacity: 0, maximumOverCapacity: 0 });
    // Berth's planner rounds these to the same batch sizes: ceil(n × min) healthy, floor(n × (1 + over)) in all.
    expect(Math.ceil(3 * 0.666666 - 1e-9)).toBe(2);
    expect(Math.floor(3 * (1 + 0.333334) + 1e-9)).toBe(4);
  });

  it('ports: the short forms, ranges, protocols, IPv6 host addresses; each target port once', () => {
    const r = load('services:\n  w:\n    image: x\n    ports:\n      - 3000\n      - "4000-4001"\n      - "127.0.0.1::5000"\n      - "[::1]:6001:6001"\n      - "53:53/udp"\n      - "53:53/tcp"\n      - "9090-9091:8080-8081"\n      - "7000:3000"\n');
    expect(r.apps[0]!.definition.portDefinitions).toEqual([
      { port: 3000 }, { port: 4000 }, { port: 4001 }, { port: 5000 }, { port: 6001 }, { port: 53, protocol: 'udp,tcp' }, { port: 8080 }, { port: 8081 },
    ]);
    expect(said(r.unmapped)).toEqual([
      expect.stringMatching(/^services\.w\.ports\[2\]: host IP 127\.0\.0\.1: /),
      expect.stringMatching(/^services\.w\.ports\[3\]: host IP ::1: /),
    ]);
    expect(said(r.warnings).filter((w) => w.includes('ports'))).toEqual([
      expect.stringMatching(/^services\.w\.ports\[6\]: published 9090,9091 is not used: .*target port 8080,8081/),
      expect.stringMatching(/^services\.w\.ports\[7\]: published 7000 is not used: /),
      'services.w.ports[7]: port 3000 is already listed: one port definition for it',
    ]);
    expect(said(failure('services:\n  w:\n    image: x\n    ports: ["80-82:80-81", "1:2/sctp", {target: 80, published: "x"}]\n').errors)).toEqual([
      'services.w.ports[0]: the published range has 3 ports and the target range 2: they must be as long',
      'services.w.ports[1]: protocol must be tcp or udp (Berth has no sctp ports), got "sctp"',
      'services.w.ports[2].published: must be a port 1-65535 or a range a-b, got "x"',
    ]);
  });

  it('environment as a list or a mapping, a name alone from the importing environment, env_file under it', () => {
    const env = (n: string) => ({ FROM_SHELL: 'shell-value', TAG: '7' } as Record<string, string | undefined>)[n];
    const files: Record<string, string> = { 'common.env': 'A=file\nB=file\n' };
    const list = load('services:\n  w:\n    image: x:${TAG}\n    env_file: common.env\n    environment:\n      - B=list\n      - C=with=equals\n      - FROM_SHELL\n      - MISSING\n', { env, envFile: (p) => files[p] });
    expect(list.apps[0]!.definition).toMatchObject({ container: { docker: { image: 'x:7' } }, env: { A: 'file', B: 'list', C: 'with=equals', FROM_SHELL: 'shell-value' } });
    expect(said(list.warnings).filter((w) => w.includes('environment'))).toEqual([
      'services.w.environment[2]: FROM_SHELL has no value: the app gets the importing environment\'s value, written into its definition',
      'services.w.environment[3]: MISSING has no value and is not set in the importing environment: the app does not get it',
    ]);
    // Extension fields are not read, so their variables need not be set; merged into a service, they are.
    const merged = failure('x-base: &base\n  environment: { A: "${UNSET_A}" }\nx-other: "${UNSET_B}"\nservices:\n  w:\n    <<: *base\n    image: x\n');
    expect(said(merged.errors)).toEqual([expect.stringMatching(/^services\.w\.environment\.A: variable UNSET_A is not set/)]);
    const map = load('services:\n  w:\n    image: x\n    environment:\n      PORT: 8080\n      ON: true\n      FROM_SHELL:\n', { env });
    expect(map.apps[0]!.definition.env).toEqual({ PORT: '8080', ON: 'true', FROM_SHELL: 'shell-value' });
    expect(failure('services:\n  w:\n    image: x\n    env_file: [gone.env]\n', { envFile: () => undefined }).message)
      .toBe('services.w.env_file[0]: gone.env does not exist: create it, or mark it {path: gone.env, required: false}');
    expect(load('services:\n  w:\n    image: x\n    env_file: [{path: gone.env, required: false}]\n', { envFile: () => undefined }).apps).toHaveLength(1);
  });

  it('command and entrypoint: exec form and shell-split strings keep the image entrypoint; an entrypoint becomes exec in a shell', () => {
    const def = (svc: string) => load(`services:\n  w:\n    image: x\n${svc}`).apps[0]!.definition;
    expect(def('    command: ["sh", "-c", "echo $$HOME"]\n')).toMatchObject({ args: ['sh', '-c', 'echo $HOME'] });
    expect(def('    command: bundle exec thin -p 3000\n')).toMatchObject({ args: ['bundle', 'exec', 'thin', '-p', '3000'] });
    expect(def('    command: echo "two words"\n')).toMatchObject({ args: ['echo', 'two words'] });
    expect(def('    entrypoint: ["/app/run", "--flag"]\n    command: ["it\'s", "a b"]\n')).toEqual(expect.objectContaining({ cmd: `exec /app/run --flag 'it'\\''s' 'a b'` }));
    expect(def('    entrypoint: /docker-entrypoint.sh\n')).toMatchObject({ cmd: 'exec /docker-entrypoint.sh' });
    expect(def('    entrypoint: []\n    command: [nginx]\n')).toMatchObject({ cmd: 'exec nginx' });
    expect(def('    entrypoint: ["sh", "-c"]\n    command: ["echo a && exec sleep 9"]\n')).toMatchObject({ cmd: 'echo a && exec sleep 9' });
    const empty = load('services:\n  w:\n    image: x\n    command: []\n');
    expect(empty.apps[0]!.definition.args).toBeUndefined();
    expect(paths(empty.unmapped)).toEqual(['services.w.command']);
    expect(failure('services:\n  w:\n    image: x\n    entrypoint: ""\n').message).toMatch(/^services\.w\.entrypoint: clears the image's entrypoint and there is no command: nothing to run/);
  });

  it('healthcheck forms: a string and CMD-SHELL run in a shell, CMD is quoted, NONE and disable mean none, Docker defaults fill in', () => {
    const hc = (h: string) => load(`services:\n  w:\n    image: x\n    healthcheck:\n${h}`).apps[0]!.definition.healthChecks as Record<string, unknown>[] | undefined;
    expect(hc('      test: curl -f http://localhost || exit 1\n')).toEqual([{ protocol: 'COMMAND', command: { value: 'curl -f http://localhost || exit 1' }, intervalSeconds: 30, timeoutSeconds: 30, maxConsecutiveFailures: 3, gracePeriodSeconds: 0, delaySeconds: 30 }]);
    expect(hc('      test: ["CMD", "pg_isready", "-U", "my user"]\n      interval: 0s\n')![0]).toMatchObject({ command: { value: "pg_isready -U 'my user'" }, intervalSeconds: 30 });
    expect(hc('      test: ["NONE"]\n')).toBeUndefined();
    expect(hc('      test: ["CMD", "true"]\n      disable: true\n')).toBeUndefined();
    expect(hc('      test: ["CMD", "true"]\n      interval: 1m\n      start_interval: 2s\n')![0]).toMatchObject({ intervalSeconds: 60, delaySeconds: 2 });
    const inherited = load('services:\n  w:\n    image: x\n    healthcheck:\n      interval: 5s\n');
    expect(said(inherited.unmapped)).toEqual(['services.w.healthcheck: no test: Berth does not run the image\'s HEALTHCHECK; give test']);
  });

  it('several services become several apps in file order; names that are not app ids are changed, collisions refused', () => {
    const r = load('services:\n  Web_Front:\n    image: a\n  db.main:\n    image: b\n  worker:\n    image: c\n');
    expect(r.apps.map((a) => [a.service, a.id])).toEqual([['Web_Front', '/web-front'], ['db.main', '/db-main'], ['worker', '/worker']]);
    expect(said(r.warnings).filter((w) => w.includes('becomes app'))).toHaveLength(2);
    expect(failure('services:\n  a_b:\n    image: a\n  a.b:\n    image: b\n').message).toBe('services["a.b"]: becomes app /a-b, as services.a_b does: rename one of them');
  });

  it('every key without an equivalent is listed by its path, with why; extension fields and version are said too', () => {
    const r = load(`
x-defaults: &defaults
  restart: unless-stopped
name: shop
services:
  web:
    <<: *defaults
    image: nginx
    volumes: ["./html:/usr/share/nginx/html:ro"]
    depends_on: [db]
    networks: [front]
    container_name: web1
    user: "1000"
    working_dir: /srv
    logging: { driver: syslog }
    restart: "no"
    ports: ["127.0.0.1:8080:80"]
    x-notes: nothing
    colour: blue
    deploy:
      mode: global
      endpoint_mode: dnsrr
      rollback_config: { parallelism: 2 }
      resources: { limits: { cpus: "1", memory: 64M, pids: 100 } }
      placement: { constraints: ["node.role == worker", "engine.labels.os == linux"] }
      update_config: { max_failure_ratio: 0.2 }
      restart_policy: { condition: none, max_attempts: 2 }
  db:
    image: postgres
    mem_limit: 64m
    cpus: 0.5
    secrets: [pg]
networks: { front: {} }
secrets: { pg: { file: ./pg.txt } }
`);
    expect(paths(r.unmapped)).toEqual([
      'networks', 'secrets',
      'services.web.restart', // merged from x-defaults, so first
      'services.web.volumes', 'services.web.depends_on', 'services.web.networks', 'services.web.container_name', 'services.web.user',
      'services.web.working_dir', 'services.web.logging', 'services.web.ports[0]', 'services.web.colour',
      'services.web.deploy.mode', 'services.web.deploy.endpoint_mode', 'services.web.deploy.rollback_config',
      'services.web.deploy.resources.limits.pids',
      'services.web.deploy.placement.constraints[0]', 'services.web.deploy.placement.constraints[1]',
      'services.web.deploy.update_config.max_failure_ratio',
      'services.web.deploy.restart_policy.condition', 'services.web.deploy.restart_policy.max_attempts',
      'services.db.secrets',
    ]);
    const why = Object.fromEntries(r.unmapped.map((n) => [pathText(n.at), n.message]));
    expect(why['services.web.volumes']).toMatch(/^app definitions have no volumes/);
    expect(why['services.web.colour']).toBe('not a Compose key Berth knows here (a typo?)');
    expect(why['services.web.ports[0]']).toMatch(/^host IP 127\.0\.0\.1: /);
    expect(why['services.web.deploy.mode']).toMatch(/no global mode: .*UNIQUE/);
    expect(paths(r.warnings)).toEqual(expect.arrayContaining(['x-defaults', 'name', 'services.web.x-notes']));
    // What could be mapped still was.
    expect(r.apps.map((a) => a.definition)).toEqual([
      expect.objectContaining({ id: '/web', cpus: 1, mem: 64, portDefinitions: [{ port: 80 }] }),
      expect.objectContaining({ id: '/db', cpus: 0.5, mem: 64 }),
    ]);
  });

  it('bad values: every one is reported at once, each with its path and value', () => {
    const e = failure(`
services:
  web:
    image: nginx
    ports: ["80:80:80:80", { published: 8080 }, "70000"]
    healthcheck: { test: ["CMD", "true"], interval: 30, retries: -1 }
    deploy:
      replicas: many
      resources: { limits: { cpus: "none", memory: 12 parsecs } }
      update_config: { order: sideways }
      placement: { constraints: ["node.hostname ~ a"] }
    environment: { PASSWORD: "\${DB_PASSWORD}" }
  worker:
    build: .
  broken: just a string
`);
    expect(said(e.errors).sort()).toEqual([
      'services.web.ports[0]: must be "TARGET", "PUBLISHED:TARGET" or "HOST_IP:PUBLISHED:TARGET", each port 1-65535 or a range a-b, optionally with /tcp or /udp (an IPv6 address goes in brackets: "[::1]:80:80"), got "80:80:80:80"',
      'services.web.ports[1].target: is required: the container port, 1-65535, got nothing',
      'services.web.ports[2]: must be "TARGET", "PUBLISHED:TARGET" or "HOST_IP:PUBLISHED:TARGET", each port 1-65535 or a range a-b, optionally with /tcp or /udp, got "70000"',
      'services.web.environment.PASSWORD: variable DB_PASSWORD is not set and has no default: set it in the environment or in .env (or --env-file), or write ${DB_PASSWORD:-default}',
      'services.web.healthcheck.interval: must be a duration such as 30s, 1m30s or 500ms (units ns, us, ms, s, m, h), got the number 30: add a unit (30s)',
      'services.web.healthcheck.retries: must be an integer >= 0, got -1',
      'services.web.deploy.replicas: must be an integer >= 0, got "many"',
      'services.web.deploy.resources.limits.cpus: must be a number of CPUs greater than 0 such as "0.5" or 2, got "none"',
      'services.web.deploy.resources.limits.memory: must be a size such as 512m, 1g or 1.5GiB (units b, k, m, g, t, p; binary multiples), or a number of bytes, got "12 parsecs"',
      'services.web.deploy.update_config.order: must be "stop-first" or "start-first", got "sideways"',
      'services.web.deploy.placement.constraints[0]: must be "ATTRIBUTE == value" or "ATTRIBUTE != value", got "node.hostname ~ a"',
      'services.worker.image: is required: Berth runs images; build the image (docker compose build), push or tag it, and name it in image',
      'services.broken: must be a mapping (image, command, deploy, …), got "just a string"',
    ].sort());
    expect(paths(e.unmapped)).toEqual(['services.worker.build']);
  });

  it('not a Compose file: no services, a list, YAML errors with their line', () => {
    expect(failure('version: "3"\n').message).toBe('services: is required: a mapping of service names to services, got nothing');
    expect(failure('- a\n- b\n').message).toBe('must be a Compose file (a mapping with services), got a list');
    expect(failure('services:\n  w:\n    image: x\n', { prefix: 'Bad Prefix' }).message).toBe('the prefix must be a path like "/group/app" of lowercase letters, digits and inner dashes, got "Bad Prefix"');
    const syntax = (text: string): ComposeSyntaxError => {
      try {
        parseComposeText(text);
      } catch (err) {
        if (err instanceof ComposeSyntaxError) return err;
      }
      throw new Error('parsed');
    };
    expect(syntax('services:\n  web:\n    image: a\n    image: b\n')).toMatchObject({ line: 4, message: expect.stringMatching(/^is not valid YAML: Map keys must be unique/) });
    expect(syntax('services:\n  web: [unclosed\n')).toMatchObject({ line: expect.any(Number), message: expect.stringMatching(/^is not valid YAML: /) });
    expect(syntax('   \n')).toMatchObject({ line: undefined, message: 'is empty: a Compose file has services' });
  });

  it('lineOf names the line of a key, of a list item, and of the nearest key for merged values', () => {
    const src = parseComposeText('x-base: &base\n  restart: always\nservices:\n  web:\n    <<: *base\n    image: nginx\n    ports:\n      - "80"\n      - "81"\n');
    expect(src.lineOf(['services', 'web', 'image'])).toBe(6);
    expect(src.lineOf(['services', 'web', 'ports', 1])).toBe(9);
    expect(src.lineOf(['services', 'web', 'restart'])).toBe(4);
  });
});
