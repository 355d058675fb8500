/**
 * `berth maintenance …` (schedule, status, start/stop of machines), `berth top` (a live terminal view
 * of agents, roles and tasks) and `berth completion bash|zsh` (shell completion from the command tree).
 */
import type { Command } from 'commander';
import { BerthError } from '../common/errors';
import { readDefinition } from './app-command';
import { CliExit, type CliOutput } from './io';
import type { Operator } from './operator-client';
import { table } from './table';

interface Common {
  master?: string;
  token?: string;
  json?: boolean;
}

function withMaster(cmd: Command, json = true): Command {
  cmd.option('--master <host:port>', 'the master (or BERTH_MASTER)').option('--token <token>', 'bearer token (or BERTH_TOKEN)').option('--tls-ca-file <file>', 'CA certificate of a TLS server (or BERTH_TLS_CA_FILE; a client certificate: BERTH_TLS_CERT_FILE, BERTH_TLS_KEY_FILE)');
  return json ? cmd.option('--json', 'print the API\'s answer as JSON') : cmd;
}

async function withOperator<T>(opts: Common, fn: (o: Operator) => Promise<T>): Promise<T> {
  const { Operator, operatorTarget } = require('./operator-client') as typeof import('./operator-client');
  const o = new Operator(operatorTarget(opts));
  try {
    return await fn(o);
  } finally {
    o.close();
  }
}

const machines = (hosts: readonly string[]) => hosts.map((h) => (/^\d+\.\d+\.\d+\.\d+$/.test(h) ? { ip: h } : { hostname: h }));

