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
   * Servers only: `none` ignores client certificates; `request` takes a verified one as the caller's
   * principal (bearer tokens still work); `require` refuses connections without one. @default 'none'
   */
  clientCertificates: z.enum(['none', 'request', 'require']).default('none').describe('client certificates: none, request or require (servers)'),
});

export type TlsSettings = z.output<typeof tlsSettingsSchema>;
