/**
 * When the CLI reaches a server that is not the one it wants — a master's HTTP port, or the master
 * where the framework host was meant — it says which port it reached and where to point instead.
 * What a gRPC port serves is asked through the standard health service (`grpc.health.v1.Health`),
 * which every Berth server exposes with the names of its services.
 */
import * as grpc from '@grpc/grpc-js';

/** The Berth daemons, by a service only they serve, with the port to use instead. */
const DAEMONS = [
  { service: 'berth.v1.Operator', name: 'a master\'s gRPC port', port: 'a master\'s gRPC port (berth master --grpc-port, 5050 by default)' },
  { service: 'berth.v1.Services', name: 'the framework host\'s API port', port: 'the framework host\'s API port (berth frameworks --grpc-port; berth dev: 127.0.0.1:5060)' },
  { service: 'berth.v1.Jobs', name: 'the framework host\'s API port', port: 'the framework host\'s API port (berth frameworks --grpc-port; berth dev: 127.0.0.1:5060)' },
] as const;

/** Where to point a client of `service` instead, for messages. */
export function portFor(service: string): string {
  return DAEMONS.find((d) => d.service === `berth.v1.${service}`)?.port ?? `a server of berth.v1.${service}`;
}

/** `grpc.health.v1.HealthCheckRequest { string service = 1; }`, encoded by hand (one field). */
function healthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, name.length]), name]);
}

/** `HealthCheckResponse { ServingStatus status = 1; }`: SERVING is 1. */
const serving = (buf: Buffer): boolean => buf.length >= 2 && buf[0] === 0x08 && buf[1] === 1;

/** Whether the gRPC server at `address` serves `service` (undefined: it did not say). */
function serves(client: grpc.Client, service: string, timeoutMs: number): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, healthRequest(service), new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err === null && res !== undefined) resolve(serving(res));
      else resolve(err?.code === grpc.status.NOT_FOUND ? false : undefined);
    });
  });
}

/** Which Berth daemon's gRPC port `address` is, by the services it serves (undefined: none known). */
export async function whichDaemon(address: string, credentials: grpc.ChannelCredentials, timeoutMs = 2000): Promise<string | undefined> {
  const client = new grpc.Client(address, credentials);
  try {
    for (const d of DAEMONS) if ((await serves(client, d.service, timeoutMs)) === true) return d.name;
    return undefined;
  } finally {
    client.close();
  }
}

/** Whether a failed call's details say the server does not speak HTTP/2 (an HTTP/1 port). */
export function notGrpc(details: string): boolean {
  return /Protocol error/i.test(details);
}

/** Whether UNIMPLEMENTED came because the server lacks the whole service (not one newer method). */
export function lacksService(details: string, service: string): boolean {
  return details.includes(`method /berth.v1.${service}/`);
}
