/**
 * Docker Compose / Swarm stack files → services app definitions: the migration path of
 * `berth app import`. A pure function of the parsed file (and the environment it interpolates from):
 * each service becomes one app (id from the service name, under an optional prefix), every key that
 * has no Berth equivalent is listed with its path in `unmapped`, every mapping with a difference in
 * `warnings`; values that cannot be imported throw one {@link ComposeImportError} listing all of them.
 * Each definition is checked as `berth app deploy` would check it before it is returned.
 *
 * See docs/migrating-from-swarm.md for the mapping table.
 */
import { BerthError } from '../../../common/errors';
import { isValidationError } from '../../../common/wire/problems';
import { normalizeAppId, parseAppDefinition } from '../app-definition';
import { AppDraft } from './draft';
import { interpolateTree } from './interpolate';
import { isMapping, Notes, pathText, type Note, type Path } from './notes';
import { convertService, type ServiceContext } from './service';

export { pathText, type Note, type Path } from './notes';
export { parseEnvFile } from './values';

export interface ComposeImportOptions extends ServiceContext {
  /** Apps go under this group (`/shop` → `/shop/web`). */
  readonly prefix?: string;
}

/** One imported service. */
export interface ImportedApp {
  /** The service's name in the file. */
  readonly service: string;
  readonly id: string;
  /** The definition as `berth app deploy` reads it (only the fields the service set). */
  readonly definition: Record<string, unknown>;
}

export interface ComposeImport {
  readonly apps: readonly ImportedApp[];
  /** Keys Berth cannot map, each with why: never silently dropped. */
  readonly unmapped: readonly Note[];
  /** Keys mapped with a difference worth knowing, and keys not read by design (`version`, `x-…`). */
  readonly warnings: readonly Note[];
}

/** The file cannot be imported; `errors` names every bad key and value. */
export class ComposeImportError extends BerthError {
  constructor(readonly errors: readonly Note[], readonly unmapped: readonly Note[], readonly warnings: readonly Note[]) {
    super('INVALID_ARGUMENT', errors.map((e) => (e.at.length === 0 ? e.message : `${pathText(e.at)}: ${e.message}`)).join('; '));
    this.name = 'ComposeImportError';
  }
}

const TOP_LEVEL_NOT_MAPPED: Record<string, string> = {
  networks: 'tasks use host networking: there are no container networks',
  volumes: 'app definitions have no volumes',
  secrets: 'Berth secrets are environment variables in the app\'s "secrets"',
  configs: 'app definitions have no config files',
  include: 'resolve it first: docker compose config prints the file with its includes',
  models: 'app definitions have no models',
};

/** Berth's app id for a service name: lowercase, `_` and `.` as `-`, under the prefix. */
function appIdOf(service: string, prefix: string | undefined): { ok: true; id: string; changed: boolean } | { ok: false; problem: string } {
  const segment = service.toLowerCase().replace(/[_.]+/g, '-');
  const r = normalizeAppId(`${prefix ?? ''}/${segment}`);
  if (!r.ok) return { ok: false, problem: `cannot be an app id (${r.problem})` };
  return { ok: true, id: r.id, changed: segment !== service };
}

/**
 * Converts a parsed Compose file.
 * @throws ComposeImportError with every value that cannot be imported (and what was found besides).
 */
export function importCompose(parsed: unknown, opts: ComposeImportOptions): ComposeImport {
  const notes = new Notes();
  const prefix = opts.prefix === undefined ? undefined : normalizeAppId(opts.prefix);
  if (prefix !== undefined && !prefix.ok) throw new ComposeImportError([{ at: [], message: `the prefix ${prefix.problem}` }], [], []);
  const { value: file, problems } = interpolateTree(parsed, opts.env);
  for (const p of problems) notes.error(p.at, p.message);
  const drafts: { service: string; draft: AppDraft; at: Path }[] = [];
  if (!isMapping(file)) notes.error([], `must be a Compose file (a mapping with services), got ${Array.isArray(file) ? 'a list' : JSON.stringify(file)}`);
  else {
    for (const [k, v] of Object.entries(file)) {
      if (k === 'services') continue;
      if (k.startsWith('x-')) notes.warn([k], 'extension field: not read (YAML anchors and merges from it are resolved)');
      else if (k === 'version') notes.warn([k], 'obsolete (as in Compose): not read');
      else if (k === 'name') notes.warn([k], 'the project name is not used: give --prefix /NAME to put the apps under a group');
      else notes.unmappedKey([k], TOP_LEVEL_NOT_MAPPED[k] ?? 'not a top-level Compose key');
    }
    const services = file.services;
    if (!isMapping(services) || Object.keys(services).length === 0) {
      notes.error(['services'], `is required: a mapping of service names to services, got ${services === undefined ? 'nothing' : isMapping(services) ? 'no services' : JSON.stringify(services)}`);
    } else {
      const ids = new Map<string, string>();
      for (const [name, svc] of Object.entries(services)) {
        const at = ['services', name];
        if (name.startsWith('x-')) {
          notes.warn(at, 'extension field: not read');
          continue;
        }
        const id = appIdOf(name, prefix?.ok === true ? prefix.id : undefined);
        if (!id.ok) {
          notes.error(at, `the service name ${JSON.stringify(name)} ${id.problem}`);
          continue;
        }
        if (ids.has(id.id)) notes.error(at, `becomes app ${id.id}, as services.${ids.get(id.id)} does: rename one of them`);
        ids.set(id.id, name);
        if (id.changed) notes.warn(at, `becomes app ${id.id} (app ids are lowercase letters, digits and dashes)`);
        if (!isMapping(svc)) {
          notes.wrongShape(at, 'a mapping (image, command, deploy, …)', svc);
          continue;
        }
        const draft = new AppDraft(id.id);
        convertService(svc, at, draft, opts, notes);
        drafts.push({ service: name, draft, at });
      }
    }
  }
  const apps: ImportedApp[] = [];
  if (notes.errors.length === 0) {
    for (const { service, draft, at } of drafts) {
      const definition = draft.toDefinition();
      try {
        parseAppDefinition(definition);
        apps.push({ service, id: draft.id, definition });
      } catch (err) {
        if (!isValidationError(err)) throw err;
        for (const p of err.problems) notes.error(at, `as app ${draft.id}, ${p.field}: ${p.message}`);
      }
    }
  }
  if (notes.errors.length > 0) throw new ComposeImportError(notes.errors, notes.unmapped, notes.warnings);
  return { apps, unmapped: notes.unmapped, warnings: notes.warnings };
}
