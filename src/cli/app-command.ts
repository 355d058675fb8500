/**
 * `berth app …` and `berth deployment …`: the services framework's API (berth.v1.Services) for
 * people — tables by default, `--json` for scripts (the API's answer); `deploy`, `scale`, `restart`
 * and `rm` wait for their deployment and show its progress unless `--detach`, and exit non-zero
 * when it fails, is rolled back or does not finish within `--timeout` (deployment-follow.ts).
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { BerthError } from '../common/errors';
import { jsonText, type CliOutput } from './io';
import { DEPLOY_EXIT_HELP, followDeployment, parseTimeout, TIMEOUT_HELP, type Deployment, type ProgressStatus } from './deployment-follow';
import type { ApiClient } from './operator-client';
import { table, timeText } from './table';

interface Common {
  frameworks?: string;
  token?: string;
  json?: boolean;
}

interface AppStatus extends ProgressStatus {
  staged: number; unhealthy: number;
  deployment?: Deployment | null; last_deployment?: Deployment | null;
  rejected_offers?: { considered: number; reasons: { reason: string; count: number }[] } | null;
  tasks: { task_id: string; hostname: string; state: string; healthy?: boolean | null; version: string; instance: number }[];
  delayed_instances?: { instance: number; failures: number; delay_seconds: number; launch_at?: { nanoseconds?: string } | null; reason: string }[];
}
interface AppInfo { id: string; version: string; definition_json: string; status: AppStatus }

/** Adds the options every `berth app|deployment|job` command takes. */
export function withFrameworkOptions(cmd: Command): Command {
  return cmd
    .option('--frameworks <host:port>', 'the framework host\'s API (or BERTH_FRAMEWORKS; berth dev: 127.0.0.1:5060)')
    .option('--token <token>', 'bearer token (or BERTH_TOKEN)')
    .option('--tls-ca-file <file>', 'CA certificate of a TLS server (or BERTH_TLS_CA_FILE; a client certificate: BERTH_TLS_CERT_FILE, BERTH_TLS_KEY_FILE)')
    .option('--json', 'print the API\'s answer as JSON');
}

