/**
 * Each plugin of a framework host can be its own principal toward the masters: a plugin given its
 * own token (`PluginSpec.token`, `pluginTokenFiles` in the config) subscribes with it — the master
 * records that principal, its ACLs apply — and its context says which principal it is; plugins
 * without one use the host's token, as before.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Authenticator } from '../../src/common/auth';
import { SystemClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { FrameworkHost } from '../../src/frameworks/host/host';
import { MemoryKeyValueStore } from '../../src/frameworks/sdk/store';
import type { GetFrameworksResponse__Output } from '../../src/generated/berth/v1/GetFrameworksResponse';
import { startTestMaster, TestOperator, waitFor, type TestMaster } from '../support/master-harness';

const WHOAMI = path.join(__dirname, '..', 'support', 'plugins', 'whoami.js');
const TOKENS = { host: 'host-token', reports: 'reports-token', ops: 'ops-token' };

describe('framework host: a principal per plugin', () => {
  let master: TestMaster | undefined;
  let host: FrameworkHost | undefined;
  let operator: TestOperator | undefined;
  afterEach(async () => {
    operator?.close();
    await host?.stop();
    await master?.stop();
    master = host = operator = undefined;
  });

  test('a plugin with its own token subscribes as its own principal, the others as the host', async () => {
    const authenticator = new Authenticator(Object.entries(TOKENS).map(([name, token]) => ({ name, token })));
    master = await startTestMaster({ authenticate: authenticator });
    const store = new MemoryKeyValueStore();
    host = new FrameworkHost({
      masters: [master.address],
      token: TOKENS.host,
      authenticator,
      plugins: [
        { name: 'web', module: WHOAMI, options: { name: 'web' } },
        { name: 'reports', module: WHOAMI, options: { name: 'reports' }, token: TOKENS.reports },
      ],
      store,
      clock: new SystemClock(),
      logger: memoryLogger('error'),
    });
    await host.start();
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${TOKENS.ops}`);
    operator = new TestOperator(master.address, metadata);
    const principals = async (): Promise<Record<string, string | undefined>> => {
      const { frameworks } = await operator!.call<GetFrameworksResponse__Output>('GetFrameworks');
      return Object.fromEntries(frameworks.map((f) => [f.framework_info!.name, f.framework_info!.principal || undefined]));
    };
    await waitFor(() => host!.driver('web')?.connected === true && host!.driver('reports')?.connected === true, 'both plugins to subscribe', 10_000);
    expect(await principals()).toEqual({ web: 'host', reports: 'reports' });
    // Each plugin's context named the principal it subscribes as.
    expect(await store.get('plugins/web/principal')).toBe('host');
    expect(await store.get('plugins/reports/principal')).toBe('reports');
  });
});
