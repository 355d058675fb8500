/**
 * Options of the services framework (`frameworks.services.options` in the host's configuration),
 * validated in one place. Every option has a default.
 */
import { z } from 'zod';
import { describeValue, ValidationError } from '../../common/wire/problems';

const positive = (d: number) => z.number().positive().default(d);

const schema = z.strictObject({
  /** The framework's name as the master shows it. @default "services" */
  name: z.string().min(1).default('services'),
  /** Roles to subscribe to; an app's `role` must be one of them. @default ["*"] */
  roles: z.array(z.string().min(1)).min(1).default(['*']),
  /** Role of apps that name none. @default the first of `roles` */
  defaultRole: z.string().min(1).optional(),
  /** Principal to subscribe as. @default none */
  principal: z.string().min(1).optional(),
  /** Unix user tasks run as. @default the agent's */
  user: z.string().min(1).optional(),
  /** Seconds an unused offer's agent is not offered again. @default 5 */
  refuseSeconds: z.number().min(0).default(5),
  /** How many recent offers each app's rejection summary covers. @default 50 */
  rejectSummaryOffers: z.number().int().min(1).default(50),
  /** A task not RUNNING this long after launch (or after a framework restart) is killed and replaced. @default 300 */
  taskLaunchTimeoutSeconds: positive(300),
  /** A kill not confirmed this long after it was asked for is sent again. @default 30 */
  killRetrySeconds: positive(30),
  /** An instance slot's launch backoff resets once its task has been healthy this long. @default 60 */
  backoffResetSeconds: positive(60),
  /** Definitions kept per app under `versions/`. @default 20 */
  maxVersions: z.number().int().min(1).default(20),
  /** Finished deployments kept. @default 50 */
  maxFinishedDeployments: z.number().int().min(0).default(50),
  /** Failover timeout in seconds (how long the master keeps the tasks while the framework is away). @default 604800 (a week) */
  failoverTimeoutSeconds: z.number().min(0).default(7 * 24 * 3600),
  /** Ask for offers from agents with GPUs (the GPU_RESOURCES capability); apps with `gpus` need it. @default false */
  gpuResources: z.boolean().default(false),
});

export type ServicesOptions = z.output<typeof schema>;

/** Validates the host-given options. @throws ValidationError naming `options.<field>`. */
export function resolveOptions(raw: Readonly<Record<string, unknown>> | undefined): ServicesOptions {
  const r = schema.safeParse(raw ?? {});
  if (!r.success) {
    throw new ValidationError(r.error.issues.map((i) => {
      const path = ['options', ...i.path.map(String)].join('.');
      if (i.code === 'unrecognized_keys') return { field: `${path}.${i.keys.join(',')}`, message: 'is not a known option' };
      let v: unknown = raw;
      for (const seg of i.path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg as string] : undefined;
      return { field: path, message: `${i.message}, got ${describeValue(v)}` };
    }));
  }
  const o = r.data;
  if (o.defaultRole !== undefined && !o.roles.includes(o.defaultRole)) {
    throw ValidationError.of('options.defaultRole', `must be one of options.roles (${o.roles.join(', ')}), got ${describeValue(o.defaultRole)}`);
  }
  return o;
}
