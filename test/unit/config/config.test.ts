import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import {
  CONFIG_EXIT_CODE, ConfigError, configFields, configMeta, duration, formatConfigTable, formatDuration, loadConfig, loadConfigWithSources,
  parseDuration, port,
} from '../../../src/common/config';

// A small daemon schema exercising every kind of field the loader knows.
const schema = z.strictObject({
  grpc: z.strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('listen address'),
    port: port().default(5050).describe('listen port'),
  }).prefault({}),
  pingMs: duration({ min: 1 }).default(15_000).describe('ping interval'),
  debug: z.boolean().default(false),
  mode: z.enum(['fast', 'safe']).default('safe'),
  replicas: z.literal([1, 3]).default(1),
  servers: z.array(z.url()).default([]),
  name: z.string().optional(),
});

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-config-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('INVALID_CONFIG');
    return (err as ConfigError).problems.map((p) => p.message);
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig precedence: flags > env > file > defaults', () => {
  test('defaults alone', () => {
    const c = loadConfig({ schema, env: {} });
    expect(c).toEqual({ grpc: { host: '127.0.0.1', port: 5050 }, pingMs: 15_000, debug: false, mode: 'safe', replicas: 1, servers: [] });
  });

  test('each layer overrides the one below, field by field', () => {
    const f = file('layers.yaml', 'grpc:\n  host: 0.0.0.0\n  port: 6000\npingMs: 1m\nmode: fast\n');
    const { config, sources } = loadConfigWithSources({
      schema, file: f,
      env: { BERTH_GRPC_PORT: '7000', BERTH_PING_MS: '2s' },
      flags: { grpcPort: '8000', debug: undefined },
    });
    expect(config.grpc).toEqual({ host: '0.0.0.0', port: 8000 });
    expect(config.pingMs).toBe(2000);
    expect(config.mode).toBe('fast');
    expect(sources.get('grpc.port')).toEqual({ kind: 'flag', name: '--grpc-port' });
    expect(sources.get('pingMs')).toEqual({ kind: 'env', name: 'BERTH_PING_MS' });
    expect(sources.get('grpc.host')).toEqual({ kind: 'file', name: f });
    expect(sources.get('debug')).toEqual({ kind: 'default' });
  });

  test('flags may be nested objects as well as commander keys', () => {
    expect(loadConfig({ schema, env: {}, flags: { grpc: { port: 1234 } } }).grpc.port).toBe(1234);
  });

  test('the file is named by --config, else BERTH_CONFIG, else the option; JSON works too', () => {
    const a = file('a.json', '{"mode": "fast"}');
    const b = file('b.yaml', 'replicas: 3');
    expect(loadConfig({ schema, env: { BERTH_CONFIG: b }, flags: { config: a } }).mode).toBe('fast');
    expect(loadConfig({ schema, env: { BERTH_CONFIG: b }, file: a }).replicas).toBe(3);
    expect(loadConfig({ schema, env: {}, file: a }).mode).toBe('fast');
  });

  test('an empty env value counts as not set', () => {
    expect(loadConfig({ schema, env: { BERTH_GRPC_PORT: '' } }).grpc.port).toBe(5050);
  });

  test('null in the file means not set', () => {
    expect(loadConfig({ schema, env: {}, file: file('null.yaml', 'name:\npingMs: ~\n') }).pingMs).toBe(15_000);
  });

  test('the result is frozen', () => {
    const c = loadConfig({ schema, env: {} });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.grpc)).toBe(true);
  });
});

