import { FakeClock } from '../../../../src/common/clock';
import type { LaunchSpec } from '../../../../src/agent/containerizer/containerizer';
import { FakeContainerizer } from '../../../../src/agent/containerizer/fake-containerizer';

const spec = (id: string, command = 'run'): LaunchSpec => ({
  containerId: id, type: 'PROCESS', frameworkId: 'fw', taskId: `t-${id}`, command: { value: command, shell: true, arguments: [] },
  env: {}, ports: [], cpus: 0.1, memMib: 32, sandboxDir: `/nonexistent/${id}`, labels: {},
});

describe('FakeContainerizer', () => {
  it('runs until killed, ends on its own when told to, fails launches when told to', async () => {
    const clock = new FakeClock(0);
    const cz = new FakeContainerizer(clock, (s) => (s.command.value === 'crash' ? { exitAfterMs: 500, exitCode: 2 } : s.command.value === 'bad' ? { launchFailure: 'no image' } : {}));
    expect((await cz.launch(spec('a'))).started).toBe(true);
    expect((await cz.launch(spec('b', 'crash'))).started).toBe(true);
    expect((await cz.launch(spec('c', 'bad'))).started).toBe(false);
    expect(await cz.wait('c')).toMatchObject({ reason: 'LAUNCH_FAILED', message: 'launch failed: no image' });
    clock.advance(500);
    expect(await cz.wait('b')).toMatchObject({ reason: 'EXITED', exitCode: 2 });
    expect(await cz.exec('a')).toEqual({ exitCode: 0, output: '' });
    await cz.kill('a', 10_000);
    expect(await cz.wait('a')).toMatchObject({ reason: 'KILLED' });
    expect((await cz.recover()).map((c) => [c.containerId, c.alive])).toEqual([['a', false], ['b', false], ['c', false]]);
    for (const id of ['a', 'b', 'c']) await cz.remove(id);
    expect(cz.size).toBe(0);
  });
});
