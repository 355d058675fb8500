import { DEPLOY_EXIT, followDeployment, outcomeCode, parseTimeout, progressMode } from '../../../src/cli/deployment-follow';
import { CliExit, jsonText, type CliOutput } from '../../../src/cli/io';
import type { ApiClient } from '../../../src/cli/operator-client';
import { fit, progressBar, progressLine, ProgressView, ttyLine, type Deployment, type ProgressStatus } from '../../../src/cli/progress-view';

const dep = (extra: Partial<Deployment> = {}): Deployment => ({ id: 'd1', app_id: '/a', kind: 'CREATE', state: 'RUNNING', message: '', rolled_back_by: '', ...extra });
const status = (extra: Partial<ProgressStatus> = {}): ProgressStatus => ({
  instances: 1, running: 0, healthy: 0, waiting_instances: 1, backoff_seconds: 0, launch_delay_remaining_seconds: 0, waiting: '', ...extra,
});

describe('berth app deploy: following a deployment', () => {
  it('the progress line does not tick with the launch delay countdown (one line per change, not two a second)', () => {
    const failure = { task_id: 't1', state: 'TASK_FAILED', message: 'Command exited with status 1' };
    const at = (remaining: number): string => progressLine(dep(), status({
      backoff_seconds: 1.15, launch_delay_remaining_seconds: remaining, last_failure: failure,
      waiting: `launch delayed ${remaining.toFixed(1)} s after task failures (backoff 1.150 s); last failure: TASK_FAILED Command exited with status 1`,
    }));
    expect(at(1.1)).toBe('create running: 0/1 running, 0 healthy — launch backoff 1.15 s after task failures; last failure: TASK_FAILED Command exited with status 1');
    expect(at(0.6)).toBe(at(1.1));
    expect(progressLine(dep({ state: 'SUCCEEDED' }), status({ running: 1, healthy: 1, waiting_instances: 0 }))).toBe('create succeeded: 1/1 running, 1 healthy');
    expect(progressLine(dep(), status({ waiting: 'waiting for offers for 1 instance: 3 offers: resources:cpus ×3' }))).toBe('create running: 0/1 running, 0 healthy — waiting for offers for 1 instance: 3 offers: resources:cpus ×3');
  });

  it('exit codes: 0 succeeded, 3 failed or replaced, 4 rolled back (5 is a timeout)', () => {
    expect(outcomeCode(dep({ state: 'SUCCEEDED' }))).toBe(0);
    expect(outcomeCode(dep({ state: 'FAILED' }))).toBe(3);
    expect(outcomeCode(dep({ state: 'SUPERSEDED' }))).toBe(3);
    expect(outcomeCode(dep({ state: 'FAILED', rolled_back_by: 'd2' }))).toBe(4);
    expect(outcomeCode(dep({ state: 'CANCELLED', rolled_back_by: 'd2' }))).toBe(4);
    expect(DEPLOY_EXIT).toEqual({ failed: 3, rolledBack: 4, timedOut: 5, interrupted: 130 });
  });

  it('--timeout takes seconds or a duration; 0 is no limit; anything else names the flag and the value', () => {
    expect(parseTimeout('90')).toBe(90_000);
    expect(parseTimeout('1.5')).toBe(1500);
    expect(parseTimeout('90s')).toBe(90_000);
    expect(parseTimeout('5m')).toBe(300_000);
    expect(parseTimeout('1h30m')).toBe(5_400_000);
    expect(parseTimeout('0')).toBe(0);
    expect(() => parseTimeout('soon')).toThrow('--timeout must be seconds (90) or a duration (90s, 5m, 1h30m), got "soon"');
    expect(() => parseTimeout('-1')).toThrow(/got "-1"/);
  });

  it('--json leaves out the proto loader\'s synthetic oneof markers, nothing else', () => {
    const message = { definition: { cmd: 'x', _cmd: 'cmd', instances: 1, _instances: 'instances', source: 'definition' }, tasks: [{ _port: 'port', port: 1 }], _note: 'other' };
    expect(JSON.parse(jsonText(message))).toEqual({ definition: { cmd: 'x', instances: 1, source: 'definition' }, tasks: [{ port: 1 }], _note: 'other' });
  });
});

