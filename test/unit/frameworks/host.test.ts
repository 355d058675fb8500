/**
 * The framework host's plugin isolation without a master (the drivers just keep re-dialling a closed
 * port): a plugin that keeps failing is restarted once per failure streak, whatever its old instance
 * still had queued; a plugin whose first start failed gets its gRPC API once it comes up.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { FakeClock } from '../../../src/common/clock';
import { memoryLogger } from '../../../src/common/logging';
import { loadBerthProto } from '../../../src/common/rpc/proto';
import { FrameworkHost } from '../../../src/frameworks/host/host';
import { MemoryKeyValueStore } from '../../../src/frameworks/sdk/store';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

describe('FrameworkHost', () => {
  it('restarts a plugin that keeps failing exactly once, even with more failures queued behind the fifth', async () => {
    const clock = new FakeClock(1_000_000);
    const store = new MemoryKeyValueStore();
    const host = new FrameworkHost({ masters: ['127.0.0.1:1'], plugins: [{ name: 'failing', module: path.join(__dirname, '..', '..', 'support', 'plugins', 'failing.js') }], store, clock, restartMinMs: 1000, logger: memoryLogger('error') });
    await host.start();
    try {
      const first = host.framework('failing')!;
      const firstDriver = host.driver('failing')!;
      await Promise.all(Array.from({ length: 8 }, () => Promise.resolve(first.offers([])).catch(() => undefined)));
      await settle();
      for (let i = 0; i < 10; i++) {
        clock.advance(1000);
        await settle();
      }
      expect(await store.get('plugins/failing/created')).toBe(2);
      expect(host.driver('failing')).not.toBe(firstDriver);
      expect(firstDriver.connected).toBe(false);
      // The host's metrics say so; the plugin's own counter was made again by the new instance and goes on.
      await Promise.resolve(host.framework('failing')!.offers([])).catch(() => undefined);
      const text = await host.metrics.exposition();
      expect(text).toContain('berth_frameworks_plugin_restarts_total{plugin="failing"} 1');
      expect(text).toContain('berth_frameworks_handler_failures_total{plugin="failing"} 6');
      expect(text).toContain('berth_frameworks_plugin_up{plugin="failing"} 1');
      expect(text).toContain('berth_plugin_failing_offer_events_total 9');
    } finally {
      await host.stop();
    }
    expect(host.driver('failing')).toBeUndefined();
  });

  it('serves the API of a plugin whose first start failed, once it has come up', async () => {
    const clock = new FakeClock(1_000_000);
    let failed = false;
    const store = new (class extends MemoryKeyValueStore {
      override async list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
        if (!failed) {
          failed = true;
          throw new Error('store unavailable');
        }
        return super.list<T>(prefix);
      }
    })();
    const host = new FrameworkHost({ masters: ['127.0.0.1:1'], plugins: [{ name: 'jobs', module: 'jobs' }], store, clock, restartMinMs: 1000, grpc: { host: '127.0.0.1', port: 0 }, logger: memoryLogger('error') });
    await host.start();
    const Jobs = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1['Jobs']!;
    const client = new Jobs(host.grpcAddress!, grpc.credentials.createInsecure());
    try {
      expect(host.framework('jobs')).toBeUndefined();
      clock.advance(1000);
      for (let i = 0; i < 100 && host.framework('jobs') === undefined; i++) await new Promise((r) => setTimeout(r, 10));
      expect(host.framework('jobs')).toBeDefined();
      const res = await new Promise<{ jobs: unknown[] }>((resolve, reject) => (client as unknown as { ListJobs: (r: object, cb: (e: Error | null, v: { jobs: unknown[] }) => void) => void }).ListJobs({}, (e, v) => (e ? reject(e) : resolve(v))));
      expect(res.jobs).toEqual([]);
    } finally {
      client.close();
      await host.stop();
    }
  });
});
