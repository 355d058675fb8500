import * as os from 'node:os';
import { ConfigError, loadConfig } from '../../../src/common/config';
import { loadAuth } from '../../../src/common/auth';
import { describeConfig, masterConfigSchema, parseMinAllocatable } from '../../../src/master/config';

const load = (env: Record<string, string>, flags: Record<string, unknown> = {}) => loadConfig({ schema: masterConfigSchema, env, flags });
const authOff = { BERTH_AUTH_ENABLED: 'false' };

function problems(env: Record<string, string>, flags: Record<string, unknown> = {}): string[] {
  try {
    load(env, flags);
  } catch (err) {
    return (err as ConfigError).problems.map((p) => p.message);
  }
  throw new Error('expected a ConfigError');
}

describe('master config', () => {
  test('defaults, once authentication is explicitly off', () => {
    const c = load(authOff);
    expect(c).toMatchObject({
      grpc: { host: '127.0.0.1', port: 5050 },
      http: { host: '127.0.0.1', port: 5051 },
      workDir: './berth-master',
      registry: { kind: 'file' },
      nats: { servers: [], registryBucket: 'berth-registry', electionBucket: 'berth-election', replicas: 1, leaseMs: 10_000 },
      allocationIntervalMs: 1000, heartbeatIntervalMs: 15_000, agentPingTimeoutMs: 15_000, maxAgentPingTimeouts: 5,
      agentReregisterTimeoutMs: 600_000, maxMessageBytes: 4 * 1024 * 1024, maxCompletedTasksPerFramework: 1000,
      maxCompletedFrameworks: 50, frameworkFailoverTimeoutDefaultMs: 0, minAllocatableResources: 'cpus:0.01|mem:32',
      fairnessExcludedResourceNames: [], roleSorter: 'drf', frameworkSorter: 'drf', auth: { enabled: false }, logLevel: 'info',
      heapTrim: true,
    });
    expect(c.offerTimeoutMs).toBeUndefined(); // offers never time out unless configured, as Mesos
    expect(c.region).toBeUndefined();
    expect(c.masterId).toBe(`${os.hostname()}:${process.pid}`);
  });

  test('heapTrim turns off from the environment and from a flag; anything but a boolean is refused, naming it', () => {
    expect(load({ ...authOff, BERTH_HEAP_TRIM: 'false' }).heapTrim).toBe(false);
    expect(load(authOff, { heapTrim: false }).heapTrim).toBe(false);
    expect(problems({ ...authOff, BERTH_HEAP_TRIM: 'sometimes' }).join('\n')).toMatch(/heapTrim|BERTH_HEAP_TRIM/);
  });

  describe('authentication must be stated', () => {
    test('neither tokens file nor auth.enabled: an error telling both ways out', () => {
      const [p, ...rest] = problems({});
      expect(rest).toEqual([]);
      expect(p).toMatch(/^auth: /);
      expect(p).toContain('auth.tokensFile');
      expect(p).toContain('auth.enabled: false');
    });

    test('auth.enabled true without a tokens file: accepted by the schema (an authenticator module may decide), refused as auth loads without one', () => {
      const { auth } = load({ BERTH_AUTH_ENABLED: 'true' });
      expect(auth).toEqual({ enabled: true });
      expect(() => loadAuth(auth)).toThrow(ConfigError);
      expect(() => loadAuth(auth)).toThrow(/auth\.tokensFile: is required while auth\.enabled is true \(or load an authenticator module\)/);
    });

    test('a tokens file alone turns authentication on', () => {
      expect(load({ BERTH_AUTH_TOKENS_FILE: '/etc/berth/tokens.yaml' }).auth).toEqual({ enabled: true, tokensFile: '/etc/berth/tokens.yaml' });
    });

    test('the auth problem is reported together with the others', () => {
      const ps = problems({ BERTH_GRPC_PORT: 'abc' });
      expect(ps).toHaveLength(2);
      expect(ps[0]).toBe('grpc.port: must be an integer between 0 and 65535, got "abc" (from env BERTH_GRPC_PORT)');
      expect(ps[1]).toMatch(/^auth: /);
    });
  });

  test('durations and lists from env', () => {
    const c = load({ ...authOff, BERTH_OFFER_TIMEOUT_MS: '30s', BERTH_AGENT_REREGISTER_TIMEOUT_MS: '10m', BERTH_FAIRNESS_EXCLUDED_RESOURCE_NAMES: 'gpus,fpgas' });
    expect(c.offerTimeoutMs).toBe(30_000);
    expect(c.agentReregisterTimeoutMs).toBe(600_000);
    expect(c.fairnessExcludedResourceNames).toEqual(['gpus', 'fpgas']);
  });

  test('the nats registry needs servers, and they must be NATS URLs', () => {
    expect(problems({ ...authOff, BERTH_REGISTRY_KIND: 'nats' })).toEqual([
      'nats.servers: must list at least one NATS URL when registry.kind is "nats" (--nats-servers, BERTH_NATS_SERVERS)',
    ]);
    expect(problems({ ...authOff, BERTH_REGISTRY_KIND: 'nats', BERTH_NATS_SERVERS: 'http://127.0.0.1:4222' })).toEqual([
      'nats.servers[0]: must be a NATS URL such as nats://127.0.0.1:4222, got "http://127.0.0.1:4222" (from env BERTH_NATS_SERVERS)',
    ]);
    const c = load({ ...authOff, BERTH_REGISTRY_KIND: 'nats', BERTH_NATS_SERVERS: 'nats://127.0.0.1:4222,nats://127.0.0.1:4223', BERTH_NATS_REPLICAS: '3' });
    expect(c.nats.servers).toHaveLength(2);
    expect(c.nats.replicas).toBe(3);
  });

  test('field rules', () => {
    expect(problems({ ...authOff, BERTH_NATS_REPLICAS: '2', BERTH_ZONE: 'a', BERTH_ROLE_SORTER: 'fifo', BERTH_MAX_AGENT_PING_TIMEOUTS: '0', BERTH_LOG_LEVEL: 'trace' })).toEqual([
      'nats.replicas: must be one of 1, 3, got "2" (from env BERTH_NATS_REPLICAS)',
      'maxAgentPingTimeouts: must be an integer of at least 1, got "0" (from env BERTH_MAX_AGENT_PING_TIMEOUTS)',
      'roleSorter: must be one of "drf", "random", got "fifo" (from env BERTH_ROLE_SORTER)',
      'logLevel: must be one of "error", "warn", "info", "debug", got "trace" (from env BERTH_LOG_LEVEL)',
      'zone: needs region: a fault domain is a region and a zone, got "a" (from env BERTH_ZONE)',
    ]);
  });

  test('minAllocatableResources is checked and parsed into allocator quantities', () => {
    expect(problems({ ...authOff, BERTH_MIN_ALLOCATABLE_RESOURCES: 'cpus:lots' })[0])
      .toMatch(/^minAllocatableResources: must be alternatives like "cpus:0\.01\|mem:32" \(.*\), got "cpus:lots" \(from env BERTH_MIN_ALLOCATABLE_RESOURCES\)$/);
    expect(parseMinAllocatable('cpus:0.01|mem:32')).toEqual([new Map([['cpus', 10]]), new Map([['mem', 32_000]])]);
    expect(parseMinAllocatable('cpus:1;mem:64')).toEqual([new Map([['cpus', 1000], ['mem', 64_000]])]);
  });

  test('describeConfig lists every field with its env var and default', () => {
    const help = describeConfig();
    expect(help).toMatch(/^grpc\.port +BERTH_GRPC_PORT +5050 +gRPC listen port$/m);
    expect(help).toMatch(/^agentReregisterTimeoutMs +BERTH_AGENT_REREGISTER_TIMEOUT_MS +600000 \(10m\) /m);
    expect(help).toMatch(/^auth\.enabled +BERTH_AUTH_ENABLED +\(must be stated\) /m);
    expect(help).toMatch(/^masterId +BERTH_MASTER_ID +<hostname>:<pid> /m);
    expect(help).toMatch(/^offerTimeoutMs +BERTH_OFFER_TIMEOUT_MS +\(unset\) /m);
  });

  test('priority classes and preemption: a mapping in the file, name:value text in env and flags, checked', () => {
    const c = load({ ...authOff, BERTH_PRIORITY_CLASSES: 'backfill:-10, prod:1000', BERTH_PREEMPTION_ROLES: 'prod,ml', BERTH_PREEMPTION_KILL_GRACE_MS: '3s' });
    expect(c.priorityClasses).toEqual({ backfill: -10, prod: 1000 });
    expect(c.preemption).toEqual({ roles: ['prod', 'ml'], killGraceMs: 3000 });
    expect(load(authOff)).toMatchObject({ priorityClasses: {}, preemption: { roles: [], killGraceMs: 5000 } });
    expect(problems({ ...authOff, BERTH_PRIORITY_CLASSES: 'prod:high' })[0]).toMatch(/^priorityClasses: must be class names .*, got "prod:high" \(from env BERTH_PRIORITY_CLASSES\)$/);
    expect(problems({ ...authOff, BERTH_PRIORITY_CLASSES: 'bad name:1' })[0]).toMatch(/^priorityClasses/);
  });
});
