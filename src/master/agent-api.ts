import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import type { AgentMessage__Output } from '../generated/berth/v1/AgentMessage';
import type { MasterMessage } from '../generated/berth/v1/MasterMessage';
import { decodeAgentMessage } from '../common/rpc/proto';
import { resourcesFromWire } from '../common/wire';
import { authenticateStream, onStreamEnd, StreamSink } from './client-stream';
import { MasterError } from './errors';
import type { MasterCore } from './master-core';
import type { AgentEntry } from './model';
import type { Authenticate } from './client-stream';
import { ValidationError } from '../common/wire';

/** The stream as the master binds it: each request arrives as its bytes (agentLinkServiceUndecoded). */
type Stream = grpc.ServerDuplexStream<Buffer, MasterMessage>;

/** Pending ReadTaskLog requests relayed to agents, by request id. */
export type TaskLogWaiter = (reply: NonNullable<AgentMessage__Output['task_log']>) => void;

/** Longest the backlog of agent messages runs before the event loop gets a turn, ms. */
const BACKLOG_SLICE_MS = 20;

/**
 * `AgentLink.Connect`: one bidirectional stream per agent. The first message must be REGISTER or
 * REREGISTER; a refused registration ends the stream with a status naming the problem. Later
 * messages that are invalid are logged and counted, and never crash the master.
 */
export class AgentApi {
  /** Log reads sent to agents, by request id, until the agent's TASK_LOG answers (or the caller gives up). */
  private readonly logWaiters = new Map<string, TaskLogWaiter>();
  /**
   * Registrations, and everything arriving behind one, handled in arrival order in slices of
   * {@link BACKLOG_SLICE_MS}. After a failover thousands of agents re-register at once, each with
   * its tasks (~1 ms of work apiece); handled as they arrive, one turn of the event loop took
   * seconds — long enough for the new leader to miss its lease renewal and step down. Messages are
   * handled inline again once the backlog is empty.
   */
  private readonly backlog: (() => void)[] = [];
  private backlogHead = 0;

  constructor(
    private readonly core: () => MasterCore | undefined,
    private readonly authenticate: Authenticate | undefined,
    private readonly notLeader: () => MasterError,
  ) {}

  connect(stream: Stream): void {
    const principal = authenticateStream(stream as never, this.authenticate);
    if (principal === false) return;
    let agent: AgentEntry | undefined;
    let owner: MasterCore | undefined;
    let isClosed = false;
    const closed = (byClient: boolean) => {
      if (isClosed) return;
      isClosed = true;
      sink.ended();
      const gone = () => {
        if (agent !== undefined && owner !== undefined && !owner.isStopped) owner.agentManager.disconnected(agent, sink);
      };
      // The client's end comes after its messages still in the backlog (its registration above all).
      if (byClient) this.inOrder(gone, false);
      else gone();
    };
    const sink = new StreamSink<MasterMessage>(stream as never, { onClosed: () => closed(false) });
    // Decoded when handled, not on arrival: a backlog of registrations waits as bytes.
    stream.on('data', (bytes: Buffer) => this.inOrder(() => handle(bytes), agent === undefined));
    const handle = (bytes: Buffer) => {
      const core = this.core();
      let msg: AgentMessage__Output;
      try {
        msg = decodeAgentMessage(bytes);
      } catch (err) {
        // Not an AgentMessage: nothing after it on this stream can be trusted to be one either.
        this.fail(sink, undefined, new MasterError(Status.INVALID_ARGUMENT, `not a valid berth.v1.AgentMessage (${bytes.length} bytes): ${(err as Error).message}`), true);
        return;
      }
      try {
        if (core === undefined || core.isStopped) throw this.notLeader();
        if (agent === undefined) {
          // The ACL object is the agent id: a REGISTER (no id yet) passes only rules for any agent.
          const agentId = msg.type === 'REREGISTER' ? msg.reregister?.agent_info?.id?.value || undefined : undefined;
          if (!core.allowed(principal, 'register_agent', agentId)) {
            const which = agentId === undefined ? 'register new agents' : `re-register agent ${agentId}`;
            throw new MasterError(Status.PERMISSION_DENIED, `principal "${principal?.name ?? '(none)'}" may not ${which}`);
          }
          if (msg.type === 'REGISTER' && msg.register != null) {
            agent = core.agentManager.register(sink, msg.register.agent_info ?? ({ hostname: '' } as never), msg.register.version, principal?.name);
          } else if (msg.type === 'REREGISTER' && msg.reregister != null) {
            agent = core.agentManager.reregister(sink, msg.reregister, principal?.name);
          } else {
            throw new MasterError(Status.FAILED_PRECONDITION, `type: the first message must be REGISTER or REREGISTER, got ${msg.type}`);
          }
          owner = core;
          return;
        }
        if (agent.sink !== sink) return; // superseded by a newer connection of the same agent
        this.dispatch(core, agent, msg);
      } catch (err) {
        this.fail(sink, msg, err, agent === undefined);
      }
    };
    onStreamEnd(stream as never, () => closed(true));
  }

