/**
 * The operator's commands over the master's Operator API: `berth agent list|show|drain|deactivate|
 * reactivate`, `berth framework list|teardown`, `berth task list|show|kill`, `berth quota get|set`,
 * `berth weights get|set`, `berth role list`. Tables for people, `--json` prints the API's answer.
 * (`berth agent` with options and no subcommand still runs the agent daemon.)
 */
import type { Command } from 'commander';
import { BerthError } from '../common/errors';
import type { Resources } from '../common/resources';
import type { CliOutput } from './io';
import type { Operator } from './operator-client';
import { table, timeText } from './table';

interface Common {
  master?: string;
  token?: string;
  json?: boolean;
}

type Wire = Record<string, unknown>;
interface Quantity { name: string; value: number }
interface AgentState {
  agent_info: { hostname: string; id: { value: string }; resources: Wire[]; attributes: { name: string; text?: { value: string }; scalar?: { value: number } }[] };
  lifecycle: string; connected: boolean; deactivated: boolean; drain_info?: { state: string } | null;
  total_resources: Wire[]; allocated_resources: Wire[]; offered_resources: Wire[]; version: string; registered_time?: { nanoseconds: string } | null;
}
interface FrameworkState { framework_info: { id: { value: string }; name: string; roles: string[]; principal: string }; connected: boolean; task_counts: Record<string, number>; allocated_resources: Quantity[] }
interface Task { name: string; task_id: { value: string }; framework_id: { value: string }; agent_id: { value: string }; state: string; role: string; resources: Wire[]; statuses: { message: string; healthy?: boolean | null }[] }
interface RoleState { name: string; weight: number; dominant_share: number; allocated: Quantity[]; quota?: { guarantees: Quantity[]; limits: Quantity[] } | null; frameworks: { value: string }[] }

const quantities = (q: readonly Quantity[] | undefined): string => (q ?? []).map((x) => `${x.name}:${Math.round(x.value * 1000) / 1000}`).join(';') || '-';
const resources = (r: readonly Wire[] | undefined): string => {
  try {
    const { resourcesFromWire } = require('../common/wire') as typeof import('../common/wire');
    const text = resourcesFromWire((r ?? []) as never).toString();
    return text === '' ? '-' : text;
  } catch {
    return '?';
  }
};

function withMasterOptions(cmd: Command): Command {
  return cmd
    .option('--master <host:port>', 'the master (or BERTH_MASTER)')
    .option('--token <token>', 'bearer token (or BERTH_TOKEN)')
    .option('--tls-ca-file <file>', 'CA certificate of a TLS server (or BERTH_TLS_CA_FILE; a client certificate: BERTH_TLS_CERT_FILE, BERTH_TLS_KEY_FILE)')
    .option('--json', 'print the API\'s answer as JSON');
}

async function withOperator<T>(opts: Common, fn: (o: Operator) => Promise<T>): Promise<T> {
  const { Operator, operatorTarget } = require('./operator-client') as typeof import('./operator-client');
  const operator = new Operator(operatorTarget(opts));
  try {
    return await fn(operator);
  } finally {
    operator.close();
  }
}