describe('coercion of env and flag text', () => {
  test('numbers, booleans, choices, literals and lists', () => {
    const c = loadConfig({
      schema,
      env: { BERTH_DEBUG: 'yes', BERTH_MODE: 'fast', BERTH_REPLICAS: '3', BERTH_SERVERS: 'nats://127.0.0.1:1, nats://127.0.0.1:2,' },
    });
    expect(c).toMatchObject({ debug: true, mode: 'fast', replicas: 3, servers: ['nats://127.0.0.1:1', 'nats://127.0.0.1:2'] });
    for (const [text, value] of [['true', true], ['1', true], ['on', true], ['FALSE', false], ['0', false], ['no', false], ['off', false]] as const) {
      expect(loadConfig({ schema, env: { BERTH_DEBUG: text } }).debug).toBe(value);
    }
  });

  test('durations in env, flags and file', () => {
    expect(loadConfig({ schema, env: { BERTH_PING_MS: '500ms' } }).pingMs).toBe(500);
    expect(loadConfig({ schema, env: {}, flags: { pingMs: '10m' } }).pingMs).toBe(600_000);
    expect(loadConfig({ schema, env: {}, file: file('d.yaml', 'pingMs: 1h30m') }).pingMs).toBe(5_400_000);
    expect(loadConfig({ schema, env: {}, file: file('n.yaml', 'pingMs: 250') }).pingMs).toBe(250);
  });
});

describe('parseDuration / formatDuration', () => {
  test.each([
    ['15s', 15_000], ['500ms', 500], ['10m', 600_000], ['2h', 7_200_000], ['1d', 86_400_000],
    ['1m30s', 90_000], ['1.5s', 1500], ['250', 250], [' 3s ', 3000], ['0', 0],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', 'abc', '10q', '-5s', '5 s', 's', '1m 30s', '1e3'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  test('formats in the largest whole unit', () => {
    expect([600_000, 15_000, 1500, 0, 86_400_000].map(formatDuration)).toEqual(['10m', '15s', '1500ms', '0ms', '1d']);
  });
});

