/**
 * The `yaml` package, loaded on first use: ~280 KiB of source (about 1 MiB of heap once compiled,
 * kept for the life of the process) that a daemon configured by flags or JSON and fed JSON
 * definitions never needs (bench:idle).
 */
import type * as Yaml from 'yaml';

let loaded: typeof Yaml | undefined;

/** The `yaml` module (parse, parseDocument, …), required the first time it is asked for. */
export function yaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require('yaml') as typeof Yaml;
  return loaded;
}
