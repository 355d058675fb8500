/**
 * `berth app import FILE`: a Docker Compose / Swarm stack file → app definitions, printed (YAML or
 * JSON, or one file per app with --out-dir) or deployed with --deploy, waiting like `berth app
 * deploy`. Every key it cannot map is listed on stderr with its line and path; bad input (the file,
 * a value, an unset variable) exits 2 naming the file, line, key path and value.
 *
 * The conversion is src/frameworks/services/compose/ (a pure function of the parsed file); the
 * heavy modules (yaml, the definition schema, gRPC) are loaded inside the action.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { BerthError } from '../common/errors';
import { CliExit, jsonText, type CliOutput } from './io';
import { readDefinition, withClient, withFrameworkOptions } from './app-command';
import type { ComposeImport, ImportedApp, Note, Path } from '../frameworks/services/compose/index';

interface ImportOptions {
  frameworks?: string; token?: string; json?: boolean;
  prefix?: string; output: string; outDir?: string; envFile?: string; strict?: boolean;
  deploy?: boolean; force?: boolean; detach?: boolean; timeout: string;
}

const EXIT_USAGE = 2;

/** Registers `import` under `berth app` (which registerAppCommands made). */
export function registerImportCommand(program: Command, out: CliOutput): void {
  const app = program.commands.find((c) => c.name() === 'app');
  if (app === undefined) throw new Error('registerImportCommand runs after registerAppCommands');
  withFrameworkOptions(app.command('import')
    .description('turn a Docker Compose / Swarm stack file into app definitions (one per service): print them, or deploy them with --deploy; keys that cannot be mapped are listed on stderr. Exits 0 when imported, 2 for bad input; with --deploy as berth app deploy (3 failed, 4 rolled back, 5 --timeout ran out)')
    .argument('<file>', 'the compose file (- for stdin)')
    .option('--prefix <group>', 'put the apps under this group: /shop → /shop/web')
    .option('--output <format>', 'yaml (one document per app, as berth app deploy reads them) or json (a list)', 'yaml')
    .option('--out-dir <dir>', 'write one definition file per app into this directory (<app>.yaml or .json) instead of printing them')
    .option('--env-file <file>', 'variables for ${VAR} interpolation (default: .env beside the file, when it exists); the environment wins')
    .option('--strict', 'exit 2 when any key cannot be mapped, instead of listing it and going on')
    .option('--deploy', 'deploy the apps and wait for their deployments (as berth app deploy)')
    .option('--force', 'with --deploy: replace a deployment in progress')
    .option('--detach', 'with --deploy: do not wait for the deployments')
    .option('--timeout <time>', 'with --deploy: give up waiting after this long for all of them, as berth app deploy --timeout (90, 90s, 5m; 0: no limit)', '0'))
    .addHelpText('after', '\nExamples:\n  berth app import docker-compose.yml\n  berth app import stack.yml --prefix /shop --output json\n  berth app import stack.yml --deploy --timeout 5m\n\nDetails and the mapping table: docs/migrating-from-swarm.md')
    .action(async (file: string, opts: ImportOptions) => runImport(file, opts, out));
}

