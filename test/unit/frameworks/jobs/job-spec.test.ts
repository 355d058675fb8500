/**
 * Job definitions: defaults, and validation errors that name the field and the value — bad cron,
 * unknown time zone, bad constraints, unknown fields — plus dependency checks (unknown parents,
 * cycles) and JSON/YAML parsing.
 */
import { isValidationError, type ValidationError } from '../../../../src/common/wire/problems';
import { checkDependencies, parseJobSpec, validateJobSpec, type JobSpec } from '../../../../src/frameworks/jobs/job-spec';

const NOW = Date.parse('2026-01-05T00:00:00Z');

function problems(input: unknown): string[] {
  try {
    validateJobSpec(input, NOW);
  } catch (e) {
    if (isValidationError(e)) return (e as ValidationError).problems.map((p) => `${p.field}: ${p.message}`);
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('job definitions', () => {
  it('fills in Metronome defaults', () => {
    const spec = validateJobSpec({ id: 'billing.nightly-report', run: { cmd: 'run.sh' }, schedules: [{ id: 'nightly', cron: '30 2 * * *' }] }, NOW);
    expect(spec.run).toMatchObject({ cpus: 1, mem: 128, disk: 0, gpus: 0, maxLaunchDelaySeconds: 3600, restart: { policy: 'NEVER' }, env: {}, args: [], constraints: [] });
    expect(spec.schedules[0]).toEqual({ id: 'nightly', cron: '30 2 * * *', timezone: 'UTC', startingDeadlineSeconds: 900, concurrencyPolicy: 'ALLOW', enabled: true });
    expect(spec.dependencies).toEqual([]);
  });

  it('rejects a bad cron expression, naming the schedule and the expression', () => {
    expect(problems({ id: 'a', run: { cmd: 'x' }, schedules: [{ id: 's', cron: '61 * * * *' }] })).toEqual([
      'schedules[0].cron: invalid cron expression: Invalid value for minute: 61, got "61 * * * *"',
    ]);
    expect(problems({ id: 'a', run: { cmd: 'x' }, schedules: [{ id: 's', cron: 'every day' }] })[0]).toMatch(/^schedules\[0\]\.cron: invalid cron expression: .*got "every day"$/);
    // Six fields (seconds) are not accepted: schedules have minute precision.
    expect(problems({ id: 'a', run: { cmd: 'x' }, schedules: [{ id: 's', cron: '0 30 2 * * *' }] })[0]).toMatch(/^schedules\[0\]\.cron: invalid cron expression/);
    // Valid syntax that never matches a date (February 31st).
    expect(problems({ id: 'a', run: { cmd: 'x' }, schedules: [{ id: 's', cron: '0 0 31 2 *' }] })).toEqual(['schedules[0].cron: never fires, got "0 0 31 2 *"']);
  });

  it('rejects an unknown time zone', () => {
    expect(problems({ id: 'a', run: { cmd: 'x' }, schedules: [{ id: 's', cron: '0 * * * *', timezone: 'Mars/Olympus' }] })).toEqual([
      'schedules[0].timezone: unknown IANA time zone, got "Mars/Olympus"',
    ]);
    expect(validateJobSpec({ id: 'a', run: { cmd: 'x' }, schedules: [{ id: 's', cron: '0 * * * *', timezone: 'America/New_York' }] }, NOW).schedules[0]!.timezone).toBe('America/New_York');
  });

  it('reports every problem at once, with paths and values', () => {
    const list = problems({
      id: 'Bad_ID',
      run: { cmd: 'x', args: ['y'], cpus: -1, mem: 'lots', restart: { policy: 'SOMETIMES' }, env: { 'NOT-OK': 'v' }, constraints: [['hostname', 'UNIQ']] },
      schedules: [
        { id: 's', cron: '* * * * *', concurrencyPolicy: 'REPLACE' },
        { id: 's', cron: '* * * * *', startingDeadlineSeconds: -5 },
      ],
      color: 'blue',
    });
    expect(list).toEqual(
      expect.arrayContaining([
        'id: must be dot-separated parts of lowercase letters, digits and dashes, got "Bad_ID"',
        'run.cpus: must be a finite number > 0 (CPUs), got -1',
        'run.mem: must be a number (MiB), got "lots"',
        'run.restart.policy: must be NEVER or ON_FAILURE, got "SOMETIMES"',
        'run.args: cmd and args are mutually exclusive (args run without a shell)',
        'run.env.NOT-OK: is not a valid variable name (letters, digits and _, not starting with a digit)',
        expect.stringMatching(/^run\.constraints\[0\]\.operator: must be one of UNIQUE, CLUSTER.*got "UNIQ"$/),
        'schedules[0].concurrencyPolicy: must be ALLOW or FORBID, got "REPLACE"',
        'schedules[1].startingDeadlineSeconds: must be a finite number >= 0 (seconds), got -5',
        'color: unknown field',
      ]),
    );
  });

  it('reports a bad cron together with an unknown time zone (the cron is checked whatever else is wrong)', () => {
    expect(problems({ id: 'a', run: { cmd: 'x' }, schedules: [{ id: 's', cron: '61 * * * *', timezone: 'Mars/Olympus' }, { id: 's', cron: '0 0 31 2 *' }], dependencies: ['a'], color: 1 })).toEqual([
      'schedules[0].timezone: unknown IANA time zone, got "Mars/Olympus"',
      'color: unknown field',
      'schedules[0].cron: invalid cron expression: Invalid value for minute: 61, got "61 * * * *"',
      'schedules[1].id: duplicate schedule id, got "s"',
      'schedules[1].cron: never fires, got "0 0 31 2 *"',
      'dependencies[0]: a job cannot depend on itself, got "a"',
    ]);
  });

  it('names the field of a document that is not an object, and of fields of the wrong kind', () => {
    expect(problems('nightly')).toEqual(['definition: must be a job definition (an object with id and run), got "nightly"']);
    expect(() => parseJobSpec('just text', NOW)).toThrow(/^text: must be a job definition \(an object with id and run\), got "just text"$/);
    expect(problems({ id: 'a', labels: [], run: { cmd: 'x', env: 'A=1', args: 'y' }, schedules: {} })).toEqual([
      'labels: must be an object, got an array',
      'run.args: must be a list, got "y"',
      'run.env: must be an object, got "A=1"',
      'schedules: must be a list, got an object',
    ]);
  });

  it('needs something to run', () => {
    expect(problems({ id: 'a', run: {} })).toEqual(['run: needs cmd, args or docker.image']);
    expect(problems({ id: 'a' })).toEqual(['run: is required (an object with cmd, args or docker)']);
    expect(validateJobSpec({ id: 'a', run: { docker: { image: 'busybox' } } }, NOW).run.docker).toEqual({ image: 'busybox', forcePull: false });
  });

  it('accepts constraints in the SDK forms and normalises them', () => {
    const spec = validateJobSpec({ id: 'a', run: { cmd: 'x', constraints: [['hostname', 'UNIQUE'], 'rack:LIKE:r[12]', { field: 'zone', operator: 'EQ', value: 'z1' }] } }, NOW);
    expect(spec.run.constraints.map((c) => c.text)).toEqual(['hostname:UNIQUE', 'rack:LIKE:r[12]', 'zone:IS:z1']);
  });

  it('parses YAML and JSON, and reports a syntax error', () => {
    const yaml = ['id: etl.extract', 'run:', '  cmd: ./extract.sh', '  restart: { policy: ON_FAILURE, activeDeadlineSeconds: 600 }', 'schedules:', '  - { id: hourly, cron: "0 * * * *", timezone: Europe/Berlin }'].join('\n');
    const spec: JobSpec = parseJobSpec(yaml, NOW);
    expect(spec.run.restart).toEqual({ policy: 'ON_FAILURE', activeDeadlineSeconds: 600 });
    expect(parseJobSpec(JSON.stringify({ id: 'j', run: { cmd: 'x' } }), NOW).id).toBe('j');
    expect(() => parseJobSpec('id: [unclosed', NOW)).toThrow(/^text: is not valid JSON or YAML/);
  });
});

describe('dependencies', () => {
  const spec = (id: string, dependencies: string[]): JobSpec => validateJobSpec({ id, run: { cmd: 'x' }, dependencies }, NOW);
  const graph = (...specs: JobSpec[]) => new Map(specs.map((s) => [s.id, s]));

  it('rejects unknown parents, naming them', () => {
    expect(() => checkDependencies(spec('c', ['a', 'b']), graph(spec('a', [])))).toThrow('dependencies[1]: unknown job, got "b"');
  });

  it('rejects a job depending on itself', () => {
    expect(problems({ id: 'a', run: { cmd: 'x' }, dependencies: ['a'] })).toEqual(['dependencies[0]: a job cannot depend on itself, got "a"']);
  });

  it('rejects a cycle and prints it', () => {
    // a ← b ← c (c depends on b, b on a); now a would depend on c.
    const jobs = graph(spec('a', []), spec('b', ['a']), spec('c', ['b']));
    expect(() => checkDependencies(spec('a', ['c']), jobs)).toThrow('dependencies: would create a dependency cycle (job → parent): a → c → b → a');
  });

  it('accepts a diamond', () => {
    const jobs = graph(spec('a', []), spec('b', ['a']), spec('c', ['a']));
    expect(() => checkDependencies(spec('d', ['b', 'c']), jobs)).not.toThrow();
  });
});
