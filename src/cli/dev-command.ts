/**
 * `berth dev`: a whole single-node cluster in one process — a master (file registry, no NATS), one
 * agent (Docker when an engine answers, else plain processes — said at startup), and the framework
 * host with the built-in services, jobs and batch frameworks (plus any `--plugins`), everything bound to
 * 127.0.0.1 with authentication off. It composes the same parts `berth master`, `berth agent` and
 * `berth frameworks` start, from their configuration schemas, so it behaves as they do.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { unreachableAbove } from '../agent/task-user';
import * as path from 'node:path';
import { agentConfigSchema } from '../agent/config';
import { BerthError } from '../common/errors';
import { createLogger } from '../common/logging';
import { frameworksConfigSchema } from '../frameworks/host/config';
import { masterConfigSchema } from '../master/config';
import { runAgent } from './agent-command';
import { startFrameworks } from './frameworks-command';
import { addressInUse, UsageError } from './usage';
import { startMaster } from './master-command';

/** The options of `berth dev` (daemons.ts declares them). */
export interface DevOptions {
  workDir: string;
  grpcPort: string;
  httpPort: string;
  agentHttpPort: string;
  frameworksPort: string;
  frameworksHttpPort: string;
  plugins?: string;
  pluginOptions: string;
  containerizers: string;
  resources?: string;
  /** One modules file for the master, the agent and the framework host: each loads the modules of its own extension points. */
  modules?: string;
  logLevel: string;
}

const port = (flag: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new DevUsageError(`${flag} must be a port (0-65535), got "${value}"`);
  return n;
};

/** A bad `berth dev` argument (exit 2). */
export class DevUsageError extends UsageError {
  constructor(message: string) {
    super('dev', message);
  }
}

/** The pieces of a running dev cluster, as {@link startDev} returns them. */
export interface DevCluster {
  readonly masterGrpc: string;
  readonly masterHttp: string;
  readonly frameworksGrpc: string | undefined;
  readonly frameworksHttp: string;
  readonly containerizers: readonly string[];
  stop(): Promise<void>;
}

/** Starts the dev cluster: master, agent, framework host — in that order, stopped in reverse. */
/**
 * The work directory of the dev cluster's agent: `<workDir>/agent`, or — as root, when `nobody` could
 * not enter it (`blocked` names the directory in the way) — one in the system's temporary directory
 * derived from `workDir`. Also the scope label of the agent's Docker containers.
 */
export function devAgentWorkDir(workDir: string): { agentWorkDir: string; blocked: string | undefined } {
  const inside = path.join(workDir, 'agent');
  const blocked = (process.getuid?.() ?? 0) === 0 ? unreachableAbove(inside) : undefined;
  if (blocked === undefined) return { agentWorkDir: inside, blocked };
  return { agentWorkDir: path.join(os.tmpdir(), `berth-dev-agent-${createHash('sha256').update(workDir).digest('hex').slice(0, 12)}`), blocked };
}

export async function startDev(opts: DevOptions, logLevel: 'error' | 'warn' | 'info' | 'debug'): Promise<DevCluster> {
  const workDir = path.resolve(opts.workDir);
  const logger = createLogger({ component: 'dev', level: logLevel });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => logger.error('stopping a part failed', { err }));
  };
  try {
    // The dashboard's apps and jobs come from the frameworks' APIs, started after the master: with
    // a fixed port its address is known now; with 0 (ephemeral) it is not, and those panels say so.
    const frameworksPort = port('--frameworks-port', opts.frameworksPort);
    const master = await startMaster(masterConfigSchema.parse({
      grpc: { host: '127.0.0.1', port: port('--grpc-port', opts.grpcPort) },
      http: { host: '127.0.0.1', port: port('--http-port', opts.httpPort) },
      workDir: path.join(workDir, 'master'),
      auth: { enabled: false },
      dashboard: frameworksPort === 0 ? {} : { frameworks: `127.0.0.1:${frameworksPort}` },
      masterId: 'dev',
      ...(opts.modules !== undefined ? { modules: path.resolve(opts.modules) } : {}),
      logLevel,
    }), logger.child({ component: 'master' }));
    stops.push(() => master.stop());

    // As root, tasks run as `nobody`, who must be able to enter their sandboxes: a dev cluster
    // started in a private directory (a checkout under /root) keeps its agent's state in the
    // system's temporary directory instead, and says so.
    const { agentWorkDir, blocked } = devAgentWorkDir(workDir);
    if (blocked !== undefined) logger.warn(`tasks run as nobody, who cannot enter ${blocked}: the agent's sandboxes are in ${agentWorkDir}`);
    const agent = await runAgent(agentConfigSchema.parse({
      master: master.grpcAddress,
      hostname: 'localhost',
      workDir: agentWorkDir,
      http: { host: '127.0.0.1', port: port('--agent-http-port', opts.agentHttpPort) },
      containerizers: opts.containerizers,
      ...(opts.resources !== undefined ? { resources: opts.resources } : {}),
      ...(opts.modules !== undefined ? { modules: path.resolve(opts.modules) } : {}),
      logLevel,
    }), logger.child({ component: 'agent' }), () => undefined);
    stops.push(() => agent.stop({ killTasks: true }));
    await agent.agent.whenRegistered();

    const plugins = ['services', 'jobs', 'batch', ...(opts.plugins ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')];
    const frameworks = await startFrameworks(frameworksConfigSchema.parse({
      masters: [master.grpcAddress],
      plugins,
      pluginOptions: opts.pluginOptions,
      grpc: { host: '127.0.0.1', port: frameworksPort },
      http: { host: '127.0.0.1', port: port('--frameworks-http-port', opts.frameworksHttpPort) },
      store: 'file',
      workDir: path.join(workDir, 'frameworks'),
      auth: { enabled: false },
      ...(opts.modules !== undefined ? { modules: path.resolve(opts.modules) } : {}),
      logLevel,
    }), logger.child({ component: 'frameworks' }));
    stops.push(() => frameworks.stop());

    return {
      masterGrpc: master.grpcAddress,
      masterHttp: master.httpAddress,
      frameworksGrpc: frameworks.host.grpcAddress,
      frameworksHttp: frameworks.httpAddress,
      containerizers: agent.agent.containerizer.types,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    const taken = addressInUse(err);
    if (taken !== undefined) {
      throw new BerthError('ADDRESS_IN_USE', `${taken} is taken: another berth dev or Berth daemon runs here? Stop it, or choose other ports (--grpc-port, --http-port, --agent-http-port, --frameworks-port, --frameworks-http-port; 0 picks free ones)`);
    }
    throw err;
  }
}
