import { Writable } from 'node:stream';
import { BerthError } from '../../../src/common/errors';
import { createLogger, memoryLogger, nullLogger, serializeError } from '../../../src/common/logging';

/** A stream that keeps the lines written to it. */
function sink(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({ write(chunk, _enc, done) { text += chunk.toString(); done(); } });
  return { stream, lines: () => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  test('one JSON object per line: timestamp, level, component, message, then fields', () => {
    const { stream, lines } = sink();
    createLogger({ component: 'master', stream }).info('agent registered', { agentId: 'a1', cpus: 4 });
    const [entry] = lines();
    expect(Object.keys(entry!)).toEqual(['timestamp', 'level', 'component', 'message', 'agentId', 'cpus']);
    expect(entry).toMatchObject({ level: 'info', component: 'master', message: 'agent registered', agentId: 'a1', cpus: 4 });
    expect(Date.parse(entry!['timestamp'] as string)).not.toBeNaN();
  });

  test('levels below the threshold are dropped', () => {
    const { stream, lines } = sink();
    const log = createLogger({ component: 'c', level: 'warn', stream });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(lines().map((l) => l['level'])).toEqual(['warn', 'error']);
  });

  test('child loggers add ids to every entry; the child wins on conflicts', () => {
    const { stream, lines } = sink();
    const log = createLogger({ component: 'master', level: 'debug', stream });
    const fw = log.child({ frameworkId: 'f1' });
    fw.child({ taskId: 't1' }).debug('launched', { agentId: 'a1' });
    fw.child({ component: 'offers' }).info('sent');
    expect(lines()).toEqual([
      expect.objectContaining({ component: 'master', frameworkId: 'f1', taskId: 't1', agentId: 'a1', message: 'launched' }),
      expect.objectContaining({ component: 'offers', frameworkId: 'f1', message: 'sent' }),
    ]);
  });

  test('errors are written with message, code and stack; cause included', () => {
    const { stream, lines } = sink();
    const err = new BerthError('REGISTRY_FENCED', 'write rejected', { cause: new Error('wrong last sequence') });
    createLogger({ component: 'master', stream }).error('registry write failed', { err });
    const logged = lines()[0]!['err'] as Record<string, unknown>;
    expect(logged).toMatchObject({ name: 'BerthError', message: 'write rejected', code: 'REGISTRY_FENCED', cause: { message: 'wrong last sequence' } });
    expect(logged['stack']).toMatch(/write rejected\n\s+at /);
  });

  test('reserved keys, bigint, Map and cycles do not break a line', () => {
    const { stream, lines } = sink();
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    createLogger({ component: 'c', stream }).info('odd fields', { message: 'mine', level: 'x', n: 10n, m: new Map([['k', 1]]), cyclic });
    expect(lines()[0]).toMatchObject({ message: 'odd fields', level: 'info', message_: 'mine', level_: 'x', n: '10', m: { k: 1 }, cyclic: { a: 1, self: '[Circular]' } });
  });
});

describe('memoryLogger and nullLogger', () => {
  test('memoryLogger records entries (children included) for assertions', () => {
    const log = memoryLogger('info');
    log.debug('hidden');
    log.child({ agentId: 'a1' }).warn('agent unreachable', { err: new Error('ping timeout') });
    expect(log.entries).toEqual([{ level: 'warn', message: 'agent unreachable', fields: { agentId: 'a1', err: expect.objectContaining({ message: 'ping timeout' }) } }]);
    expect(log.messages()).toEqual(['agent unreachable']);
    expect(log.messages('error')).toEqual([]);
    log.clear();
    expect(log.entries).toEqual([]);
  });

  test('nullLogger swallows everything', () => {
    expect(() => nullLogger.child({ a: 1 }).error('x', { err: new Error('y') })).not.toThrow();
  });

  test('serializeError keeps a non-Error cause as text', () => {
    expect(serializeError(new Error('a', { cause: 'b' }))).toMatchObject({ message: 'a', cause: 'b' });
  });
});