export function registerExtraCommands(program: Command, out: CliOutput): void {
  const print = (json: boolean | undefined, value: unknown, text: () => string): void => out.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : text());

  const m = program.command('maintenance').description('maintenance windows: offers of machines about to go down become inverse offers, down machines are drained');
  withMaster(m.command('schedule').description('print the maintenance schedule'))
    .action(async (opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call<{ schedule: { windows: { machine_ids: { hostname: string; ip: string }[]; unavailability: unknown }[] } | null }>('GetMaintenanceSchedule', {});
      print(opts.json, res, () => `${JSON.stringify(res.schedule ?? { windows: [] }, null, 2)}\n`);
    }));
  withMaster(m.command('set-schedule').description('replace the schedule with one from a JSON file ({"windows": [{"machine_ids": [{"hostname": …}], "unavailability": {"start": {"nanoseconds": …}}}]})').argument('<file>', 'JSON file (- for stdin)'))
    .action(async (file: string, opts: Common) => {
      let schedule: unknown;
      try {
        schedule = JSON.parse(readDefinition(file));
      } catch (err) {
        if (err instanceof BerthError) throw err;
        throw new BerthError('INVALID_ARGUMENT', `${file} is not JSON: ${(err as Error).message}`);
      }
      await withOperator(opts, async (o) => {
        const res = await o.call('UpdateMaintenanceSchedule', { schedule });
        print(opts.json, res, () => 'schedule updated\n');
      });
    });
  withMaster(m.command('status').description('machines draining (with their inverse offers\' answers) and down'))
    .action(async (opts: Common) => withOperator(opts, async (o) => {
      const res = await o.call<{ draining_machines: { id: { hostname: string; ip: string } }[]; down_machines: { hostname: string; ip: string }[] }>('GetMaintenanceStatus', {});
      print(opts.json, res, () => table(['MACHINE', 'STATE'], [
        ...res.draining_machines.map((d) => [d.id.hostname || d.id.ip, 'draining']),
        ...res.down_machines.map((d) => [d.hostname || d.ip, 'down']),
      ]));
    }));
  for (const [name, method, what] of [['start', 'StartMaintenance', 'down for maintenance'], ['stop', 'StopMaintenance', 'back up']] as const) {
    withMaster(m.command(name).description(name === 'start' ? 'take machines down: their agents are shut down and their tasks lost' : 'bring machines back up').argument('<hosts...>', 'hostnames or IPs'))
      .action(async (hosts: string[], opts: Common) => withOperator(opts, async (o) => {
        const res = await o.call(method, { machines: machines(hosts) });
        print(opts.json, res, () => `${hosts.join(', ')} ${what}\n`);
      }));
  }

  withMaster(program.command('top').description('a live view of agents, roles and tasks (Ctrl-C quits)')
    .option('--interval <seconds>', 'refresh interval', '2')
    .option('--once', 'print one frame and exit'), false)
    .action(async (opts: Common & { interval: string; once?: boolean }) => {
      const interval = Number(opts.interval);
      if (!(interval >= 0.2)) throw new BerthError('INVALID_ARGUMENT', `--interval must be at least 0.2 seconds, got "${opts.interval}"`);
      await withOperator(opts, async (o) => {
        let stop = false;
        const onSigint = (): void => {
          stop = true;
        };
        process.once('SIGINT', onSigint);
        try {
          for (;;) {
            const [agents, roles, tasks] = await Promise.all([
              o.call<{ agents: { agent_info: { hostname: string }; lifecycle: string; deactivated: boolean; drain_info?: unknown }[] }>('GetAgents', {}),
              o.call<{ roles: { name: string; weight: number; dominant_share: number; frameworks: unknown[] }[] }>('GetRoles', {}),
              o.call<{ tasks: { state: string }[] }>('GetTasks', {}),
            ]);
            const byState = new Map<string, number>();
            for (const t of tasks.tasks) byState.set(t.state, (byState.get(t.state) ?? 0) + 1);
            const frame = [
              `berth top — ${(require('./operator-client') as typeof import('./operator-client')).operatorTarget(opts).address} — ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
              `agents ${agents.agents.length} (${agents.agents.filter((a) => a.lifecycle === 'REGISTERED' && !a.deactivated && !a.drain_info).length} active)   tasks ${tasks.tasks.length} (${[...byState].map(([s, n]) => `${s.replace('TASK_', '').toLowerCase()} ${n}`).join(', ') || 'none'})`,
              '',
              table(['ROLE', 'WEIGHT', 'SHARE', '', 'FRAMEWORKS'], roles.roles.map((r) => [r.name, r.weight, `${(r.dominant_share * 100).toFixed(1)}%`, '#'.repeat(Math.round(r.dominant_share * 40)) || '.', r.frameworks.length])),
            ].join('\n');
            out.stdout(opts.once === true ? frame : `\u001b[2J\u001b[H${frame}`);
            if (opts.once === true || stop) return;
            await new Promise((r) => setTimeout(r, interval * 1000));
            if (stop) return;
          }
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
      });
    });

  program.command('completion').description('print a shell completion script: eval "$(berth completion bash)"')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') {
        out.stderr(`berth completion: shell must be bash or zsh, got "${shell}"\n`);
        throw new CliExit(2);
      }
      out.stdout(completionScript(program, shell));
    });
}

/** Completion of command and subcommand names and of each command's flags, from the command tree. */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const lines: string[] = [];
  const walk = (cmd: Command, path: string[]): void => {
    const subs = cmd.commands.map((c) => c.name());
    const flags = cmd.options.map((o) => o.long).filter((f): f is string => f !== undefined);
    lines.push(`    "${path.join(' ')}") words="${[...subs, ...flags].join(' ')}" ;;`);
    for (const c of cmd.commands) walk(c, [...path, c.name()]);
  };
  walk(program, []);
  const body = `_berth_complete() {
  local cur path words i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) path="\${path:+$path }\${COMP_WORDS[i]}" ;; esac
  done
  case "$path" in
${lines.join('\n')}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
`;
  return shell === 'bash'
    ? `${body}complete -F _berth_complete berth\n`
    : `autoload -U +X bashcompinit && bashcompinit\n${body}complete -F _berth_complete berth\n`;
}