/** A fake terminal: what was written, and the screen's last line as a terminal would show it. */
function fakeTty(columns = 100): CliOutput & { written: string[]; screen: () => string[]; err: string } {
  const written: string[] = [];
  const o = {
    written, err: '',
    stdout: (x: string) => void written.push(x),
    stderr: (x: string) => void (o.err += x),
    isTTY: () => true,
    columns: () => columns,
    /** Applies \r, ESC[2K and \n as a terminal does. */
    screen: () => {
      const lines = [''];
      for (const chunk of written) {
        for (const part of chunk.split(/(\r|\x1b\[2K|\n)/)) {
          if (part === '\r' || part === '') continue;
          if (part === '\x1b[2K') lines[lines.length - 1] = '';
          else if (part === '\n') lines.push('');
          else lines[lines.length - 1] += part;
        }
      }
      return lines;
    },
  };
  return o;
}

describe('progress views', () => {
  const failure = { task_id: 'web.1', state: 'TASK_FAILED', message: 'Command exited with status 1' };

  it('tty: one line rewritten in place — a bar, running/healthy of N, the last failure — only when it changed, cut to the width', () => {
    const tty = fakeTty(140);
    const view = new ProgressView('tty', { write: tty.stdout, columns: tty.columns });
    view.update(dep(), status({ instances: 4 }));
    view.update(dep(), status({ instances: 4 })); // unchanged: nothing written
    view.update(dep(), status({ instances: 4, running: 2, healthy: 1, waiting_instances: 2, last_failure: failure }));
    view.update(dep({ state: 'SUCCEEDED' }), status({ instances: 4, running: 4, healthy: 4, waiting_instances: 0 }));
    view.end(dep({ state: 'SUCCEEDED' }), { event: 'finished', exitCode: 0 });
    expect(tty.written).toHaveLength(4);
    expect(tty.written.slice(0, 3).every((w) => w.startsWith('\r\x1b[2K') && !w.includes('\n'))).toBe(true);
    expect(tty.written[1]).toBe('\r\x1b[2Kcreate running [#####-----..........] 2/4 running, 1/4 healthy — last failure: TASK_FAILED Command exited with status 1');
    expect(tty.written[3]).toBe('\n');
    // What stays on screen: the final state, once.
    expect(tty.screen()).toEqual(['create succeeded [####################] 4/4 running, 4/4 healthy', '']);

    const narrow = fakeTty(40);
    const small = new ProgressView('tty', { write: narrow.stdout, columns: narrow.columns });
    small.update(dep(), status({ waiting: 'waiting for offers for 1 instance: agent a1 (h1) is draining' }));
    expect(narrow.screen()[0]).toBe('create running [....................] …');
    expect([...narrow.screen()[0]!].length).toBe(39); // never wraps: a wrapped line cannot be rewritten
    // A pty that does not tell its size (columns 0) is taken as 80 wide, not cut to nothing.
    const unsized = fakeTty(0);
    new ProgressView('tty', { write: unsized.stdout, columns: unsized.columns }).update(dep(), status({ waiting: 'x'.repeat(200) }));
    expect([...unsized.screen()[0]!].length).toBe(79);
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(fit('abc', 4)).toBe('abc');
  });

  it('the bar: healthy #, running -, missing .; never more than full', () => {
    expect(progressBar(status({ instances: 2, running: 1, healthy: 0 }))).toBe(`[${'-'.repeat(10)}${'.'.repeat(10)}]`);
    expect(progressBar(status({ instances: 0, running: 0 }))).toBe(`[${'.'.repeat(20)}]`);
    expect(progressBar(status({ instances: 2, running: 3, healthy: 3 }))).toBe(`[${'#'.repeat(20)}]`); // over capacity during an upgrade
    expect(ttyLine(dep({ kind: 'DELETE' }), status({ tasks: [{}, {}] }))).toBe('delete running: 2 tasks left to stop');
    expect(progressLine(dep({ kind: 'DELETE', state: 'SUCCEEDED' }), undefined)).toBe('delete succeeded: the app and its tasks are gone');
  });

  it('lines (not a terminal): a line per change, never the same line twice', () => {
    const out: string[] = [];
    const view = new ProgressView('lines', { write: (x) => void out.push(x) });
    for (const s of [status(), status(), status({ running: 1, healthy: 1, waiting_instances: 0 })]) view.update(dep(), s);
    view.end(dep(), { event: 'finished', exitCode: 0 });
    expect(out).toEqual(['create running: 0/1 running, 0 healthy\n', 'create running: 1/1 running, 1 healthy\n']);
  });

  it('json: one event per line on each change, then finished with the exit code', () => {
    const out: string[] = [];
    const view = new ProgressView('json', { write: (x) => void out.push(x) });
    view.update(dep(), status({ last_failure: failure }));
    view.update(dep(), status({ last_failure: failure }));
    view.update(dep({ state: 'FAILED', message: 'no progress for 10 s' }), status({ last_failure: failure }));
    view.end(dep({ state: 'FAILED', message: 'no progress for 10 s' }), { event: 'finished', exitCode: 3 });
    expect(out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { event: 'progress', app_id: '/a', deployment_id: 'd1', kind: 'CREATE', state: 'RUNNING', instances: 1, running: 0, healthy: 0, waiting_instances: 1, tasks: 0, waiting: '', last_failure: failure },
      { event: 'progress', app_id: '/a', deployment_id: 'd1', kind: 'CREATE', state: 'FAILED', instances: 1, running: 0, healthy: 0, waiting_instances: 1, tasks: 0, waiting: '', last_failure: failure },
      { event: 'finished', app_id: '/a', deployment_id: 'd1', kind: 'CREATE', state: 'FAILED', message: 'no progress for 10 s', rolled_back_by: '', exit_code: 3 },
    ]);
  });

  it('the mode: json with --json, tty on a terminal, lines otherwise', () => {
    expect(progressMode(fakeTty(), true)).toBe('json');
    expect(progressMode(fakeTty(), false)).toBe('tty');
    expect(progressMode({ stdout: () => undefined, stderr: () => undefined }, false)).toBe('lines');
  });
});