/** Runs `fn` with a client of `service`, closing it after. */
export async function withClient<T>(service: 'Services' | 'Jobs' | 'Batch', opts: Common, fn: (c: ApiClient) => Promise<T>): Promise<T> {
  const { frameworksClient, frameworksTarget } = require('./operator-client') as typeof import('./operator-client');
  const client = frameworksClient(service, frameworksTarget(opts));
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** The text of a definition file (`-` for stdin). */
export function readDefinition(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function nonNegativeInt(what: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new BerthError('INVALID_ARGUMENT', `${what} must be a non-negative integer, got "${value}"`);
  return n;
}

export function registerAppCommands(program: Command, out: CliOutput): void {
  const app = program.command('app').description('long-running apps (the services framework)');
  const print = (json: boolean | undefined, value: unknown, text: () => string): void => out.stdout(json ? jsonText(value) : text());
  /** The options of a command that waits for its deployment (`rm` has no deployment to replace). */
  const waitOptions = (cmd: Command): Command => cmd
    .option('--detach', 'do not wait for the deployment: print its id and return')
    .option('--timeout <time>', TIMEOUT_HELP, '0');
  const waiting = (cmd: Command): Command => waitOptions(cmd.option('--force', 'replace a deployment in progress'));
  const follow = (c: ApiClient, appId: string, deploymentId: string, opts: Common & { timeout: string }, started?: Record<string, unknown>): Promise<void> =>
    followDeployment(c, out, appId, deploymentId, { json: opts.json === true, timeoutMs: parseTimeout(opts.timeout), ...(started === undefined ? {} : { started }) });

  withFrameworkOptions(waiting(app.command('deploy').description(`create or change an app from a JSON or YAML definition; waits for the deployment and ${DEPLOY_EXIT_HELP}`)
    .argument('<file>', 'the app definition (- for stdin)')))
    .addHelpText('after', '\nExamples:\n  berth app deploy web.json\n  berth app deploy web.yaml --timeout 5m\n  berth app deploy web.yaml --detach --json')
    .action(async (file: string, opts: Common & { force?: boolean; detach?: boolean; timeout: string }) => {
      parseTimeout(opts.timeout);
      const text = readDefinition(file);
      await withClient('Services', opts, async (c) => {
        const res = await c.call<{ deployment_id: string; created: boolean; app_id: string }>('PutApp', { definition: text, force: opts.force === true });
        if (opts.detach === true) print(opts.json, res, () => `${res.created ? 'created' : 'changed'} ${res.app_id}; deployment ${res.deployment_id || '(none: nothing changed)'}\n`);
        else await follow(c, res.app_id, res.deployment_id, opts, { created: res.created });
      });
    });

  withFrameworkOptions(app.command('list').description('every app with its instances').option('--prefix <path>', 'only apps under this path'))
    .action(async (opts: Common & { prefix?: string }) => withClient('Services', opts, async (c) => {
      const res = await c.call<{ apps: AppInfo[] }>('ListApps', { prefix: opts.prefix ?? '' });
      print(opts.json, res, () => table(['ID', 'INSTANCES', 'RUNNING', 'HEALTHY', 'DEPLOYMENT', 'WAITING'], res.apps.map((a) => [a.id, a.status.instances, a.status.running, a.status.healthy, a.status.deployment ? `${a.status.deployment.kind.toLowerCase()} ${a.status.deployment.state.toLowerCase()}` : '-', a.status.waiting || '-'])));
    }));

  withFrameworkOptions(app.command('show').description('an app: its status, tasks, and why instances are not running').argument('<app-id>'))
    .action(async (id: string, opts: Common) => withClient('Services', opts, async (c) => {
      const res = await c.call<{ app: AppInfo }>('GetApp', { app_id: id });
      print(opts.json, res, () => {
        const s = res.app.status;
        const lines = [
          `${res.app.id}  version ${res.app.version}`,
          `instances ${s.instances}: ${s.running} running, ${s.healthy} healthy, ${s.staged} staged, ${s.waiting_instances} waiting`,
          ...(s.deployment ? [`deployment ${s.deployment.id}: ${s.deployment.kind.toLowerCase()} ${s.deployment.state.toLowerCase()}`] : []),
          ...(!s.deployment && s.last_deployment ? [`last deployment ${s.last_deployment.id}: ${s.last_deployment.kind.toLowerCase()} ${s.last_deployment.state.toLowerCase()}${s.last_deployment.message ? ` — ${s.last_deployment.message}` : ''}`] : []),
          ...(s.waiting ? [`waiting: ${s.waiting}`] : []),
          ...(s.backoff_seconds > 0 ? [`launch backoff: ${s.backoff_seconds} s`] : []),
          ...(s.delayed_instances ?? []).map((d) => `instance ${d.instance} relaunches at ${timeText(d.launch_at)} after failure ${d.failures} (backoff ${d.delay_seconds} s): ${d.reason || '-'}`),
          ...(s.last_failure ? [`last failure: ${s.last_failure.task_id} ${s.last_failure.state} ${s.last_failure.message}`] : []),
          ...((s.rejected_offers?.reasons.length ?? 0) > 0 ? [`offers declined (last ${s.rejected_offers!.considered}): ${s.rejected_offers!.reasons.map((r) => `${r.reason} ×${r.count}`).join(', ')}`] : []),
          '',
          table(['TASK', 'INSTANCE', 'HOST', 'STATE', 'HEALTHY', 'VERSION'], s.tasks.map((t) => [t.task_id, t.instance, t.hostname || '-', t.state, t.healthy === undefined || t.healthy === null ? '-' : String(t.healthy), t.version])),
        ];
        return `${lines.join('\n')}`;
      });
    }));

  withFrameworkOptions(waiting(app.command('scale').description(`change the number of instances; waits for the deployment and ${DEPLOY_EXIT_HELP}`).argument('<app-id>').argument('<instances>')))
    .action(async (id: string, n: string, opts: Common & { force?: boolean; detach?: boolean; timeout: string }) => {
      const instances = nonNegativeInt('instances', n);
      parseTimeout(opts.timeout);
      await withClient('Services', opts, async (c) => {
        const res = await c.call<{ deployment_id: string }>('ScaleApp', { app_id: id, instances, force: opts.force === true });
        if (opts.detach === true) print(opts.json, res, () => `deployment ${res.deployment_id}\n`);
        else await follow(c, id, res.deployment_id, opts);
      });
    });

  withFrameworkOptions(waiting(app.command('restart').description(`replace every task of an app; waits for the deployment and ${DEPLOY_EXIT_HELP}`).argument('<app-id>')))
    .action(async (id: string, opts: Common & { force?: boolean; detach?: boolean; timeout: string }) => {
      parseTimeout(opts.timeout);
      await withClient('Services', opts, async (c) => {
        const res = await c.call<{ deployment_id: string }>('RestartApp', { app_id: id, force: opts.force === true });
        if (opts.detach === true) print(opts.json, res, () => `deployment ${res.deployment_id}\n`);
        else await follow(c, id, res.deployment_id, opts);
      });
    });

  withFrameworkOptions(waitOptions(app.command('rm').description(`delete an app: its tasks are killed; waits until the app and its tasks are gone and ${DEPLOY_EXIT_HELP}`).argument('<app-id>')))
    .addHelpText('after', '\nExamples:\n  berth app rm /shop/web\n  berth app rm /shop/web --timeout 2m\n  berth app rm /shop/web --detach')
    .action(async (id: string, opts: Common & { detach?: boolean; timeout: string }) => {
      parseTimeout(opts.timeout);
      await withClient('Services', opts, async (c) => {
        const res = await c.call<{ deployment_id: string }>('DeleteApp', { app_id: id });
        if (opts.detach === true) print(opts.json, res, () => `deleting ${id}; deployment ${res.deployment_id}\n`);
        else await follow(c, id, res.deployment_id, opts);
      });
    });

  const deployment = program.command('deployment').description('deployments of the services framework');
  withFrameworkOptions(deployment.command('list').description('deployments in progress (with --all, finished ones too)').option('--app <app-id>', 'only this app\'s').option('--all', 'include finished deployments'))
    .action(async (opts: Common & { app?: string; all?: boolean }) => withClient('Services', opts, async (c) => {
      const res = await c.call<{ deployments: Deployment[] }>('ListDeployments', { app_id: opts.app ?? '', include_finished: opts.all === true });
      print(opts.json, res, () => table(['ID', 'APP', 'KIND', 'STATE', 'STARTED', 'MESSAGE'], res.deployments.map((d) => [d.id, d.app_id, d.kind.toLowerCase(), d.state.toLowerCase(), timeText(d.started_at), d.message || '-'])));
    }));
  withFrameworkOptions(deployment.command('cancel').description('cancel a deployment: the app goes back to its previous version').argument('<deployment-id>'))
    .action(async (id: string, opts: Common) => withClient('Services', opts, async (c) => {
      const res = await c.call<{ rollback_deployment_id: string }>('CancelDeployment', { deployment_id: id });
      print(opts.json, res, () => `cancelled ${id}${res.rollback_deployment_id ? `; rolling back with ${res.rollback_deployment_id}` : ''}\n`);
    }));
}
