/**
 * The fault suite's framework: a real SchedulerDriver (the SDK, as plugins use it) driving a small
 * framework that keeps `target` tasks launched, and writes everything it does and sees to a history
 * file (JSON lines, written synchronously before the driver acknowledges — so the history survives
 * a SIGKILL and never misses an update the framework acknowledged). Config as JSON in argv[2].
 *
 * - Task ids are `<name>.<process start>.<n>`: never reused, also across restarts.
 * - `ack: 'never'` makes every statusUpdate handler throw after recording: the driver then never
 *   acknowledges, and the agent must keep resending.
 * - A restarted framework rebuilds its tasks from the history file and reconciles them explicitly
 *   (the durable state a real framework would keep); its framework id is in a file store.
 * - `replace: true` launches a new task (new id) for each one that reaches a terminal state.
 *
 * IPC: `{type:'target', n}` sets the number of tasks to keep; `{type:'reconcile'}` reconciles every
 * task it believes non-terminal; `{type:'kill', taskId}` kills one. Each is answered with
 * `{type:'ok', id}`.
 */
import * as fs from 'node:fs';
import { SystemClock } from '../../../src/common/clock';
import { createLogger } from '../../../src/common/logging';
import { Resources } from '../../../src/common/resources';
import { SchedulerDriver } from '../../../src/frameworks/sdk/driver';
import type { Framework } from '../../../src/frameworks/sdk/framework';
import { fitTask } from '../../../src/frameworks/sdk/offer-match';
import { FileKeyValueStore } from '../../../src/frameworks/sdk/store';
import type { TaskStatus__Output } from '../../../src/generated/berth/v1/TaskStatus';
import { TERMINAL_STATES, type HistoryEntry } from './history';

export interface FrameworkChildConfig {
  readonly name: string;
  readonly masters: readonly string[];
  readonly historyFile: string;
  readonly storeDir: string;
  readonly role: string;
  readonly partitionAware: boolean;
  readonly failoverTimeoutS: number;
  readonly ack: 'auto' | 'never';
  readonly target: number;
  readonly replace: boolean;
  readonly cpus: number;
  readonly mem: number;
  /** The task's command (the fake containerizer reads `exit:CODE:MS`; process agents run it). */
  readonly command: string;
  /** Run the task in this Docker image (agents with the Docker containerizer). */
  readonly image?: string;
  /** Launch only on agents whose hostname matches this regular expression. @default any */
  readonly hostnames?: string;
}

const config = JSON.parse(process.argv[2]!) as FrameworkChildConfig;
const startedAt = Date.now().toString(36);
let seq = 0;
let target = config.target;

function record(entry: Omit<HistoryEntry, 't' | 'fw'>): void {
  fs.appendFileSync(config.historyFile, `${JSON.stringify({ t: Date.now(), fw: config.name, ...entry })}\n`);
}

/** Tasks this framework launched and has not seen end, with their agent. */
const live = new Map<string, string>();
for (const line of fs.existsSync(config.historyFile) ? fs.readFileSync(config.historyFile, 'utf8').split('\n') : []) {
  if (line === '') continue;
  const e = JSON.parse(line) as HistoryEntry;
  if (e.kind === 'launch') live.set(e.taskId!, e.agentId!);
  if (e.kind === 'update' && TERMINAL_STATES.has(e.state!)) live.delete(e.taskId!);
}

const framework: Framework = {
  frameworkInfo: () => ({
    name: config.name,
    roles: [config.role],
    failover_timeout: config.failoverTimeoutS,
    checkpoint: true,
    capabilities: config.partitionAware ? [{ type: 'PARTITION_AWARE' }] : [],
  }),
  registered(r) {
    record({ kind: 'subscribed', frameworkId: r.frameworkId, reregistered: r.reregistered, master: r.master });
    if (live.size > 0) driver.reconcile([...live].map(([taskId, agentId]) => ({ taskId, agentId })));
  },
  offers(offers) {
    for (const offer of offers) {
      const tasks = [];
      let used = Resources.empty();
      const eligible = config.hostnames === undefined || new RegExp(config.hostnames).test(offer.hostname);
      while (eligible && live.size < target) {
        const fit = fitTask(offer, { cpus: config.cpus, mem: config.mem }, used);
        if (!fit.ok) break;
        const taskId = `${config.name}.${startedAt}.${seq++}`;
        live.set(taskId, offer.agent_id!.value);
        record({ kind: 'launch', taskId, agentId: offer.agent_id!.value, offerId: offer.id!.value });
        tasks.push({
          name: taskId, task_id: { value: taskId }, resources: fit.resources, command: { value: config.command },
          ...(config.image !== undefined ? { container: { type: 'DOCKER' as const, docker: { image: config.image } } } : {}),
        });
        used = used.plus(fit.taken);
      }
      if (tasks.length > 0) driver.launch(offer, tasks, 1);
      else driver.decline([offer.id!.value], 1);
    }
  },
  statusUpdate(s: TaskStatus__Output) {
    const taskId = s.task_id!.value;
    record({
      kind: 'update', taskId, state: s.state, agentId: s.agent_id?.value ?? '', reason: s.reason, source: s.source,
      uuid: s.uuid !== undefined && s.uuid !== null && s.uuid.length > 0 ? Buffer.from(s.uuid).toString('hex') : '',
      message: s.message ?? '',
      ...(s.unreachable_time != null ? { unreachable: true } : {}),
    });
    if (TERMINAL_STATES.has(s.state)) live.delete(taskId);
    else if (live.has(taskId) || s.state === 'TASK_RUNNING') live.set(taskId, s.agent_id?.value ?? '');
    if (config.ack === 'never') throw new Error('this framework never acknowledges');
  },
  error(message) {
    record({ kind: 'error', message });
  },
  disconnected() {
    record({ kind: 'disconnected' });
  },
};

const driver = new SchedulerDriver({
  masters: config.masters, framework, clock: new SystemClock(), store: new FileKeyValueStore(config.storeDir),
  backoffMinMs: 100, backoffMaxMs: 1000, reconcileMinMs: 500, reconcileMaxMs: 2000, subscribeTimeoutMs: 5000,
  logger: createLogger({ level: 'info', component: 'framework' }).child({ framework: config.name }),
});

process.on('message', (m: { type: string; id: number; n?: number; taskId?: string }) => {
  if (m.type === 'target') {
    target = m.n!;
    driver.revive();
  } else if (m.type === 'reconcile') {
    driver.reconcile([...live].map(([taskId, agentId]) => ({ taskId, agentId })));
  } else if (m.type === 'kill') {
    driver.kill(m.taskId!);
  }
  process.send!({ type: 'ok', id: m.id });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => void driver.stop().finally(() => process.exit(0)));
record({ kind: 'start' });
void driver.start();
