import { ValidationError } from '../../../src/master/validation/errors';
import { frameworkUpdateProblems, suppressedRolesProblems, validateFrameworkInfo } from '../../../src/master/validation/framework-info';
import type { FrameworkInfo } from '../../../src/generated/berth/v1/FrameworkInfo';
import { decodeFrameworkInfo } from '../wire/codec';

const base: FrameworkInfo = { name: 'marathon', user: 'svc', roles: ['eng'], principal: 'ops', failover_timeout: 3600, checkpoint: true };
const info = (fields: Partial<FrameworkInfo> = {}) => decodeFrameworkInfo({ ...base, ...fields });

function problemsOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('validateFrameworkInfo', () => {
  it('builds the master view and the allocator description', () => {
    const v = validateFrameworkInfo(
      info({
        id: { value: 'fw-1' },
        roles: ['eng', '*', 'eng/backend'],
        hostname: 'sched-1',
        webui_url: 'https://marathon.example/',
        capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'GPU_RESOURCES' }, { type: 'REGION_AWARE' }, { type: 'TYPE_UNSPECIFIED' }],
        labels: { labels: [{ key: 'team', value: 'web' }] },
        offer_filters: { eng: { min_allocatable_resources: { alternatives: [{ quantities: [{ name: 'cpus', value: 0.5 }, { name: 'mem', value: 256 }] }, { quantities: [] }] } } },
        offer_constraints: {
          eng: { groups: [{ constraints: [{ attribute_name: 'rack', op: 'TEXT_MATCHES', value: 'r[0-9]+' }, { pseudo_attribute: 'ZONE', op: 'EXISTS' }] }] },
          '*': { groups: [] },
        },
        demand: {
          eng: {
            shapes: [
              { name: 'web', resources: [{ name: 'cpus', value: 1 }, { name: 'ports', value: 2 }], count: 3, constraints: { groups: [{ constraints: [{ pseudo_attribute: 'HOSTNAME', op: 'TEXT_NOT_EQUALS', value: 'h1' }] }] } },
              { name: 'idle', resources: [{ name: 'cpus', value: 1 }], count: 0 },
            ],
          },
          'eng/backend': { shapes: [] },
        },
      }),
    );
    expect(v).toMatchObject({ id: 'fw-1', name: 'marathon', user: 'svc', principal: 'ops', hostname: 'sched-1', webuiUrl: 'https://marathon.example/', failoverTimeoutMs: 3_600_000, checkpoint: true });
    expect(v.roles).toEqual(['eng', '*', 'eng/backend']);
    expect([...v.capabilities].sort()).toEqual(['GPU_RESOURCES', 'PARTITION_AWARE', 'REGION_AWARE']);
    expect(v.labels).toEqual([{ key: 'team', value: 'web' }]);
    const d = v.description;
    expect(d.capabilities).toEqual({ gpuResources: true, regionAware: true, revocableResources: false });
    expect(d.minAllocatableResources).toEqual({ eng: [new Map([['cpus', 500], ['mem', 256_000]]), new Map()] });
    expect(d.offerConstraints).toEqual({
      eng: {
        groups: [
          {
            predicates: [
              { selector: { attribute: 'rack' }, op: 'TEXT_MATCHES', regex: 'r[0-9]+' },
              { selector: { pseudo: 'ZONE' }, op: 'EXISTS' },
            ],
          },
        ],
      },
    });
    expect(d.demand).toEqual({
      eng: [
        {
          quantities: new Map([['cpus', 1000]]),
          ports: 2,
          count: 3,
          constraints: { groups: [{ predicates: [{ selector: { pseudo: 'HOSTNAME' }, op: 'TEXT_NOT_EQUALS', value: 'h1' }] }] },
        },
      ],
      'eng/backend': [],
    });
  });

  it('applies the defaults of a minimal info', () => {
    const v = validateFrameworkInfo(decodeFrameworkInfo({ name: 'n', roles: ['*'] }));
    expect(v).toMatchObject({ name: 'n', user: '', failoverTimeoutMs: 0, checkpoint: false, labels: [] });
    expect(v.id).toBeUndefined();
    expect(v.principal).toBeUndefined();
    expect(v.description.demand).toEqual({});
  });

  it.each<[string, Partial<FrameworkInfo>, string, string]>([
    ['empty name', { name: '' }, 'framework_info.name', 'must not be empty'],
    ['whitespace name', { name: '  ' }, 'framework_info.name', 'must not be whitespace only, got "  "'],
    ['empty id', { id: { value: '' } }, 'framework_info.id.value', 'must not be empty (leave framework_info.id unset'],
    ['user with a space', { user: 'a b' }, 'framework_info.user', 'must not contain whitespace, got "a b"'],
    ['principal with a control character', { principal: 'a\nb' }, 'framework_info.principal', 'must not contain control characters, got "a\\nb"'],
    ['relative web UI URL', { webui_url: 'marathon/' }, 'framework_info.webui_url', 'must be an absolute http(s) URL, got "marathon/"'],
    ['NaN failover timeout', { failover_timeout: NaN }, 'framework_info.failover_timeout', 'must be a non-negative number of seconds, got NaN'],
    ['negative failover timeout', { failover_timeout: -1 }, 'framework_info.failover_timeout', 'must be a non-negative number of seconds, got -1'],
    ['infinite failover timeout', { failover_timeout: Infinity }, 'framework_info.failover_timeout', 'must be a non-negative number of seconds, got Infinity'],
    ['no roles', { roles: [] }, 'framework_info.roles', 'must name at least one role'],
    ['invalid role', { roles: ['eng', 'a b'] }, 'framework_info.roles[1]', 'invalid role "a b": role must not contain " "'],
    ['duplicate role', { roles: ['eng', 'ads', 'eng'] }, 'framework_info.roles[2]', 'duplicate role "eng" (also framework_info.roles[0])'],
    ['repeated label', { labels: { labels: [{ key: 'k' }, { key: 'k' }] } }, 'framework_info.labels.labels[1]', 'repeats the label "k"'],
    ['filter for a foreign role', { offer_filters: { ads: {} } }, 'framework_info.offer_filters["ads"]', 'role "ads" is not one of framework_info.roles'],
    ['negative minimum', { offer_filters: { eng: { min_allocatable_resources: { alternatives: [{ quantities: [{ name: 'mem', value: -1 }] }] } } } }, 'framework_info.offer_filters["eng"].min_allocatable_resources.alternatives[0].quantities[0].value', 'must be non-negative, got -1'],
    ['ports minimum', { offer_filters: { eng: { min_allocatable_resources: { alternatives: [{ quantities: [{ name: 'ports', value: 1 }] }] } } } }, 'framework_info.offer_filters["eng"].min_allocatable_resources.alternatives[0].quantities[0].name', 'minimum offer sizes count scalar resources only'],
    ['bad regex', { offer_constraints: { eng: { groups: [{ constraints: [{ attribute_name: 'rack', op: 'TEXT_MATCHES', value: '(' }] }] } } }, 'framework_info.offer_constraints["eng"].groups[0].constraints[0].value', 'invalid regular expression "("'],
    ['backreference', { offer_constraints: { eng: { groups: [{ constraints: [{ attribute_name: 'rack', op: 'TEXT_MATCHES', value: '(a)\\1' }] }] } } }, 'framework_info.offer_constraints["eng"].groups[0].constraints[0].value', 'no backreferences or lookaround'],
    ['missing selector', { offer_constraints: { eng: { groups: [{ constraints: [{ op: 'EXISTS' }] }] } } }, 'framework_info.offer_constraints["eng"].groups[0].constraints[0]', 'needs a selector'],
    ['unset pseudo attribute', { offer_constraints: { eng: { groups: [{ constraints: [{ pseudo_attribute: 'PSEUDO_ATTRIBUTE_UNSPECIFIED', op: 'EXISTS' }] }] } } }, 'framework_info.offer_constraints["eng"].groups[0].constraints[0].pseudo_attribute', 'must be one of HOSTNAME, REGION, ZONE, got "PSEUDO_ATTRIBUTE_UNSPECIFIED"'],
    ['unset operator', { offer_constraints: { eng: { groups: [{ constraints: [{ attribute_name: 'rack' }] }] } } }, 'framework_info.offer_constraints["eng"].groups[0].constraints[0].op', 'got "OP_UNSPECIFIED"'],
    ['negative demand', { demand: { eng: { shapes: [{ resources: [{ name: 'cpus', value: -2 }], count: 1 }] } } }, 'framework_info.demand["eng"].shapes[0].resources[0].value', 'must be non-negative, got -2'],
    ['fractional ports demand', { demand: { eng: { shapes: [{ resources: [{ name: 'ports', value: 1.5 }], count: 1 }] } } }, 'framework_info.demand["eng"].shapes[0].resources[0].value', 'ports is a count of ports and must be whole, got 1.5'],
    ['bad demand constraint', { demand: { eng: { shapes: [{ count: 1, constraints: { groups: [{ constraints: [{ attribute_name: 'r', op: 'TEXT_NOT_MATCHES', value: '[' }] }] } }] } } }, 'framework_info.demand["eng"].shapes[0].constraints.groups[0].constraints[0].value', 'invalid regular expression "["'],
  ])('rejects a %s naming the field and the value', (_kind, fields, field, message) => {
    const err = problemsOf(() => validateFrameworkInfo(info(fields)));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.problems).toEqual([{ field, message: expect.stringContaining(message) }]);
    expect(err.message).toContain(`${field}: `);
  });

  it('reports every problem at once', () => {
    const err = problemsOf(() => validateFrameworkInfo(info({ name: '', roles: ['a b'], failover_timeout: NaN }), 'subscribe.framework_info'));
    expect(err.problems.map((p) => p.field)).toEqual(['subscribe.framework_info.name', 'subscribe.framework_info.failover_timeout', 'subscribe.framework_info.roles[0]']);
    expect(err.message).toContain('subscribe.framework_info.roles[0]: invalid role "a b"');
    expect(err.message).toContain('subscribe.framework_info.failover_timeout: must be a non-negative number of seconds, got NaN');
  });
});