/** Parses `role=cpus:4;mem:1024` (the quantities in the resources text form). */
function roleQuantities(arg: string, what: string): { role: string; quantities: Quantity[] } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `${what} must be ROLE=QUANTITIES such as eng=cpus:4;mem:8192, got "${arg}"`);
  let parsed: Resources;
  try {
    parsed = (require('../common/resources') as typeof import('../common/resources')).Resources.parse(arg.slice(eq + 1));
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${what}: ${(err as Error).message}`);
  }
  return { role: arg.slice(0, eq), quantities: [...parsed.quantities()].map(([name, milli]) => ({ name, value: milli / 1000 })) };
}

export function registerClusterCommands(program: Command, out: CliOutput): void {
  const print = (json: boolean | undefined, value: unknown, text: () => string): void => out.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : text());
  const agentCmd = program.commands.find((c) => c.name() === 'agent');
  if (agentCmd === undefined) throw new Error('register the agent daemon command first');
  // `berth agent list --master X`: options after a subcommand belong to it, not to the daemon.
  program.enablePositionalOptions();
  agentCmd.enablePositionalOptions();

  withMasterOptions(agentCmd.command('list').description('the agents the master knows').option('--all', 'include gone agents'))
    .action(async (opts: Common & { all?: boolean }) => withOperator(opts, async (o) => {
      const res = await o.call<{ agents: AgentState[] }>('GetAgents', { include_gone: opts.all === true });
      print(opts.json, res, () => table(['ID', 'HOSTNAME', 'STATE', 'TOTAL', 'ALLOCATED'], res.agents.map((a) => [
        a.agent_info.id.value, a.agent_info.hostname,
        a.drain_info ? a.drain_info.state.toLowerCase() : a.deactivated ? 'deactivated' : a.lifecycle.toLowerCase(),
        resources(a.total_resources), resources(a.allocated_resources),
      ])));
    }));

  withMasterOptions(agentCmd.command('show').description('one agent').argument('<agent-id>'))
    .action(async (id: string, opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call<{ agents: AgentState[] }>('GetAgents', { include_gone: true });
      const a = res.agents.find((x) => x.agent_info.id.value === id || x.agent_info.hostname === id);
      if (a === undefined) throw new BerthError('NOT_FOUND', `no agent ${id} (berth agent list shows them)`);
      print(opts.json, a, () => [
        `${a.agent_info.id.value}  ${a.agent_info.hostname}  ${a.lifecycle.toLowerCase()}${a.connected ? '' : ' (disconnected)'}${a.deactivated ? ', deactivated' : ''}${a.drain_info ? `, ${a.drain_info.state.toLowerCase()}` : ''}`,
        `version    ${a.version || '-'}, registered ${timeText(a.registered_time)}`,
        `total      ${resources(a.total_resources)}`,
        `allocated  ${resources(a.allocated_resources)}`,
        `offered    ${resources(a.offered_resources)}`,
        `attributes ${a.agent_info.attributes.map((x) => `${x.name}:${x.text?.value ?? x.scalar?.value ?? '…'}`).join(';') || '-'}`,
        '',
      ].join('\n'));
    }));

  withMasterOptions(agentCmd.command('drain').description('stop offering an agent and kill its tasks (their frameworks reschedule them); waits until it is drained').argument('<agent-id>')
    .option('--grace-period <seconds>', 'kill grace period for its tasks')
    .option('--mark-gone', 'mark the agent gone once drained')
    .option('--detach', 'do not wait'))
    .action(async (id: string, opts: Common & { gracePeriod?: string; markGone?: boolean; detach?: boolean }) => withOperator(opts, async (o) => {
      const grace = opts.gracePeriod === undefined ? undefined : Number(opts.gracePeriod);
      if (grace !== undefined && (!Number.isFinite(grace) || grace < 0)) throw new BerthError('INVALID_ARGUMENT', `--grace-period must be a number of seconds >= 0, got "${opts.gracePeriod}"`);
      const res = await o.call('DrainAgent', { agent_id: { value: id }, mark_gone: opts.markGone === true, ...(grace !== undefined ? { max_grace_period: { nanoseconds: String(Math.round(grace * 1e9)) } } : {}) });
      if (opts.detach === true) {
        print(opts.json, res, () => `draining ${id}\n`);
        return;
      }
      let last = '';
      for (;;) {
        const agents = (await o.call<{ agents: AgentState[] }>('GetAgents', { include_gone: true })).agents;
        const a = agents.find((x) => x.agent_info.id.value === id);
        const tasks = (await o.call<{ tasks: Task[] }>('GetTasks', {})).tasks.filter((t) => t.agent_id.value === id).length;
        const state = a === undefined ? 'gone' : a.lifecycle === 'GONE' ? 'gone' : (a.drain_info?.state ?? 'DRAINING').toLowerCase();
        const line = `${id}: ${state}, ${tasks} task(s) left`;
        if (line !== last && opts.json !== true) out.stdout(`${line}\n`);
        last = line;
        if (state === 'drained' || state === 'gone') {
          if (opts.json === true) out.stdout(`${JSON.stringify(a ?? { agent_id: id, state }, null, 2)}\n`);
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }));

  for (const [name, method, done] of [['deactivate', 'DeactivateAgent', 'deactivated'], ['reactivate', 'ReactivateAgent', 'reactivated']] as const) {
    withMasterOptions(agentCmd.command(name).description(name === 'deactivate' ? 'stop offering an agent (its tasks keep running)' : 'offer an agent again').argument('<agent-id>'))
      .action(async (id: string, opts: Common) => withOperator(opts, async (o) => {
        const res = await o.call(method, { agent_id: { value: id } });
        print(opts.json, res, () => `${done} ${id}\n`);
      }));
  }

  const framework = program.command('framework').description('frameworks registered with the master');
  withMasterOptions(framework.command('list').description('frameworks with their roles and tasks').option('--all', 'include completed frameworks'))
    .action(async (opts: Common & { all?: boolean }) => withOperator(opts, async (o) => {
      const res = await o.call<{ frameworks: FrameworkState[]; completed_frameworks: FrameworkState[] }>('GetFrameworks', {});
      const list = opts.all === true ? [...res.frameworks, ...res.completed_frameworks] : res.frameworks;
      print(opts.json, res, () => table(['ID', 'NAME', 'ROLES', 'CONNECTED', 'TASKS', 'ALLOCATED'], list.map((f) => [
        f.framework_info.id.value, f.framework_info.name, f.framework_info.roles.join(',') || '*', f.connected ? 'yes' : 'no',
        Object.values(f.task_counts ?? {}).reduce((a, b) => a + b, 0), quantities(f.allocated_resources),
      ])));
    }));
  withMasterOptions(framework.command('teardown').description('unregister a framework: its tasks are killed').argument('<framework-id>'))
    .action(async (id: string, opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call('Teardown', { framework_id: { value: id } });
      print(opts.json, res, () => `tore down ${id}\n`);
    }));

  const task = program.commands.find((c) => c.name() === 'task')!;
  withMasterOptions(task.command('list').description('tasks the master knows').option('--all', 'include recently completed tasks').option('--framework <id>', 'only this framework\'s'))
    .action(async (opts: Common & { all?: boolean; framework?: string }) => withOperator(opts, async (o) => {
      const res = await o.call<{ tasks: Task[]; completed_tasks: Task[] }>('GetTasks', { include_completed: opts.all === true, ...(opts.framework ? { framework_id: { value: opts.framework } } : {}) });
      const list = [...res.tasks, ...(opts.all === true ? res.completed_tasks : [])];
      print(opts.json, res, () => table(['ID', 'STATE', 'FRAMEWORK', 'AGENT', 'RESOURCES'], list.map((t) => [t.task_id.value, t.state, t.framework_id.value, t.agent_id.value, resources(t.resources)])));
    }));
  withMasterOptions(task.command('show').description('one task with its latest status').argument('<task-id>'))
    .action(async (id: string, opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call<{ tasks: Task[]; completed_tasks: Task[] }>('GetTasks', { include_completed: true });
      const t = [...res.tasks, ...res.completed_tasks].find((x) => x.task_id.value === id);
      if (t === undefined) throw new BerthError('NOT_FOUND', `no task ${id} (berth task list --all shows them)`);
      const last = t.statuses[t.statuses.length - 1];
      print(opts.json, t, () => `${t.task_id.value}  ${t.state}${last?.healthy != null ? (last.healthy ? ' (healthy)' : ' (unhealthy)') : ''}\nframework ${t.framework_id.value}, agent ${t.agent_id.value}, role ${t.role}\nresources ${resources(t.resources)}\n${last?.message ? `message   ${last.message}\n` : ''}`);
    }));

  withMasterOptions(task.command('kill').description('kill a task (its framework sees TASK_KILLED and may relaunch it)').argument('<task-id>')
    .option('--framework <id>', 'the task\'s framework (needed only when several have a task with this id)')
    .option('--grace-period <seconds>', 'time between SIGTERM and SIGKILL (default: the task\'s kill policy)'))
    .action(async (id: string, opts: Common & { framework?: string; gracePeriod?: string }) => {
      const grace = opts.gracePeriod === undefined ? undefined : Number(opts.gracePeriod);
      if (grace !== undefined && (!Number.isFinite(grace) || grace < 0)) throw new BerthError('INVALID_ARGUMENT', `--grace-period must be a number of seconds >= 0, got "${opts.gracePeriod}"`);
      await withOperator(opts, async (o) => {
        const res = await o.call('KillTask', { task_id: { value: id }, ...(opts.framework ? { framework_id: { value: opts.framework } } : {}), ...(grace !== undefined ? { grace_period: { nanoseconds: String(Math.round(grace * 1e9)) } } : {}) });
        print(opts.json, res, () => `kill sent to ${id}\n`);
      });
    });

  const quota = program.command('quota').description('quota per role (guarantees and limits)');
  withMasterOptions(quota.command('get').description('every role\'s quota'))
    .action(async (opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call<{ configs: { role: string; guarantees: Quantity[]; limits: Quantity[] }[] }>('GetQuota', {});
      print(opts.json, res, () => table(['ROLE', 'GUARANTEES', 'LIMITS'], res.configs.map((c) => [c.role, quantities(c.guarantees), quantities(c.limits)])));
    }));
  withMasterOptions(quota.command('set').description('set a role\'s quota').argument('<role>')
    .option('--guarantee <quantities>', 'resources guaranteed, e.g. cpus:4;mem:8192')
    .option('--limit <quantities>', 'most the role may use, e.g. cpus:8;mem:16384')
    .option('--force', 'set a guarantee larger than the cluster can hold'))
    .action(async (role: string, opts: Common & { guarantee?: string; limit?: string; force?: boolean }) => {
      const guarantees = opts.guarantee === undefined ? [] : roleQuantities(`${role}=${opts.guarantee}`, '--guarantee').quantities;
      const limits = opts.limit === undefined ? [] : roleQuantities(`${role}=${opts.limit}`, '--limit').quantities;
      await withOperator(opts, async (o) => {
        const res = await o.call('UpdateQuota', { configs: [{ role, guarantees, limits }], force: opts.force === true });
        print(opts.json, res, () => `quota of ${role}: guarantees ${quantities(guarantees)}, limits ${quantities(limits)}\n`);
      });
    });

  const weights = program.command('weights').description('role weights (DRF)');
  withMasterOptions(weights.command('get').description('every role\'s weight'))
    .action(async (opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call<{ weights: { role: string; weight: number }[] }>('GetWeights', {});
      print(opts.json, res, () => table(['ROLE', 'WEIGHT'], res.weights.map((w) => [w.role, w.weight])));
    }));
  withMasterOptions(weights.command('set').description('set role weights').argument('<role=weight...>', 'e.g. eng=3 ads=1'))
    .action(async (pairs: string[], opts: Common) => {
      const list = pairs.map((p) => {
        const [role, w] = p.split('=');
        const weight = Number(w);
        if (!role || !(weight > 0)) throw new BerthError('INVALID_ARGUMENT', `weights must be ROLE=NUMBER with a number > 0, got "${p}"`);
        return { role, weight };
      });
      await withOperator(opts, async (o) => {
        const res = await o.call('UpdateWeights', { weights: list });
        print(opts.json, res, () => `${list.map((w) => `${w.role}=${w.weight}`).join(' ')}\n`);
      });
    });

  const role = program.command('role').description('roles with their weights, quota and dominant shares');
  withMasterOptions(role.command('list').description('roles and their DRF dominant shares'))
    .action(async (opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call<{ roles: RoleState[] }>('GetRoles', {});
      print(opts.json, res, () => table(['ROLE', 'WEIGHT', 'DOMINANT SHARE', 'ALLOCATED', 'QUOTA LIMITS', 'FRAMEWORKS'], res.roles.map((r) => [
        r.name, r.weight, `${(r.dominant_share * 100).toFixed(1)}%`, quantities(r.allocated), quantities(r.quota?.limits), r.frameworks.length,
      ])));
    }));
}
