/**
 * A `berth master` process stopped the normal way (SIGTERM, as systemd and `docker stop` do) gives
 * up leadership quietly: it logs that it stopped leading at info level and no warning at all — a
 * warning there trained operators to ignore the one that matters, a real loss of leadership (which
 * still warns: master-watch.test.ts, "a deposed leader …").
 */
import * as fs from 'node:fs';
import { startMasterProcess, waitForLeader, type MasterProcess } from '../support/master-process';

jest.setTimeout(60_000);

let master: MasterProcess | undefined;
afterEach(async () => {
  await master?.signal('SIGKILL');
  if (master !== undefined) fs.rmSync(master.at.workDir, { recursive: true, force: true });
  master = undefined;
});

test('SIGTERM: the master stops leading without a warning and exits 0', async () => {
  master = await startMasterProcess('m1', ['--auth-enabled', 'false']);
  await waitForLeader([master], 30_000);
  const exited = new Promise<number | null>((resolve) => master!.child.once('exit', (code) => resolve(code)));
  await master.signal('SIGTERM');
  expect(await exited).toBe(0);
  const records = master.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; message: string });
  expect(records.find((r) => r.message.startsWith('stopped leading'))).toMatchObject({ level: 'info', message: 'stopped leading: the master is stopping' });
  expect(records.filter((r) => r.level === 'warn' || r.level === 'error')).toEqual([]);
});