async function runImport(file: string, opts: ImportOptions, out: CliOutput): Promise<void> {
  const format = opts.json === true ? 'json' : opts.output;
  if (format !== 'yaml' && format !== 'json') throw new BerthError('INVALID_ARGUMENT', `--output must be yaml or json, got "${opts.output}"`);
  if (opts.deploy === true && opts.outDir !== undefined) throw new BerthError('INVALID_ARGUMENT', '--out-dir and --deploy do not go together: write the files, or deploy');
  if (opts.prefix !== undefined) {
    const { normalizeAppId } = require('../frameworks/services/app-definition') as typeof import('../frameworks/services/app-definition');
    const r = normalizeAppId(opts.prefix);
    if (!r.ok) throw new BerthError('INVALID_ARGUMENT', `--prefix ${r.problem}`);
  }
  const { parseTimeout } = require('./deployment-follow') as typeof import('./deployment-follow');
  const timeoutMs = parseTimeout(opts.timeout);
  const text = readDefinition(file);
  const name = file === '-' ? '<stdin>' : file;
  const dir = file === '-' ? process.cwd() : path.dirname(path.resolve(file));
  const readIfExists = (p: string): string | undefined => {
    try {
      return fs.readFileSync(path.resolve(dir, p), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new BerthError('INVALID_ARGUMENT', `cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const compose = require('../frameworks/services/compose/index') as typeof import('../frameworks/services/compose/index');
  const { parseComposeText, ComposeSyntaxError } = require('../frameworks/services/compose/source') as typeof import('../frameworks/services/compose/source');

  // Variables: the environment, over --env-file (or .env beside the file), as in Compose.
  let fileVars: Record<string, string> = {};
  const envFile = opts.envFile ?? '.env';
  const envText = opts.envFile !== undefined ? readDefinition(opts.envFile) : readIfExists(envFile);
  if (envText !== undefined) {
    const parsed = compose.parseEnvFile(envText);
    if (!parsed.ok) fail(out, `${envFile}:${parsed.line}: ${parsed.problem}`);
    fileVars = parsed.value;
  }
  const env = (n: string): string | undefined => process.env[n] ?? fileVars[n];

  let source: ReturnType<typeof parseComposeText>;
  try {
    source = parseComposeText(text);
  } catch (err) {
    if (err instanceof ComposeSyntaxError) fail(out, `${name}${err.line === undefined ? '' : `:${err.line}`}: ${err.message}`);
    throw err;
  }
  const where = (at: Path): string => {
    const line = at.length > 0 ? source.lineOf(at) : undefined;
    return `${name}${line === undefined ? '' : `:${line}`}: ${at.length === 0 ? '' : `${compose.pathText(at)}: `}`;
  };
  /** Unmapped keys and notes together, in the order of their lines in the file. */
  const list = (unmapped: readonly Note[], warnings: readonly Note[]): void => {
    const all = [...unmapped.map((n) => ({ n, kind: 'not imported' })), ...warnings.map((n) => ({ n, kind: 'note' }))]
      .map((x) => ({ ...x, line: source.lineOf(x.n.at) ?? 0 }))
      .sort((a, b) => a.line - b.line);
    for (const { n, kind } of all) out.stderr(`${where(n.at)}${kind}: ${n.message}\n`);
  };

  let result: ComposeImport;
  try {
    result = compose.importCompose(source.parsed, { env, envFile: readIfExists, ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }) });
  } catch (err) {
    if (!(err instanceof compose.ComposeImportError)) throw err;
    list(err.unmapped, err.warnings);
    for (const e of err.errors) out.stderr(`berth app import: ${where(e.at)}${e.message}\n`);
    throw new CliExit(EXIT_USAGE);
  }
  list(result.unmapped, result.warnings);
  const unmapped = result.unmapped.length;
  out.stderr(`${result.apps.length} service${result.apps.length === 1 ? '' : 's'} → ${result.apps.map((a) => a.id).join(', ')}${unmapped > 0 ? `; ${unmapped} key${unmapped === 1 ? '' : 's'} not imported (listed above)` : ''}\n`);
  if (opts.strict === true && unmapped > 0) fail(out, `--strict: ${unmapped} key${unmapped === 1 ? '' : 's'} cannot be mapped (listed above): change the file, or import without --strict`);

  if (opts.deploy === true) return deployApps(result.apps, opts, timeoutMs, out);
  const yaml = format === 'yaml' ? require('yaml') as typeof import('yaml') : undefined;
  const render = (defs: unknown): string => (yaml !== undefined ? yaml.stringify(defs) : `${JSON.stringify(defs, null, 2)}\n`);
  if (opts.outDir !== undefined) {
    fs.mkdirSync(opts.outDir, { recursive: true });
    for (const a of result.apps) {
      const target = path.join(opts.outDir, `${a.id.slice(1).split('/').join('.')}.${format}`);
      fs.writeFileSync(target, render(a.definition));
      out.stdout(`${target}\n`);
    }
  } else if (yaml !== undefined) out.stdout(result.apps.map((a) => render(a.definition)).join('---\n'));
  else out.stdout(render(result.apps.map((a) => a.definition)));
}

/** Ends the command with exit 2 after saying why. */
function fail(out: CliOutput, message: string): never {
  out.stderr(`berth app import: ${message}\n`);
  throw new CliExit(EXIT_USAGE);
}

/** PutApp for every app, then waits for each deployment as `berth app deploy` does; the first failure's exit code wins. */
async function deployApps(apps: readonly ImportedApp[], opts: ImportOptions, timeoutMs: number, out: CliOutput): Promise<void> {
  const { followDeployment } = require('./deployment-follow') as typeof import('./deployment-follow');
  await withClient('Services', opts, async (c) => {
    const started: { id: string; deployment: string }[] = [];
    for (const a of apps) {
      const res = await c.call<{ deployment_id: string; created: boolean; app_id: string }>('PutApp', { definition: JSON.stringify(a.definition), force: opts.force === true });
      if (opts.json === true) out.stdout(jsonText(res));
      else out.stdout(`${res.created ? 'created' : 'changed'} ${res.app_id}; deployment ${res.deployment_id || '(none: nothing changed)'}\n`);
      started.push({ id: res.app_id, deployment: res.deployment_id });
    }
    if (opts.detach === true) return;
    const giveUpAt = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    let code = 0;
    for (const s of started) {
      if (started.length > 1 && opts.json !== true) out.stdout(`${s.id}:\n`);
      try {
        await followDeployment(c, out, s.id, s.deployment, { json: opts.json === true, timeoutMs: giveUpAt === undefined ? 0 : Math.max(1, giveUpAt - Date.now()) });
      } catch (err) {
        if (!(err instanceof CliExit)) throw err;
        code ||= err.exitCode;
      }
    }
    if (code !== 0) throw new CliExit(code);
  });
}