  /** Runs `work` now, or in the backlog when it is a registration (`defer`) or the backlog is not empty. */
  private inOrder(work: () => void, defer: boolean): void {
    if (!defer && this.backlog.length === this.backlogHead) return work();
    this.backlog.push(work);
    if (this.backlog.length - this.backlogHead === 1) setImmediate(() => this.drain());
  }

  private drain(): void {
    const until = performance.now() + BACKLOG_SLICE_MS;
    while (this.backlogHead < this.backlog.length) {
      const work = this.backlog[this.backlogHead]!;
      this.backlog[this.backlogHead++] = undefined as never;
      try {
        work();
      } catch (err) {
        this.core()?.logger.error('unexpected error handling an agent stream', { err });
      }
      if (performance.now() >= until) break;
    }
    if (this.backlogHead < this.backlog.length) {
      setImmediate(() => this.drain());
    } else {
      this.backlog.length = 0;
      this.backlogHead = 0;
    }
  }

  /** Calls `answered` with the agent's TASK_LOG reply to the READ_TASK_LOG sent with `requestId`. */
  awaitTaskLog(requestId: string, answered: TaskLogWaiter): void {
    this.logWaiters.set(requestId, answered);
  }

  /** Log reads still waiting for their agent's answer. */
  get pendingTaskLogs(): number {
    return this.logWaiters.size;
  }

  /** The reader gave up (timed out): a late reply is dropped. */
  forgetTaskLog(requestId: string): void {
    this.logWaiters.delete(requestId);
  }

  private dispatch(core: MasterCore, agent: AgentEntry, msg: AgentMessage__Output): void {
    switch (msg.type) {
      case 'STATUS_UPDATE':
        if (msg.status_update == null) throw new MasterError(Status.INVALID_ARGUMENT, 'status_update: missing');
        core.tasks.statusUpdate(agent, msg.status_update);
        return;
      case 'PONG':
        core.agentManager.pong(agent);
        return;
      case 'UPDATE_RESOURCES': {
        core.agentManager.updateResources(agent, resourcesFromWire(msg.update_resources?.resources ?? [], 'update_resources.resources'));
        return;
      }
      case 'FRAMEWORK_MESSAGE': {
        const fw = core.frameworks.get(msg.framework_message?.framework_id?.value ?? '');
        // Messages come from the executors of a framework's tasks on this agent, and from nowhere else.
        if (fw === undefined || ![...agent.tasks.values()].some((t) => t.frameworkId === fw.id)) {
          throw new MasterError(Status.PERMISSION_DENIED, `framework_message.framework_id: framework "${msg.framework_message?.framework_id?.value ?? ''}" has no task on this agent`);
        }
        fw.sink?.send({ type: 'MESSAGE', message: { agent_id: { value: agent.id }, executor_id: msg.framework_message?.executor_id ?? undefined, data: msg.framework_message?.data ?? Buffer.alloc(0) } });
        return;
      }
      case 'TASK_LOG': {
        const reply = msg.task_log;
        if (reply == null) return;
        const waiter = this.logWaiters.get(reply.request_id);
        this.logWaiters.delete(reply.request_id);
        waiter?.(reply);
        return;
      }
      default:
        throw new MasterError(Status.INVALID_ARGUMENT, `type: unexpected agent message ${JSON.stringify(msg.type)}`);
    }
  }

  private fail(sink: StreamSink<MasterMessage>, msg: AgentMessage__Output | undefined, err: unknown, fatal: boolean): void {
    const core = this.core();
    const code = err instanceof MasterError ? err.grpcCode : err instanceof ValidationError ? Status.INVALID_ARGUMENT : Status.INTERNAL;
    const message = (err as Error)?.message ?? String(err);
    core?.metrics?.invalidCalls.inc({ call: `AGENT_${msg === undefined ? 'UNDECODABLE' : String(msg.type)}`, reason: Status[code] ?? String(code) });
    if (code === Status.INTERNAL) core?.logger.error('unexpected error handling an agent message', { err, type: msg?.type });
    else core?.logger.warn('rejected an agent message', { type: msg?.type, message });
    if (fatal) sink.close({ code, message });
  }
}
