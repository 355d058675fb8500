/**
 * The parts of a master that use NATS (registry.kind: nats): its connection, the leader election, the
 * JetStream registry and the event mirror. Loaded by master-command.ts only for such a master.
 */
import { connect } from '@nats-io/transport-node';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logging';
import { natsAuthOptions } from '../common/nats-auth';
import type { MasterConfig } from '../master/config';
import type { BusEvent } from '../master/event-bus';
import { JetStreamRegistry } from '../master/registry/jetstream-registry';
import { NatsLeaderElection } from '../master/registry/nats-election';
import { mirroredEvent, NatsEventMirror } from '../master/registry/nats-mirror';
import type { RegistryBackend } from '../master/extensions';
import type { Registry } from '../master/registry/registry';

/** The built-in `jetstream` registry backend. */
export async function natsParts(config: MasterConfig, logger: Logger, clock: Clock, httpAddress: string): Promise<RegistryBackend & { readonly close: () => Promise<void> }> {
  const nc = await connect({ servers: config.nats.servers, name: `berth-master ${config.masterId}`, maxReconnectAttempts: -1, ...natsAuthOptions(config.nats, 'nats') } as never);
  const closers: (() => Promise<void>)[] = [async () => void (await nc.close())];
  const election = new NatsLeaderElection({ nc, bucket: config.nats.electionBucket, replicas: config.nats.replicas, leaseMs: config.nats.leaseMs, renewFrom: { worker: { servers: config.nats.servers, auth: config.nats } }, self: { id: config.masterId, grpcAddress: `${config.grpc.host}:${config.grpc.port}`, httpAddress }, clock, logger: logger.child({ component: 'election' }) });
  const openRegistry = (term: number): Promise<Registry> => JetStreamRegistry.open({ nc, bucket: config.nats.registryBucket, replicas: config.nats.replicas, term, leaderId: config.masterId });
  // Cluster events also go to NATS (berth.events.<kind> and the BERTH_EVENTS stream).
  // Best effort: a master does not fail to start because its stream cannot be set up yet (a NATS
  // cluster still electing its leaders times the request out); it keeps trying in the background.
  const mirrorLogger = logger.child({ component: 'event-mirror' });
  let mirror: NatsEventMirror | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closing = false;
  const setUpMirror = async (): Promise<void> => {
    try {
      mirror = await NatsEventMirror.create({ nc, replicas: config.nats.replicas, logger: mirrorLogger });
      if (closing) await mirror.close();
    } catch (err) {
      if (closing) return;
      mirrorLogger.warn('event mirror unavailable; events are not published to NATS until it is set up (retrying in 5 s)', { err });
      retry = setTimeout(() => void setUpMirror(), 5000);
    }
  };
  await setUpMirror();
  closers.unshift(async () => {
    closing = true;
    clearTimeout(retry);
    await mirror?.close();
  });
  const publishEvent = (event: BusEvent): void => {
    if (mirror === undefined) return;
    const mirrored = mirroredEvent(event);
    if (mirrored !== undefined) mirror.publish(mirrored);
  };
  return {
    election,
    openRegistry,
    publishEvent,
    close: async () => {
      for (const close of closers) await close();
    },
  };
}