describe('followDeployment', () => {
  /** A Services API answering polls from a script of (deployment, status) pairs; the last one repeats. */
  function scripted(steps: [Partial<Deployment>, Partial<ProgressStatus> | undefined][]): ApiClient {
    let i = -1;
    return {
      call: async (method: string) => {
        if (method === 'ListDeployments') i = Math.min(i + 1, steps.length - 1);
        const [d, s] = steps[i]!;
        if (method === 'ListDeployments') return { deployments: [dep({ id: 'other' }), dep(d)] };
        if (s === undefined) throw new Error('app not found');
        return { app: { status: status(s) } };
      },
    } as unknown as ApiClient;
  }

  it('on a terminal: the same line rewritten as it changes, ended once; exit 4 with why on stderr when rolled back', async () => {
    const tty = fakeTty();
    const api = scripted([
      [{}, {}], [{}, {}], [{}, { running: 1 }],
      [{ state: 'FAILED', message: 'no progress for 10 s (progressDeadlineSeconds)', rolled_back_by: 'd2' }, { running: 0 }],
    ]);
    const err = await followDeployment(api, tty, '/a', 'd1', { json: false, timeoutMs: 0, pollMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliExit);
    expect((err as CliExit).exitCode).toBe(4);
    expect(tty.written.filter((w) => w.includes('\n'))).toEqual(['\n']);
    expect(tty.screen()).toEqual(['create failed [....................] 0/1 running, 0/1 healthy', '']);
    expect(tty.err).toBe('deployment d1 failed: no progress for 10 s (progressDeadlineSeconds) (rolled back by d2)\n');
  });

  it('--json: started, progress per change, timed_out with exit 5', async () => {
    const out: string[] = [];
    const api = scripted([[{}, {}]]);
    const err = await followDeployment(api, { stdout: (x) => void out.push(x), stderr: () => undefined }, '/a', 'd1', { json: true, timeoutMs: 30, pollMs: 5, started: { created: true } }).catch((e: unknown) => e);
    expect((err as CliExit).exitCode).toBe(5);
    const events = out.map((l) => JSON.parse(l) as { event: string });
    expect(events[0]).toEqual({ event: 'started', app_id: '/a', deployment_id: 'd1', created: true });
    expect(events.map((e) => e.event)).toEqual(['started', 'progress', 'timed_out']);
  });

  it('a delete: the tasks left, then gone with the app (GetApp NOT_FOUND) — exit 0', async () => {
    const out: string[] = [];
    const api = scripted([[{ kind: 'DELETE' }, { tasks: [{}, {}] }], [{ kind: 'DELETE' }, { tasks: [{}] }], [{ kind: 'DELETE', state: 'SUCCEEDED' }, undefined]]);
    await followDeployment(api, { stdout: (x) => void out.push(x), stderr: () => undefined }, '/a', 'd1', { json: false, timeoutMs: 0, pollMs: 1 });
    expect(out).toEqual(['delete running: 2 tasks left to stop\n', 'delete running: 1 task left to stop\n', 'delete succeeded: the app and its tasks are gone\n']);
  });

  it('Ctrl-C on a terminal: the line is ended, stderr says the deployment goes on and how to roll it back, exit 130', async () => {
    const tty = fakeTty();
    const interrupt = new AbortController();
    const api = scripted([[{}, {}], [{}, { running: 1 }]]);
    const following = followDeployment(api, tty, '/a', 'd1', { json: false, timeoutMs: 0, pollMs: 60_000, interrupt: interrupt.signal }).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    interrupt.abort();
    const err = await following;
    expect((err as CliExit).exitCode).toBe(130);
    expect(tty.written.at(-1)).toBe('\n');
    expect(tty.screen()).toEqual(['create running [....................] 0/1 running, 0/1 healthy', '']);
    expect(tty.err).toMatch(/^stopped following deployment d1; it goes on \(.*deployment cancel d1 rolls it back\)\n$/);
  });

  it('Ctrl-C with --json: an interrupted event with exit_code 130', async () => {
    const out: string[] = [];
    const interrupt = new AbortController();
    interrupt.abort();
    const err = await followDeployment(scripted([[{}, {}]]), { stdout: (x) => void out.push(x), stderr: () => undefined }, '/a', 'd1', { json: true, timeoutMs: 0, pollMs: 1, interrupt: interrupt.signal }).catch((e: unknown) => e);
    expect((err as CliExit).exitCode).toBe(130);
    expect(out.map((l) => (JSON.parse(l) as { event: string; exit_code?: number })).at(-1)).toMatchObject({ event: 'interrupted', exit_code: 130 });
  });

  it('listens for SIGINT only while it waits', async () => {
    const before = process.listenerCount('SIGINT');
    await followDeployment(scripted([[{ state: 'SUCCEEDED' }, { running: 1, healthy: 1, waiting_instances: 0 }]]), { stdout: () => undefined, stderr: () => undefined }, '/a', 'd1', { json: false, timeoutMs: 0, pollMs: 1 });
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
