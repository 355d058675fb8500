/**
 * The CLI reference (docs/cli.md), generated from the command tree itself so it cannot drift from
 * `--help`: `npm run docs:cli` writes it, and a test fails when the committed page differs.
 */
import type { Command } from 'commander';

function usage(cmd: Command, path: string[]): string {
  const args = (cmd as unknown as { registeredArguments?: { name(): string; required: boolean; variadic: boolean }[] }).registeredArguments ?? [];
  const argText = args.map((a) => (a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`)).join(' ');
  return ['berth', ...path, cmd.commands.length > 0 ? '<command>' : '', cmd.options.length > 0 ? '[options]' : '', argText].filter((x) => x !== '').join(' ');
}

/** How the commands that wait for a deployment show it, and the shape of their `--json` events. */
const FOLLOWING = [
  '## Following a deployment',
  '',
  '`berth app deploy`, `scale`, `restart` and `rm` wait for their deployment unless `--detach`. On a',
  'terminal they keep one line up to date in place (`create running [#####-----..........] 2/4 running,',
  '1/4 healthy — last failure: TASK_FAILED …`: `#` healthy, `-` running, `.` missing; cut to the',
  'terminal\'s width); in a pipe or a file they print that line each time it changes, never twice; a',
  'delete shows the tasks left to stop. With `--json` they print JSON Lines, one event per line:',
  '',
  '| `event` | when | fields |',
  '|---|---|---|',
  '| `started` | the deployment began | `app_id`, `deployment_id`; `created` for deploy |',
  '| `unchanged` | deploy changed nothing (no deployment; exit 0) | `app_id`, `created` |',
  '| `progress` | something shown changed | `app_id`, `deployment_id`, `kind`, `state`, `instances`, `running`, `healthy`, `waiting_instances`, `tasks` (the app\'s tasks), `waiting` (why instances are missing), `last_failure` (`{task_id, state, message}` or null); `app_gone: true` instead of the counts once a deleted app is gone |',
  '| `finished` | the deployment ended | `app_id`, `deployment_id`, `kind`, `state` (SUCCEEDED, FAILED, CANCELLED, SUPERSEDED), `message`, `rolled_back_by`, `exit_code` |',
  '| `timed_out` | `--timeout` ran out (it goes on) | as `finished`, `state` RUNNING, `exit_code` 5 |',
  '| `interrupted` | Ctrl-C (SIGINT) stopped the wait (it goes on) | as `finished`, `state` RUNNING, `exit_code` 130 |',
  '',
  'Ctrl-C while waiting ends the progress line, says that the deployment goes on and how to roll it',
  'back, and exits 130.',
  '',
  'With `--detach`, `--json` prints the API\'s answer instead (the deployment id).',
  '',
];

/** The whole reference as Markdown. */
export function cliReference(program: Command): string {
  const out: string[] = [
    '# `berth` command reference',
    '',
    'Generated from the command tree (`npm run docs:cli`); `berth <command> --help` prints the same.',
    'Commands that talk to a master take `--master HOST:PORT` (or `BERTH_MASTER`, default',
    '127.0.0.1:5050); those that talk to the frameworks take `--frameworks HOST:PORT` (or',
    '`BERTH_FRAMEWORKS`, default 127.0.0.1:5060); both take `--token` (or `BERTH_TOKEN`). The same three may come',
    'from a settings file, `BERTH_CLI_CONFIG` or `~/.config/berth/cli.yaml` (`master`, `frameworks`, `token` or',
    '`tokenFile`); flags win over the environment, which wins over the file. `--json` prints the',
    'API\'s answer. Exit codes: 0 success, 1 failure (unreachable, refused, a run that failed), 2 bad',
    'usage or input, 78 invalid daemon configuration; `berth app deploy|scale|restart|rm` waiting for their',
    'deployment: 3 it failed (or was replaced), 4 it was rolled back, 5 it did not finish within `--timeout`.',
    '',
    'In a checkout, run it as `npx berth …`, or `npm link` once for a `berth` on your PATH (see the README).',
    'Each command loads only what it needs: `berth --version` and `--help` take ~0.05 s more than `node -e 0`,',
    '`berth agent list` ~0.2–0.3 s end to end on a loaded 2-core machine (`npm run bench:cli`).',
    '',
    ...FOLLOWING,
  ];
  const walk = (cmd: Command, path: string[]): void => {
    if (path.length > 0) {
      out.push(`${'#'.repeat(Math.min(path.length + 1, 4))} \`berth ${path.join(' ')}\``, '', cmd.description(), '', '```', usage(cmd, path), '```', '');
      const opts = cmd.options.filter((o) => o.long !== '--help');
      if (opts.length > 0) {
        out.push('| option | meaning |', '|---|---|');
        for (const o of opts) out.push(`| \`${o.flags.replace(/\|/g, '\\|')}\` | ${(o.description + (o.defaultValue !== undefined ? ` (default: ${JSON.stringify(o.defaultValue)})` : '')).replace(/\|/g, '\\|')} |`);
        out.push('');
      }
    }
    for (const c of cmd.commands) walk(c, [...path, c.name()]);
  };
  walk(program, []);
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