describe('every problem is reported, with field, value and source', () => {
  test('the example of the brief', () => {
    expect(problemsOf(() => loadConfig({ schema, env: { BERTH_GRPC_PORT: 'abc' } }))).toEqual([
      'grpc.port: must be an integer between 0 and 65535, got "abc" (from env BERTH_GRPC_PORT)',
    ]);
  });

  test('all problems of all layers at once', () => {
    const f = file('bad.yaml', 'mode: slow\nreplicas: 2\ngrpc:\n  host: ""\n');
    const problems = problemsOf(() => loadConfig({
      schema, file: f,
      env: { BERTH_PING_MS: '15x', BERTH_DEBUG: 'maybe' },
      flags: { grpcPort: '70000', servers: 'nats://127.0.0.1:1,not a url' },
    }));
    expect(problems).toEqual(expect.arrayContaining([
      `mode: must be one of "fast", "safe", got "slow" (from file ${f})`,
      `replicas: must be one of 1, 3, got 2 (from file ${f})`,
      `grpc.host: must be a non-empty string, got "" (from file ${f})`,
      'pingMs: must be a duration of at least 1ms such as 500ms, 15s or 10m (a bare number is milliseconds), got "15x" (from env BERTH_PING_MS)',
      'debug: must be true or false (also accepted, in any case: 1/0, yes/no, on/off), got "maybe" (from env BERTH_DEBUG)',
      'grpc.port: must be an integer between 0 and 65535, got "70000" (from flag --grpc-port)',
      'servers[1]: must be a URL, got "not a url" (from flag --servers)',
    ]));
    expect(problems).toHaveLength(7);
  });

  test('unknown keys in the file, with a hint for typos', () => {
    const f = file('typo.yaml', 'grpc:\n  prot: 1\npingMS: 3s\nbogus: 1\n');
    expect(problemsOf(() => loadConfig({ schema, env: {}, file: f }))).toEqual([
      `grpc.prot: unknown key (from file ${f}); did you mean grpc.port?`,
      `pingMS: unknown key (from file ${f}); did you mean pingMs?`,
      `bogus: unknown key (from file ${f})`,
    ]);
  });

  test('a group given as a scalar', () => {
    const f = file('group.yaml', 'grpc: 5050\n');
    expect(problemsOf(() => loadConfig({ schema, env: {}, file: f }))).toEqual([`grpc: must be a mapping, got 5050 (from file ${f})`]);
  });

  test('a missing required field names every way to set it', () => {
    const required = z.strictObject({ masterUrl: z.string() });
    expect(problemsOf(() => loadConfig({ schema: required, env: {} }))).toEqual([
      'masterUrl: is required; set --master-url, BERTH_MASTER_URL or "masterUrl" in the config file',
    ]);
  });

  test('the file: missing, unparsable, not a mapping', () => {
    expect(problemsOf(() => loadConfig({ schema, env: {}, flags: { config: path.join(dir, 'nope.yaml') } }))[0])
      .toMatch(/file .*nope\.yaml \(named by flag --config\): not found/);
    expect(problemsOf(() => loadConfig({ schema, env: { BERTH_CONFIG: file('broken.yaml', 'a: [\n') } }))[0])
      .toMatch(/broken\.yaml \(named by env BERTH_CONFIG\): is not valid YAML: .*line/);
    expect(problemsOf(() => loadConfig({ schema, env: {}, file: file('broken.json', '{"a":') }))[0]).toMatch(/is not valid JSON/);
    expect(problemsOf(() => loadConfig({ schema, env: {}, file: file('list.yaml', '- a\n- b\n') }))[0]).toMatch(/must be a mapping, got \["a","b"\]/);
  });

  test('a file problem does not hide bad env values, nor invent missing fields', () => {
    const required = z.strictObject({ masterUrl: z.string(), n: z.number().default(1) });
    const problems = problemsOf(() => loadConfig({ schema: required, env: { BERTH_N: 'x' }, file: path.join(dir, 'absent.yaml') }));
    expect(problems).toHaveLength(2);
    expect(problems[1]).toBe('n: must be a number, got "x" (from env BERTH_N)');
  });

  test('secret fields are never echoed', () => {
    const secret = z.strictObject({ password: z.string().min(12).register(configMeta, { secret: true }) });
    const [problem] = problemsOf(() => loadConfig({ schema: secret, env: { BERTH_PASSWORD: 'hunter2' } }));
    expect(problem).toBe('password: must be a string of at least 12 characters, got <redacted> (from env BERTH_PASSWORD)');
    expect(problem).not.toContain('hunter2');
  });

  test('ConfigError is a BerthError whose message lists the problems; exit code is EX_CONFIG', () => {
    try {
      loadConfig({ schema, env: { BERTH_GRPC_PORT: 'abc', BERTH_MODE: 'x' } });
      throw new Error('unreachable');
    } catch (err) {
      expect((err as Error).name).toBe('ConfigError');
      expect((err as Error).message).toMatch(/^invalid configuration \(2 problems\):\n {2}- grpc\.port: .*\n {2}- mode: /);
    }
    expect(CONFIG_EXIT_CODE).toBe(78);
  });
});

describe('configFields and the help table', () => {
  test('names, env vars, flags and defaults follow the field paths', () => {
    const fields = configFields(schema);
    expect(fields.find((f) => f.path === 'grpc.port')).toMatchObject({
      flag: '--grpc-port', flagKey: 'grpcPort', env: 'BERTH_GRPC_PORT', defaultText: '5050', description: 'listen port',
      expect: 'an integer between 0 and 65535',
    });
    expect(fields.find((f) => f.path === 'pingMs')).toMatchObject({ env: 'BERTH_PING_MS', defaultText: '15000 (15s)' });
    expect(fields.find((f) => f.path === 'name')).toMatchObject({ defaultText: '(unset)' });
    expect(configFields(schema, 'X_').map((f) => f.env)).toContain('X_GRPC_HOST');
  });

  test('the table has a header and one row per field', () => {
    const table = formatConfigTable(configFields(schema)).trimEnd().split('\n');
    expect(table[0]).toMatch(/^NAME +ENV +DEFAULT +DESCRIPTION$/);
    expect(table).toHaveLength(1 + configFields(schema).length);
    expect(table[2]).toMatch(/^grpc\.port +BERTH_GRPC_PORT +5050 +listen port$/);
  });
});
