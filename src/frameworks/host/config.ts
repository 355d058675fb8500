/**
 * Configuration of `berth frameworks` (the framework host): flags, `BERTH_*` environment and a
 * YAML/JSON file, through the generic loader of src/common/config.ts.
 */
import { z } from 'zod';
import { authSettingsSchema } from '../../common/auth-settings';
import { configFields, configMeta, formatConfigTable, port } from '../../common/config';
import { natsAuthFields } from '../../common/nats-auth';
import { tlsSettingsSchema } from '../../common/tls-settings';

/** The host's configuration schema. */
export const frameworksConfigSchema = z.strictObject({
  /** Master gRPC addresses (any of them: standbys point to the leader). @default ['127.0.0.1:5050'] */
  masters: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/).register(configMeta, { expect: 'host:port' }))
    .min(1).default(['127.0.0.1:5050']).describe('master gRPC addresses host:port'),
  /**
   * The plugins to run: built-in names (`services`, `jobs`, `batch`), module paths (`./my-plugin.js`) or package
   * names. Each is named after its last path part (`my-plugin`). @default ['services', 'jobs', 'batch']
   */
  plugins: z.array(z.string().min(1)).min(1).default(['services', 'jobs', 'batch']).describe('plugins: services, jobs, batch, paths or packages'),
  /** Options per plugin name, as JSON: `{"services": {"roles": ["web"]}}`. @default {} */
  pluginOptions: z.string().default('{}')
    .superRefine((text, ctx) => {
      try {
        const v = JSON.parse(text) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) ctx.addIssue({ code: 'custom', message: 'must be a JSON object of plugin name → options' });
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: `must be JSON: ${(e as Error).message}` });
      }
    })
    .describe('options per plugin, JSON: {"name": {...}}'),
  /**
   * A token file per plugin name, as JSON (`{"jobs": "/etc/berth/jobs.token"}`): that plugin
   * subscribes to the masters with its own token, as its own principal; the others use `token` /
   * `tokenFile`. @default {}
   */
  pluginTokenFiles: z.string().default('{}')
    .superRefine((text, ctx) => {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: `must be JSON: ${(e as Error).message}` });
        return;
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of plugin name → token file path' });
        return;
      }
      for (const [name, file] of Object.entries(v)) {
        if (typeof file !== 'string' || file === '') ctx.addIssue({ code: 'custom', message: `${name}: must be the path of a token file, got ${JSON.stringify(file)}` });
      }
    })
    .describe('a token file per plugin, JSON: {"name": "/path/to/token"}'),
  grpc: z.strictObject({
    /** Address of the plugins' gRPC APIs (berth.v1.Services, berth.v1.Jobs …). @default '127.0.0.1' */
    host: z.string().min(1).default('127.0.0.1').describe('gRPC listen address of the plugin APIs'),
    /** Port of the plugins' gRPC APIs; 0 picks one. @default 5060 */
    port: port().default(5060).describe('gRPC listen port of the plugin APIs'),
  }).prefault({}),
  http: z.strictObject({
    /** Address of the host's HTTP port (`/metrics`, `/health/live`, `/health/ready`). @default '127.0.0.1' */
    host: z.string().min(1).default('127.0.0.1').describe('HTTP listen address (metrics, health)'),
    /** Port of `/metrics` and the health checks; 0 picks one. @default 5061 */
    port: port().default(5061).describe('HTTP listen port (metrics, health)'),
  }).prefault({}),
  /** Where the plugins keep their state: `file` (under workDir) or `nats` (JetStream KV, HA). @default 'file' */
  store: z.enum(['file', 'nats']).default('file').describe('state store: file or nats'),
  /** Directory of the file store. @default './berth-frameworks' */
  workDir: z.string().min(1).default('./berth-frameworks').describe('directory of the file store'),
  nats: z.strictObject({
    /** NATS URLs; required when `store` is `nats`. @default [] */
    servers: z.array(z.url({ protocol: /^(nats|tls|wss?)$/ }).register(configMeta, { expect: 'a NATS URL such as nats://127.0.0.1:4222' }))
      .default([]).describe('NATS server URLs (required for store nats)'),
    /** JetStream KV bucket of the plugins' state. @default 'berth-frameworks' */
    bucket: z.string().min(1).default('berth-frameworks').describe('KV bucket of the plugin state'),
    /** Bucket replicas: 3 needs a 3-node NATS cluster. @default 1 */
    replicas: z.literal([1, 3]).default(1).describe('bucket replicas'),
    ...natsAuthFields,
  }).prefault({}),
  /**
   * Who may call the plugins' APIs (berth.v1.Services, berth.v1.Jobs, …): the same tokens file as the
   * masters', and ACLs with the actions view_app, manage_app, view_job, manage_job (objects: app and
   * job ids, `/shop/*`). Must be stated, as for the master: a tokens file, or `enabled: false`.
   */
  auth: authSettingsSchema.prefault({}),
  /**
   * TLS: `certFile`/`keyFile` serve the plugins' APIs over TLS only (and are presented to the masters
   * for mutual TLS); `caFile` verifies the masters (the drivers then dial TLS) and client certificates.
   */
  tls: tlsSettingsSchema.prefault({}),
  /** Bearer token for masters with authentication (a secret: prefer `tokenFile`). @default unset */
  token: z.string().min(1).optional().describe('bearer token for the master (secret; prefer tokenFile)')
    .register(configMeta, { secret: true, defaultText: 'unset' }),
  /** File holding the bearer token. @default unset */
  tokenFile: z.string().min(1).optional().describe('file holding the bearer token'),
  /**
   * Modules file (YAML or JSON): modules for the host's extension points (`authenticator`,
   * `authorizer`; docs/modules.md). A module that cannot be loaded, or refuses its options, stops the
   * host with exit 78. @default none
   */
  modules: z.string().min(1).optional().describe('modules file (YAML or JSON) to load at start'),
  /** Log level. @default 'info' */
  logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('log level'),
}).superRefine((c, ctx) => {
  if (c?.store === 'nats' && Array.isArray(c.nats?.servers) && c.nats.servers.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['nats', 'servers'], message: 'must list at least one NATS URL when store is "nats" (--nats-servers, BERTH_NATS_SERVERS)' });
  }
  if (c?.token !== undefined && c?.tokenFile !== undefined) ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: 'give token or tokenFile, not both' });
  if (Array.isArray(c?.plugins) && typeof c?.pluginTokenFiles === 'string') {
    let files: unknown;
    try {
      files = JSON.parse(c.pluginTokenFiles);
    } catch {
      return; // reported on the field itself
    }
    const names = new Set(c.plugins.map(pluginName));
    for (const name of Object.keys((files ?? {}) as object)) {
      if (!names.has(name)) ctx.addIssue({ code: 'custom', path: ['pluginTokenFiles'], message: `${name}: no such plugin (plugins: ${[...names].join(', ')})` });
    }
  }
});

export type FrameworksConfig = z.output<typeof frameworksConfigSchema>;

/** The plugin name of a module reference: `services`, `./x/my-plugin.js` → `my-plugin`. */
export function pluginName(module: string): string {
  const last = module.replace(/\/+$/, '').split('/').pop() ?? module;
  return last.replace(/\.(c?js|ts)$/, '').replace(/^@[^/]+\//, '').toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

export function describeFrameworksConfig(): string {
  return formatConfigTable(configFields(frameworksConfigSchema, 'BERTH_'));
}
