/**
 * The extension registry refuses duplicate names and a second module for a one-implementation
 * point; the modules file names the entry, the module and the field of every problem.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../../src/common/config';
import { ExtensionRegistry, type BerthModule } from '../../../src/common/modules/extension-registry';
import { loadModulesFile } from '../../../src/common/modules/modules-file';

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples', 'modules');

describe('modules', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-modules-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const problems = (file: string, registry = new ExtensionRegistry()): string[] => {
    try {
      loadModulesFile(file, 'modules', registry);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.map((p) => p.message);
    }
    throw new Error('no ConfigError');
  };

  test('a built-in name is refused to a module, and a one-point takes one module', () => {
    const registry = new ExtensionRegistry().builtIn({ name: 'drf', extends: 'roleSorter', create: () => undefined });
    const mine: BerthModule = { name: 'drf', extends: 'roleSorter', create: () => undefined };
    expect(registry.register({ module: mine, options: {}, origin: 'modules[0]', builtIn: false })).toBe('the name "drf" is already registered on extension point roleSorter (by built-in); give the module another name');
    expect(registry.register({ module: { ...mine, name: 'fair' }, options: {}, origin: 'modules[0]', builtIn: false })).toBeUndefined();
    expect(registry.register({ module: { ...mine, name: 'fairer' }, options: {}, origin: 'modules[1]', builtIn: false })).toMatch(/^extension point roleSorter takes one module, and "fair" \(modules\[0\]\) is already loaded/);
    expect(registry.selectOne('roleSorter', 'drf').module.name).toBe('fair');
    expect(() => new ExtensionRegistry().builtIn(mine, mine)).toThrow(/already registered/);
  });

  test('every problem of a modules file names the entry, the module and the field', () => {
    const file = write('bad.yaml', [
      'modules:',
      '  - module: ./nowhere.js',
      `  - module: ${path.join(EXAMPLES, 'rotating-logger.js')}`,
      '    options: { maxBytes: big, colour: red }',
      `  - module: ${write('odd.js', "exports.berthModule = { name: 'odd', extends: 'scheduler', create() {} };")}`,
    ].join('\n'));
    expect(problems(file)).toEqual([
      `modules[0].module: module "./nowhere.js" cannot be loaded: nothing at ${path.join(dir, 'nowhere.js')} (a path is relative to the modules file) (in file ${file}, named by modules)`,
      `modules[1].options.colour: module "rotating-logger": unknown option (known: maxBytes, keep, checkEveryMs) (in file ${file}, named by modules)`,
      `modules[1].options.maxBytes: module "rotating-logger": must be an integer of at least 1, got "big" (in file ${file}, named by modules)`,
      expect.stringMatching(/^modules\[2\]\.module: module ".*odd\.js" \(.*odd\.js\) \(module "odd"\) extends "scheduler", which is no extension point; one of allocator, /),
    ]);
  });

  test('the same module twice is refused by name', () => {
    const logger = path.join(EXAMPLES, 'rotating-logger.js');
    const file = write('twice.json', JSON.stringify({ modules: [{ module: logger }, { module: logger, options: { keep: 2 } }] }));
    expect(problems(file)).toEqual([expect.stringMatching(/^modules\[1\]: module "rotating-logger": the name "rotating-logger" is already registered on extension point containerLogger \(by modules\[0\]/)]);
  });

  test('a good file registers its modules in order', () => {
    const file = write('good.yaml', `modules:\n  - module: ${path.join(EXAMPLES, 'rotating-logger.js')}\n    options: { maxBytes: 100 }\n`);
    const registry = new ExtensionRegistry();
    expect(loadModulesFile(file, 'modules', registry).map((m) => [m.module.name, m.options])).toEqual([['rotating-logger', { maxBytes: 100 }]]);
    expect(registry.selectMany('containerLogger').map((e) => e.module.name)).toEqual(['rotating-logger']);
  });
});