describe('frameworkUpdateProblems', () => {
  const old = validateFrameworkInfo(info({ id: { value: 'fw-1' } }));

  it('allows changing roles, name, capabilities and the rest', () => {
    const next = validateFrameworkInfo(info({ id: { value: 'fw-1' }, name: 'other', roles: ['ads'], failover_timeout: 1 }));
    expect(frameworkUpdateProblems(old, next)).toEqual([]);
  });

  it('names each field that may not change with both values', () => {
    const next = validateFrameworkInfo(info({ id: { value: 'fw-2' }, principal: '', user: 'root', checkpoint: false }));
    expect(frameworkUpdateProblems(old, next)).toEqual([
      { field: 'framework_info.id.value', message: 'cannot change after the first SUBSCRIBE: was "fw-1", got "fw-2"' },
      { field: 'framework_info.principal', message: 'cannot change after the first SUBSCRIBE: was "ops", got ""' },
      { field: 'framework_info.user', message: 'cannot change after the first SUBSCRIBE: was "svc", got "root"' },
      { field: 'framework_info.checkpoint', message: 'cannot change after the first SUBSCRIBE: was true, got false' },
    ]);
  });
});

describe('suppressedRolesProblems', () => {
  it('rejects roles the framework is not subscribed to', () => {
    const v = validateFrameworkInfo(info({ roles: ['eng', 'ads'] }));
    expect(suppressedRolesProblems(['ads', 'web'], v)).toEqual([{ field: 'suppressed_roles[1]', message: 'role "web" is not one of the framework\'s roles' }]);
  });
});
