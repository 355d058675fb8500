import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentMessage } from '../generated/berth/v1/AgentMessage';
import type { MasterMessage__Output } from '../generated/berth/v1/MasterMessage';
import { escapeId } from './checkpoint';
import type { Containerizer } from './containerizer/containerizer';
import { lineStartFromEnd, readFileSlice } from './containerizer/log-file';

type TaskLogReply = Omit<NonNullable<AgentMessage['task_log']>, 'request_id'>;

/**
 * Answers the master's READ_TASK_LOG: from the container while the agent tracks the task, else from
 * the newest sandbox on disk (a task whose terminal update was acknowledged is forgotten, its
 * sandbox stays until GC). Length 0 means 64 KiB, at most 1 MiB; a negative offset counts from the
 * end; `tail_lines` starts at the last lines instead, counted backwards (operator.proto ReadTaskLogRequest). Never throws: problems become the reply's `error`.
 */
export async function readTaskLog(
  req: NonNullable<MasterMessage__Output['read_task_log']>,
  where: { containerizer: Containerizer; containerId: string | undefined; sandboxRoot: string },
): Promise<TaskLogReply> {
  const stream = req.stream === 'STDERR' ? 'stderr' : 'stdout';
  const length = Math.min(Number(req.length ?? 0) || 64 * 1024, 1024 * 1024);
  let read: (offset: number, length: number) => Promise<{ data: Buffer; size: number }>;
  const containerId = where.containerId;
  if (containerId !== undefined) {
    read = (offset, n) => where.containerizer.readLog(containerId, stream, offset, n);
  } else {
    const file = forgottenTaskLog(where.sandboxRoot, req.framework_id?.value ?? '', req.task_id?.value ?? '', stream);
    if (file === undefined) return { error: 'no such task on this agent' };
    read = (offset, n) => readFileSlice(file, offset, n);
  }
  try {
    let offset = Number(req.offset ?? 0);
    const tailLines = req.tail_lines ?? 0;
    if (tailLines > 0) {
      const { size } = await read(0, 0);
      offset = await lineStartFromEnd(read, size, tailLines);
    } else if (offset < 0) {
      const { size } = await read(0, 0);
      offset = Math.max(0, size + offset);
    }
    const chunk = await read(offset, length);
    return { data: chunk.data, size: chunk.size, offset };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The log file in the newest sandbox of a task the agent no longer tracks, if any. */
function forgottenTaskLog(sandboxRoot: string, frameworkId: string, taskId: string, stream: 'stdout' | 'stderr'): string | undefined {
  if (frameworkId === '' || taskId === '') return undefined;
  const dir = path.join(sandboxRoot, escapeId(frameworkId), escapeId(taskId));
  let newest: { file: string; mtimeMs: number } | undefined;
  try {
    for (const name of fs.readdirSync(dir)) {
      const st = fs.statSync(path.join(dir, name));
      if (st.isDirectory() && (newest === undefined || st.mtimeMs > newest.mtimeMs)) newest = { file: path.join(dir, name, stream), mtimeMs: st.mtimeMs };
    }
  } catch {
    return undefined;
  }
  return newest?.file;
}
