/** `berth app import` as a user meets it without a cluster: printed definitions, stderr notes with lines, exit codes. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { main } from '../../../src/cli/main';
import { parseAppDefinition, parseAppDefinitionText } from '../../../src/frameworks/services/app-definition';

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'berth', 'app', 'import', ...args], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

describe('berth app import', () => {
  let dir: string;
  const file = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-import-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const stack = [
    'version: "3.8"', // 1
    'services:', // 2
    '  web:', // 3
    '    image: nginx:${TAG:-1.27}', // 4
    '    ports: ["8080:80"]', // 5
    '    volumes: [data:/data]', // 6
    '    deploy:', // 7
    '      replicas: 2', // 8
    '      resources: { limits: { cpus: "0.5", memory: 64M } }', // 9
    '  cache:', // 10
    '    image: redis:7', // 11
    '    command: redis-server --save ""', // 12
    '    mem_limit: 32m', // 13
    '    cpus: 0.25', // 14
    '',
  ].join('\n');

  it('prints one YAML document per service, each one berth app deploy reads; notes and unmapped keys on stderr with their lines', async () => {
    const r = await run(file('stack.yml', stack), '--prefix', '/shop');
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    expect(docs).toEqual([
      { id: '/shop/web', container: { type: 'DOCKER', docker: { image: 'nginx:1.27' } }, instances: 2, cpus: 0.5, mem: 64, portDefinitions: [{ port: 80 }], requirePorts: true },
      { id: '/shop/cache', args: ['redis-server', '--save', ''], container: { type: 'DOCKER', docker: { image: 'redis:7' } }, cpus: 0.25, mem: 32 },
    ]);
    for (const text of r.stdout.split(/^---$/m)) expect(parseAppDefinitionText(text).id).toMatch(/^\/shop\//);
    const f = path.join(dir, 'stack.yml');
    expect(r.stderr.split('\n').filter((l) => l !== '')).toEqual([
      `${f}:1: version: note: obsolete (as in Compose): not read`,
      `${f}:5: services.web.ports[0]: note: published 8080 is not used: tasks use host networking, so the container listens on its target port 80 on the agent's address; Berth reserves that port`,
      `${f}:6: services.web.volumes: not imported: app definitions have no volumes: a task gets a sandbox directory ($BERTH_SANDBOX), kept only while it runs`,
      '2 services → /shop/web, /shop/cache; 1 key not imported (listed above)',
    ]);
  });

  it('--output json prints a list; --out-dir writes one file per app; --strict refuses unmapped keys', async () => {
    const f = file('stack.yml', stack);
    const json = await run(f, '--output', 'json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).map((d: unknown) => parseAppDefinition(d).id)).toEqual(['/web', '/cache']);

    const out = path.join(dir, 'apps');
    const written = await run(f, '--out-dir', out, '--output', 'json');
    expect(written).toMatchObject({ code: 0, stdout: `${path.join(out, 'web.json')}\n${path.join(out, 'cache.json')}\n` });
    expect(parseAppDefinitionText(fs.readFileSync(path.join(out, 'cache.json'), 'utf8'))).toMatchObject({ id: '/cache', mem: 32 });

    const strict = await run(f, '--strict');
    expect(strict.code).toBe(2);
    expect(strict.stdout).toBe('');
    expect(strict.stderr).toMatch(/^berth app import: --strict: 1 key cannot be mapped \(listed above\): change the file, or import without --strict$/m);
  });

  it('variables: the environment over .env beside the file over nothing; an unset one is exit 2 naming it, its key and line', async () => {
    const f = file('compose.yaml', 'services:\n  api:\n    image: api:${TAG}\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n');
    const unset = await run(f);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain(`berth app import: ${f}:3: services.api.image: variable TAG is not set and has no default: set it in the environment or in .env (or --env-file), or write \${TAG:-default}\n`);
    expect(unset.stderr).toContain(`berth app import: ${f}:5: services.api.environment.DB_PASSWORD: variable DB_PASSWORD is not set`);

    file('.env', 'TAG=from-dotenv\nDB_PASSWORD=hunter2\n');
    const dotenv = await run(f, '--output', 'json');
    expect(JSON.parse(dotenv.stdout)[0]).toMatchObject({ container: { docker: { image: 'api:from-dotenv' } }, env: { DB_PASSWORD: 'hunter2' } });

    const other = file('prod.env', 'TAG=prod\nDB_PASSWORD=x\n');
    expect(JSON.parse((await run(f, '--output', 'json', '--env-file', other)).stdout)[0].container.docker.image).toBe('api:prod');

    process.env.TAG = 'from-shell';
    try {
      expect(JSON.parse((await run(f, '--output', 'json')).stdout)[0].container.docker.image).toBe('api:from-shell');
    } finally {
      delete process.env.TAG;
    }
    const badEnv = file('bad.env', 'TAG=1\nwhat is this\n');
    expect(await run(f, '--env-file', badEnv)).toMatchObject({ code: 2, stderr: `berth app import: ${badEnv}:2: must be NAME=value, got "what is this"\n` });
  });

  it('bad input exits 2 naming the file, the line, the key path and the value', async () => {
    const f = file('bad.yml', 'services:\n  web:\n    image: nginx\n    deploy:\n      replicas: -3\n');
    expect(await run(f)).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining(`berth app import: ${f}:5: services.web.deploy.replicas: must be an integer >= 0, got -3\n`) });
    const yaml = file('broken.yml', 'services:\n  web:\n    image: a\n    image: b\n');
    expect(await run(yaml)).toMatchObject({ code: 2, stderr: expect.stringMatching(new RegExp(`^berth app import: ${yaml.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4: is not valid YAML: Map keys must be unique`)) });
    expect(await run(path.join(dir, 'missing.yml'))).toMatchObject({ code: 2, stderr: expect.stringContaining('cannot read') });
    expect(await run(f, '--output', 'toml')).toMatchObject({ code: 2, stderr: 'berth: --output must be yaml or json, got "toml"\n' });
    expect(await run(f, '--prefix', 'Not/An/Id')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^berth: --prefix must be a path like "\/group\/app"/) });
    expect(await run(f, '--deploy', '--out-dir', dir)).toMatchObject({ code: 2, stderr: 'berth: --out-dir and --deploy do not go together: write the files, or deploy\n' });
    expect(await run(f, '--deploy', '--timeout', 'soon')).toMatchObject({ code: 2, stderr: expect.stringContaining('--timeout must be seconds (90) or a duration') });
  });

  it('--help names the command and its options', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: berth app import \[options\] <file>/);
    for (const o of ['--prefix', '--output', '--out-dir', '--env-file', '--strict', '--deploy', '--timeout', '--frameworks']) expect(r.stdout).toContain(o);
  });
});
