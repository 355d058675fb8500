/**
 * A plugin's options (`frameworks.<plugin>.options`, `--plugin-options`) checked against its zod
 * schema, with the defaults filled in; each problem names `options.<field>` and the value given.
 */
import type { z } from 'zod';
import { describeValue, ValidationError } from '../../common/wire/problems';

/** @throws ValidationError naming each bad option (`options.historySize: …, got 0`, `unknown option(s) x`). */
export function parsePluginOptions<S extends z.ZodType>(schema: S, raw: Readonly<Record<string, unknown>> | undefined): z.output<S> {
  const r = schema.safeParse(raw ?? {});
  if (r.success) return r.data;
  throw new ValidationError(
    r.error.issues.map((i) => {
      const value = i.path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), raw);
      return { field: ['options', ...i.path.map(String)].join('.'), message: i.code === 'unrecognized_keys' ? `unknown option(s) ${i.keys.join(', ')}` : `${i.message}, got ${describeValue(value)}` };
    }),
  );
}
