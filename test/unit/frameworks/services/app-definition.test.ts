import { ValidationError } from '../../../../src/common/wire/problems';
import {
  appIdOfTask, appKey, needsRestart, normalizeAppId, parseAppDefinition, parseAppDefinitionText,
} from '../../../../src/frameworks/services/app-definition';
import { appDefinitionFromWire, appDefinitionJson, appDefinitionToWire } from '../../../../src/frameworks/services/wire';

function problems(input: unknown, roles?: string[]): string[] {
  try {
    parseAppDefinition(input, roles === undefined ? {} : { roles });
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).problems.map((p) => `${p.field}: ${p.message}`);
  }
  throw new Error('expected a ValidationError');
}

describe('app definitions', () => {
  it('fills in Marathon defaults', () => {
    const d = parseAppDefinition({ id: 'web', cmd: 'sleep 1000' });
    expect(d).toMatchObject({
      id: '/web', cmd: 'sleep 1000', instances: 1, cpus: 1, mem: 128, disk: 0, gpus: 0, env: {}, portDefinitions: [], requirePorts: false,
      constraints: [], healthChecks: [], readinessChecks: [], backoffSeconds: 1, backoffFactor: 1.15, maxLaunchDelaySeconds: 300,
      killSelection: 'YOUNGEST_FIRST', unreachableStrategy: { disabled: false, inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
      upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 }, progressDeadlineSeconds: 600,
    });
  });

  it('names the field and the bad value of every problem', () => {
    expect(problems({ id: '/web', cmd: 'x', instances: -1 })).toEqual(['instances: must be an integer >= 0, got -1']);
    expect(problems({ id: '/Web_1', cmd: 'x', instances: 1.5, cpus: 0, mem: 'lots', instance: 3 }).sort()).toEqual([
      'instance: is not a known field',
      'instances: must be an integer >= 0, got 1.5',
      'cpus: must be a number >= 0.001, got 0',
      'mem: must be a number >= 0, got "lots"',
      'id: must be a path like "/group/app" of lowercase letters, digits and inner dashes, got "/Web_1"',
    ].sort());
    expect(problems({ cmd: 'x' })).toEqual(['id: is required']);
    expect(problems({ id: 'a', upgradeStrategy: { minimumHealthCapacity: 1.5 }, killSelection: 'RANDOM', cmd: 'x' })).toEqual([
      'killSelection: must be one of YOUNGEST_FIRST, OLDEST_FIRST, got "RANDOM"',
      'upgradeStrategy.minimumHealthCapacity: must be a number from 0 to 1, got 1.5',
    ]);
  });

  it('checks fields against each other even when other fields are wrong, and never on a wrong field', () => {
    expect(problems({ id: '/web', cmd: 'x', args: ['y'], instances: -1, healthChecks: [{ protocol: 'COMMAND' }], portDefinitions: 'p' })).toEqual([
      'instances: must be an integer >= 0, got -1',
      'portDefinitions: must be a list, got "p"',
      'args: must not be given together with cmd',
      'healthChecks[0].command: is required for a COMMAND health check',
    ]);
    // A wrong portDefinitions is not replaced by its default for the health check's portIndex.
    expect(problems({ id: '/web', cmd: 'x', healthChecks: [{ protocol: 'HTTP', portIndex: 0 }], portDefinitions: [{ port: -1 }] })).toEqual([
      'portDefinitions[0].port: must be an integer from 0 to 65535, got -1',
    ]);
  });

  it('checks fields against each other', () => {
    expect(problems({ id: 'a' })).toEqual(['cmd: an app needs cmd, args or container.docker.image, got none of them']);
    expect(problems({ id: 'a', cmd: 'x', args: ['y'] })).toEqual(['args: must not be given together with cmd']);
    expect(problems({ id: 'a', cmd: 'x', healthChecks: [{ protocol: 'HTTP', portIndex: 1 }], portDefinitions: [{ port: 0 }] })).toEqual([
      'healthChecks[0].portIndex: must be less than the number of portDefinitions (1), got 1',
    ]);
    expect(problems({ id: 'a', cmd: 'x', healthChecks: [{ protocol: 'COMMAND' }] })).toEqual(['healthChecks[0].command: is required for a COMMAND health check']);
    expect(problems({ id: 'a', cmd: 'x', requirePorts: true, portDefinitions: [{ port: 0 }] })).toEqual([
      'portDefinitions[0].port: must be a fixed port (1-65535) when requirePorts is true, got 0',
    ]);
    expect(problems({ id: 'a', cmd: 'x', readinessChecks: [{ portName: 'http' }], portDefinitions: [{ name: 'web' }] })).toEqual([
      'readinessChecks[0].portName: must name one of the portDefinitions, got "http"',
    ]);
    expect(problems({ id: 'a', cmd: 'x', unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 30 } })).toEqual([
      'unreachableStrategy.expungeAfterSeconds: must be >= inactiveAfterSeconds (60), got 30',
    ]);
    expect(problems({ id: 'a', cmd: 'x', role: 'ops' }, ['*', 'web'])).toEqual(['role: must be one of the framework\'s roles (*, web), got "ops"']);
    expect(problems({ id: 'a', cmd: 'x', constraints: [['hostname', 'UNIQUE'], ['rack', 'NEAR', 'x']] })).toEqual([
      'constraints[1].operator: must be one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS, got "NEAR"',
    ]);
    expect(problems({ id: 'a', cmd: 'x', env: { A: 1 } })).toEqual(['env["A"]: must be a string, got 1']);
  });

  it('upgradeStrategy: Marathon\'s fractions or Kubernetes\' counts and percentages, not both, not both zero', () => {
    expect(parseAppDefinition({ id: 'a', cmd: 'x', upgradeStrategy: { maxUnavailable: 1, maxSurge: 0 } }).upgradeStrategy).toEqual({ maxUnavailable: 1, maxSurge: 0 });
    expect(parseAppDefinition({ id: 'a', cmd: 'x', upgradeStrategy: { maxUnavailable: '25%', maxSurge: '100%' } }).upgradeStrategy).toEqual({ maxUnavailable: '25%', maxSurge: '100%' });
    expect(problems({ id: 'a', cmd: 'x', upgradeStrategy: { minimumHealthCapacity: 0.95, maxUnavailable: 1 } })).toEqual([
      'upgradeStrategy.maxUnavailable: must not be given together with upgradeStrategy.minimumHealthCapacity: use Marathon\'s fractions (minimumHealthCapacity, maximumOverCapacity) or Kubernetes\' counts (maxUnavailable, maxSurge), not both',
    ]);
    expect(problems({ id: 'a', cmd: 'x', upgradeStrategy: { maxUnavailable: 0, maxSurge: '0%' } })).toEqual([
      'upgradeStrategy.maxUnavailable: must not be 0 when maxSurge is 0 too (nothing could be replaced), got 0; allow one unavailable (maxUnavailable: 1) or one extra (maxSurge: 1)',
    ]);
    expect(problems({ id: 'a', cmd: 'x', upgradeStrategy: { maxSurge: 0 } })).toEqual([
      'upgradeStrategy.maxUnavailable: must not be 0 when maxSurge is 0 too (nothing could be replaced), got 0 (the default); allow one unavailable (maxUnavailable: 1) or one extra (maxSurge: 1)',
    ]);
    const bad = 'must be a count (an integer >= 0) or a percentage from "0%" to "100%"';
    expect(problems({ id: 'a', cmd: 'x', upgradeStrategy: { maxUnavailable: -1, maxSurge: '150%' } })).toEqual([
      `upgradeStrategy.maxUnavailable: ${bad}, got -1`,
      `upgradeStrategy.maxSurge: ${bad}, got "150%"`,
    ]);
    expect(problems({ id: 'a', cmd: 'x', upgradeStrategy: { maxUnavailable: 1.5 } })).toEqual([`upgradeStrategy.maxUnavailable: ${bad}, got 1.5`]);
    expect(problems({ id: 'a', cmd: 'x', upgradeStrategy: { maxUnavailable: '1' } })).toEqual([`upgradeStrategy.maxUnavailable: ${bad}, got "1"`]);
    // Through the wire message: "3" is a count there (a string field), "25%" a percentage.
    const wire = appDefinitionToWire(parseAppDefinition({ id: 'a', cmd: 'x', upgradeStrategy: { maxUnavailable: 3, maxSurge: '25%' } }));
    expect(wire.upgrade_strategy).toEqual({ max_unavailable: '3', max_surge: '25%' });
    expect(parseAppDefinition(appDefinitionFromWire(wire as never)).upgradeStrategy).toEqual({ maxUnavailable: 3, maxSurge: '25%' });
  });

  it('caps instances at 100000 (counts are uint32 on the wire)', () => {
    expect(parseAppDefinition({ id: 'a', cmd: 'x', instances: 100000 }).instances).toBe(100000);
    expect(problems({ id: 'a', cmd: 'x', instances: 100001 })).toEqual(['instances: must be at most 100000, the most instances an app may have, got 100001']);
    expect(problems({ id: 'a', cmd: 'x', instances: Number.MAX_SAFE_INTEGER })).toEqual([`instances: must be at most 100000, the most instances an app may have, got ${Number.MAX_SAFE_INTEGER}`]);
    expect(problems({ id: 'a', cmd: 'x', instances: 1e20 })).toEqual(['instances: must be an integer >= 0, got 100000000000000000000']);
  });

  it('reads JSON and YAML text', () => {
    const yaml = parseAppDefinitionText([
      'id: /shop/web',
      'container: { docker: { image: "nginx:1.27" } }',
      'instances: 3',
      'portDefinitions: [{ name: http }]',
      'constraints:',
      '  - [hostname, UNIQUE]',
      '  - "rack:GROUP_BY:2"',
      'unreachableStrategy: disabled',
    ].join('\n'));
    expect(yaml).toMatchObject({ id: '/shop/web', instances: 3, constraints: [['hostname', 'UNIQUE'], ['rack', 'GROUP_BY', '2']], unreachableStrategy: { disabled: true } });
    expect(parseAppDefinitionText('{"id": "x", "cmd": "true"}').id).toBe('/x');
    expect(() => parseAppDefinitionText('{"id": ')).toThrow(/^definition: is not valid JSON/);
    expect(() => parseAppDefinitionText('   ')).toThrow('definition: must be a JSON or YAML app definition, got an empty text');
    expect(() => parseAppDefinitionText('- a\n- b')).toThrow('definition: must be an object, got an array');
  });

  it('ids: normalised, mapped to keys and back from task ids', () => {
    expect(normalizeAppId('shop/web/')).toEqual({ ok: true, id: '/shop/web' });
    expect(normalizeAppId('/a.b').ok).toBe(false);
    expect(appKey('/shop/web')).toBe('shop.web');
    expect(appIdOfTask('shop.web.3f2c0d6e-1a2b-4c3d-9e8f-001122334455')).toBe('/shop/web');
  });

  it('only a change of instances keeps the tasks', () => {
    const a = parseAppDefinition({ id: 'a', cmd: 'x', instances: 2, env: { B: '1', A: '2' } });
    expect(needsRestart(a, parseAppDefinition({ id: 'a', cmd: 'x', instances: 5, env: { A: '2', B: '1' } }))).toBe(false);
    expect(needsRestart(a, parseAppDefinition({ id: 'a', cmd: 'y', instances: 2, env: { A: '2', B: '1' } }))).toBe(true);
  });

  it('the message form converts both ways without loss', () => {
    const d = parseAppDefinition({
      id: '/shop/api', args: ['/bin/api', '--port', '$PORT0'], container: { docker: { image: 'api:2', parameters: [{ key: 'label', value: 'a=b' }] } },
      instances: 4, cpus: 0.5, mem: 256, env: { MODE: 'prod' }, portDefinitions: [{ name: 'http', labels: { vip: 'x' } }, { port: 9000, protocol: 'udp' }],
      labels: { team: 'shop' }, constraints: [['hostname', 'UNIQUE'], ['rack', 'LIKE', 'r.*']],
      healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 0, gracePeriodSeconds: 10, intervalSeconds: 5, delaySeconds: 1 }],
      readinessChecks: [{ portName: 'http', path: '/ready', httpStatusCodesForReady: [200, 204] }],
      taskKillGracePeriodSeconds: 7, killSelection: 'OLDEST_FIRST', unreachableStrategy: 'disabled',
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 }, progressDeadlineSeconds: 120,
    });
    const again = parseAppDefinition(appDefinitionFromWire(appDefinitionToWire(d)));
    expect(again).toEqual(d);
    expect(parseAppDefinition(JSON.parse(appDefinitionJson(d)))).toEqual(d);
  });
});
