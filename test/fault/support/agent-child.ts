/**
 * A real Agent (real gRPC link, checkpointing, status-update manager) whose containers are fake
 * (src/agent/containerizer/fake-containerizer.ts): the "many" agents of a fault cluster, cheap to
 * run. Config as JSON in argv[2]. Over IPC it answers `{ type: 'containers' }` with the task ids of
 * its running containers (the ground truth for this agent). SIGKILL ends its containers too, as a
 * machine crash would; SIGTERM stops the agent and leaves them (to nobody: the process ends).
 */
import { Agent } from '../../../src/agent/agent';
import { FakeContainerizer } from '../../../src/agent/containerizer/fake-containerizer';
import { SystemClock } from '../../../src/common/clock';
import { createLogger } from '../../../src/common/logging';
import { Resources } from '../../../src/common/resources';

interface Config { master: string; hostname: string; workDir: string; resources: string }
const config = JSON.parse(process.argv[2]!) as Config;
const clock = new SystemClock();
const containerizer = new FakeContainerizer(clock, (spec) => {
  // `exit:CODE:MS` in the command: the task ends on its own.
  const m = /exit:(\d+):(\d+)/.exec(spec.command.value);
  return m ? { exitCode: Number(m[1]), exitAfterMs: Number(m[2]) } : {};
});
const agent = new Agent({
  master: config.master, hostname: config.hostname, workDir: config.workDir, clock, containerizer,
  resources: Resources.parse(config.resources), reconnectMinMs: 100, reconnectMaxMs: 1000,
  statusRetryMinMs: 1000, logger: createLogger({ level: 'info', component: 'agent' }).child({ hostname: config.hostname }),
});
process.on('message', (m: { type: string; id: number }) => {
  if (m.type === 'containers') process.send!({ type: 'containers', id: m.id, taskIds: containerizer.runningTaskIds() });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => void agent.stop({ killTasks: false }).finally(() => process.exit(0)));
void agent.start().catch((err: unknown) => {
  process.stderr.write(`agent-child: ${String(err)}\n`);
  process.exit(1);
});
