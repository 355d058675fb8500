import { DEPLOY_EXIT, outcomeCode, parseTimeout, progressLine, type Deployment, type ProgressStatus } from '../../../src/cli/deployment-follow';
import { jsonText } from '../../../src/cli/io';

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
    expect(DEPLOY_EXIT).toEqual({ failed: 3, rolledBack: 4, timedOut: 5 });
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
