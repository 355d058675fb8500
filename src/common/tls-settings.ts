/**
 * The TLS settings every daemon and client takes (config file, flags, `BERTH_*` env), apart from the
 * code that reads the files (`tls.ts`), so a config schema does not load gRPC.
 */
import { z } from 'zod';

/** The TLS settings of a daemon or client, as its config file, flags and `BERTH_*` env give them. */
export const tlsSettingsSchema = z.strictObject({
  /** PEM certificate (chain) this process presents. @default unset */
  certFile: z.string().min(1).optional().describe('PEM certificate this process presents'),
  /** PEM private key of `certFile`. @default unset */
  keyFile: z.string().min(1).optional().describe('PEM private key of certFile'),
  /** PEM CA certificates that sign the peers (servers for a client; client certificates for a server). @default unset */
  caFile: z.string().min(1).optional().describe('PEM CA certificates that sign the peers'),
  /**
   * Servers only: `none` asks for no client certificate; `require` (mutual TLS) refuses every
   * connection without one signed by `caFile`, and a caller that sends no bearer token is the
   * principal its certificate's common name names. (There is no "optional" mode: a certificate the
   * server did not verify must never name a principal.) @default 'none'
   */
  clientCertificates: z.enum(['none', 'require']).default('none').describe('client certificates: none or require (mutual TLS; servers)'),
});

export type TlsSettings = z.output<typeof tlsSettingsSchema>;
