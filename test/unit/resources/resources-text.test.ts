import { ResourceError } from '../../../src/common/errors';
import { Resources } from '../../../src/common/resources';

function parseError(text: string, opts?: { defaultRole?: string }): string {
  try {
    Resources.parse(text, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ResourceError);
    expect((e as ResourceError).code).toBe('INVALID_RESOURCES');
    return (e as ResourceError).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
}

describe('Resources.parse (text form)', () => {
  it('parses every value kind and static reservations', () => {
    const res = Resources.parse('cpus:4;mem:8192;disk:10240;ports:[31000-32000,33000-33010];gpus:1;zones:{a,b};cpus(ads):2');
    expect(res.scalar('cpus')).toBe(6000);
    expect(res.reserved('ads').toString()).toBe('cpus(ads):2');
    expect(res.rangeCount('ports')).toBe(1001 + 11);
    expect(res.toString()).toBe('cpus:4;cpus(ads):2;disk:10240;gpus:1;mem:8192;ports:[31000-32000,33000-33010];zones:{a,b}');
    expect(res.reserved('ads').entries[0].reservations).toEqual([{ type: 'STATIC', role: 'ads' }]);
  });

  it('tolerates whitespace and empty tokens, and rounds to 0.001', () => {
    const res = Resources.parse('  cpus : 0.0005 ; mem( eng/backend ) :1.2345;; ports : [ 1 - 2 , 4-5 ] ; zones:{ a , b };');
    expect(res.toString()).toBe('cpus:0.001;mem(eng/backend):1.235;ports:[1-2,4-5];zones:{a,b}');
    expect(Resources.parse('').isEmpty()).toBe(true);
    expect(Resources.parse('  ; ').isEmpty()).toBe(true);
  });

  it('combines repeated names: scalars add, sets and ranges union', () => {
    expect(Resources.parse('cpus:1;cpus:0.5;zones:{a};zones:{a,b};ports:[1-2];ports:[3-4]').toString()).toBe(
      'cpus:1.5;ports:[1-4];zones:{a,b}',
    );
  });

  it('applies defaultRole to unqualified entries only; (*) stays unreserved', () => {
    const res = Resources.parse('cpus:1;mem(*):2;disk(ads):3', { defaultRole: 'eng' });
    expect(res.toString()).toBe('cpus(eng):1;disk(ads):3;mem:2');
    expect(Resources.parse('cpus:1', { defaultRole: '*' }).toString()).toBe('cpus:1');
    expect(parseError('cpus:1', { defaultRole: 'a b' })).toMatch(/invalid default role "a b"/);
  });

  it.each([
    ['cpus=4', 'invalid resource "cpus=4" at position 0: expected "name:value"'],
    ['cpus:', 'invalid resource "cpus:" at position 0: missing value'],
    ['cpus:4;mem:-5', 'invalid resource "mem:-5" at position 7: value must be non-negative'],
    ['cpus:abc', 'invalid resource "cpus:abc" at position 0: value "abc" is not a number'],
    ['cpus:NaN', 'value "NaN" is not a number'],
    ['cpus:Infinity', 'value "Infinity" is not a number'],
    ['ports:[1-]', 'invalid resource "ports:[1-]" at position 0: invalid range "1-"'],
    ['ports:[5-3]', 'invalid range [5-3]: begin is greater than end'],
    ['ports:[1-3', 'ranges must end with "]"'],
    ['zones:{a,}', 'empty set item'],
    ['zones:{a,a}', 'duplicate set item "a"'],
    ['gpus:1.5', 'invalid resource "gpus:1.5" at position 0: gpus must be a whole number'],
    ['cpus(eng/):1', 'invalid role "eng/": role must not end with "/"'],
    ['cpus(-eng):1', 'invalid role "-eng"'],
    ['cpus():1', 'invalid role "": role must not be empty'],
    ['cpus(eng:1', 'invalid resource "cpus(eng:1" at position 0: expected "name(role)"'],
    ['c pus:1', 'invalid resource name "c pus"'],
    [':1', 'invalid resource name ""'],
    ['cpus:1;cpus:[1-2]', 'at position 7: cpus is declared both as scalar and as ranges'],
    ['ports:[31000-31010,31005-31020]', 'ports: ranges [31000-31010] and [31005-31020] overlap'],
    [
      'ports:[31000-31010]; cpus:1;ports(eng):[31005-31020]',
      'invalid resource "ports(eng):[31005-31020]" at position 28: ports: ranges [31000-31010] and [31005-31020] overlap (the first in "ports:[31000-31010]" at position 0)',
    ],
  ])('rejects %p naming the part', (text, expected) => {
    expect(parseError(text)).toContain(expected);
  });

  it('accepts the JSON form too', () => {
    const res = Resources.parse(' [{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]', { defaultRole: 'eng' });
    expect(res.toString()).toBe('cpus(eng):2');
    expect(parseError('[{"name":')).toMatch(/^invalid resources JSON: /);
  });

  it('round-trips toString for expressible resources', () => {
    for (const text of ['cpus:4;cpus(ads):2;mem:0.001', 'ports:[1-1,3-5];ports(eng/x):[7-7]', 'zones:{a,b};zones(eng):{a}']) {
      expect(Resources.parse(text).toString()).toBe(text);
    }
  });
});
