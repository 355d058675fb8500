import { interpolate } from '../../../../src/frameworks/services/compose/interpolate';
import { parseEnvFile, readByteSize, readCpus, readDuration, shellLine, splitShellWords } from '../../../../src/frameworks/services/compose/values';

const value = <T>(r: { ok: true; value: T } | { ok: false; problem: string }): T | string => (r.ok ? r.value : `problem: ${r.problem}`);

describe('Compose value syntaxes', () => {
  it('durations are Go durations, in ms', () => {
    expect(value(readDuration('1m30s'))).toBe(90_000);
    expect(value(readDuration('1.5h'))).toBe(5_400_000);
    expect(value(readDuration('300ms'))).toBe(300);
    expect(value(readDuration('10us'))).toBe(0.01);
    expect(value(readDuration('0'))).toBe(0);
    expect(value(readDuration('2h45m'))).toBe(9_900_000);
    expect(value(readDuration(30))).toBe('problem: must be a duration such as 30s, 1m30s or 500ms (units ns, us, ms, s, m, h), got the number 30: add a unit (30s)');
    expect(value(readDuration('30 s'))).toMatch(/^problem: .*got "30 s"$/);
    expect(value(readDuration('1d'))).toMatch(/got "1d"$/);
    expect(value(readDuration(''))).toMatch(/got ""$/);
  });

  it('byte sizes are binary multiples, units in either case, b and ib optional', () => {
    expect(value(readByteSize('512M'))).toBe(512 * 2 ** 20);
    expect(value(readByteSize('1g'))).toBe(2 ** 30);
    expect(value(readByteSize('1.5GiB'))).toBe(1.5 * 2 ** 30);
    expect(value(readByteSize('2048kb'))).toBe(2 * 2 ** 20);
    expect(value(readByteSize('100'))).toBe(100);
    expect(value(readByteSize(1024))).toBe(1024);
    expect(value(readByteSize('lots'))).toMatch(/^problem: must be a size such as 512m, 1g or 1\.5GiB .* got "lots"$/);
    expect(value(readByteSize('-1m'))).toMatch(/got "-1m"$/);
  });

  it('cpus are a number or a numeric string above 0', () => {
    expect(value(readCpus('0.50'))).toBe(0.5);
    expect(value(readCpus(2))).toBe(2);
    expect(value(readCpus('0'))).toMatch(/^problem: must be a number of CPUs greater than 0 .*got "0"$/);
    expect(value(readCpus('half'))).toMatch(/got "half"$/);
  });

  it('command strings split like a shell splits them, without expanding anything', () => {
    expect(value(splitShellWords('nginx -g "daemon off;"'))).toEqual(['nginx', '-g', 'daemon off;']);
    expect(value(splitShellWords(`sh -c 'echo $HOME && ls'`))).toEqual(['sh', '-c', 'echo $HOME && ls']);
    expect(value(splitShellWords('a\\ b "c\\"d" e""f  '))).toEqual(['a b', 'c"d', 'ef']);
    expect(value(splitShellWords('x ""'))).toEqual(['x', '']);
    expect(value(splitShellWords('echo "unclosed'))).toBe('problem: has a " without its closing ", got "echo \\"unclosed"');
    expect(value(splitShellWords("echo 'unclosed"))).toMatch(/has a ' without its closing '/);
  });

  it('shellLine quotes only what needs it, and a shell splits it back into the same words', () => {
    const words = ['curl', '-f', 'http://localhost:8080/health', "it's", 'a b', '$HOME', ''];
    const line = shellLine(words);
    expect(line).toBe(`curl -f http://localhost:8080/health 'it'\\''s' 'a b' '$HOME' ''`);
    expect(value(splitShellWords(line))).toEqual(words);
  });

  it('env files: NAME=value lines, comments, quotes, export, and NAME alone from the environment', () => {
    const text = '# settings\nA=1\nexport B = two words # comment\nC="line\\nnext"\nD=\'$literal\'\n\nE\nF\n';
    expect(parseEnvFile(text, (n) => (n === 'E' ? 'from-env' : undefined))).toEqual({
      ok: true, value: { A: '1', B: 'two words', C: 'line\nnext', D: '$literal', E: 'from-env' },
    });
    expect(parseEnvFile('A=1\nnot a line\n')).toEqual({ ok: false, line: 2, problem: 'must be NAME=value, got "not a line"' });
  });
});

describe('${VAR} interpolation', () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  const vars = env({ TAG: '1.4', EMPTY: '', HOST: 'db' });

  it('substitutes $VAR and ${VAR}, and $$ is a literal $', () => {
    expect(interpolate('web:${TAG}', vars)).toEqual({ value: 'web:1.4', problems: [] });
    expect(interpolate('$HOST:5432', vars)).toEqual({ value: 'db:5432', problems: [] });
    expect(interpolate('price $$5 and $ alone', vars)).toEqual({ value: 'price $5 and $ alone', problems: [] });
  });

  it('defaults: :- for unset or empty, - for unset only, nested defaults interpolated too', () => {
    expect(interpolate('${EMPTY:-x} ${EMPTY-x} ${NOPE-x} ${NOPE:-${HOST}}', vars).value).toBe('x  x db');
    expect(interpolate('${HOST:+set} ${EMPTY:+set} ${EMPTY+set} ${NOPE+set}', vars).value).toBe('set  set ');
  });

  it('an unset variable without a default is a problem naming it and what to do', () => {
    expect(interpolate('${PASSWORD}', vars).problems).toEqual([
      'variable PASSWORD is not set and has no default: set it in the environment or in .env (or --env-file), or write ${PASSWORD:-default}',
    ]);
    expect(interpolate('$A and $B', vars).problems).toHaveLength(2);
  });

  it('required variables (:? and ?) say the message of the file', () => {
    expect(interpolate('${EMPTY:?give a password}', vars).problems).toEqual(['variable EMPTY is required and must not be empty: give a password']);
    expect(interpolate('${EMPTY?give a password}', vars)).toEqual({ value: '', problems: [] });
    expect(interpolate('${NOPE?}', vars).problems).toEqual(['variable NOPE is required']);
  });

  it('a malformed ${…} is a problem that shows it', () => {
    expect(interpolate('${TAG', vars).problems[0]).toMatch(/^has a "\$\{" without its closing "\}" in "\$\{TAG": write \$\$ for a literal \$$/);
    expect(interpolate('${1X}', vars).problems[0]).toMatch(/does not start with a variable name/);
    expect(interpolate('${TAG#x}', vars).problems[0]).toMatch(/after the name TAG comes one of :- - :\? \? :\+ \+ \(or "\}"\), got "#x"/);
  });
});
