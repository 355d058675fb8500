import { Resources } from '../../../src/common/resources';
import { berthV1 } from '../../../src/common/rpc/proto';
import { protoLoaderOptions } from '../../../src/common/rpc/proto-files';
import type { TaskStatus, TaskStatus__Output } from '../../../src/generated/berth/v1/TaskStatus';
import { equalBytes, recordInfo, recordStatus, ResourceShapes } from '../../../src/master/task-record';

/** A TaskStatus as the master's gRPC server hands it over: decoded with the loader's options, defaults and all. */
function decodeStatus(status: TaskStatus): { decoded: TaskStatus__Output; frame: Buffer } {
  const type = berthV1().TaskStatus as unknown as { serialize(v: unknown): Buffer; deserialize(b: Buffer): TaskStatus__Output };
  const frame = type.serialize(status);
  return { decoded: type.deserialize(frame), frame };
}

describe('task records', () => {
  test('a kept status keeps its uuid and data as base64 text (nothing of the frame, no pooled buffer) and encodes to the same bytes', () => {
    const uuid = Buffer.from('0123456789abcdef');
    const { decoded, frame } = decodeStatus({ task_id: { value: 't1' }, state: 'TASK_RUNNING', message: 'up', uuid, data: Buffer.from('payload'), timestamp: 12.5 });
    expect(protoLoaderOptions().defaults).toBe(true);
    const kept = recordStatus(decoded, { value: 'agent-7' });
    expect(kept.uuid).toBe(uuid.toString('base64'));
    frame.fill(0); // the frame's memory reused: the decoded views change, the record does not
    expect((decoded.uuid as Buffer).toString()).not.toBe('0123456789abcdef');
    expect(Buffer.from(kept.uuid as string, 'base64').toString()).toBe('0123456789abcdef');
    expect(kept.data).toBe(Buffer.from('payload').toString('base64'));
    expect(recordStatus({ ...decoded, uuid: kept.uuid as string }).uuid).toBe(kept.uuid); // text given stays text
    expect(kept.agent_id).toEqual({ value: 'agent-7' });

    const type = berthV1().TaskStatus as unknown as { serialize(v: unknown): Buffer };
    const again = decodeStatus({ task_id: { value: 't1' }, state: 'TASK_RUNNING', message: 'up', uuid, data: Buffer.from('payload'), timestamp: 12.5, agent_id: { value: 'agent-7' } });
    expect(type.serialize(kept).equals(type.serialize(again.decoded))).toBe(true);
  });

  test('empty bytes fields share one empty buffer; without an agent id the reported one stays', () => {
    const a = recordStatus(decodeStatus({ task_id: { value: 'a' }, state: 'TASK_STAGING', agent_id: { value: 'x' } }).decoded);
    const b = recordStatus(decodeStatus({ task_id: { value: 'b' }, state: 'TASK_STAGING' }).decoded);
    expect(a.uuid).toBe(b.uuid);
    expect(a.data).toBe(b.uuid);
    expect((a.uuid as Buffer).length).toBe(0);
    expect(a.agent_id).toEqual({ value: 'x' });
  });

  test('the kept TaskInfo has the fields the master reads back, one shape whatever was given', () => {
    const command = { value: 'sleep 1', shell: true, arguments: [], environment: null, uris: [] };
    const info = recordInfo({ name: 'web', command, labels: null });
    expect(info).toEqual({ name: 'web', command, container: null, health_check: null, kill_policy: null, max_completion_time: null, labels: null, discovery: null });
    expect(Object.keys(recordInfo({}))).toEqual(Object.keys(info));
    // The command is a copy of one shape; empty lists are one shared, frozen list.
    const other = recordInfo({ name: 'db', command: { value: 'run', arguments: [], environment: null, uris: [] } });
    expect(Object.keys(other.command!)).toEqual(Object.keys(info.command!));
    expect(other.command!.arguments).toBe(info.command!.uris);
    expect(Object.isFrozen(info.command!.arguments)).toBe(true);
    const args = ['-c', 'x'];
    expect(recordInfo({ command: { ...command, arguments: args } }).command!.arguments).toBe(args);
  });

  test('a kept status has one shape, whether decoded with defaults or made up by the master', () => {
    const agent = Object.freeze({ value: 'agent-7' });
    const decoded = recordStatus(decodeStatus({ task_id: { value: 'a' }, state: 'TASK_RUNNING', healthy: true }).decoded, agent);
    const madeUp = recordStatus({ task_id: { value: 'a' }, state: 'TASK_LOST', reason: 'REASON_AGENT_REMOVED' });
    expect(Object.keys(madeUp)).toEqual(Object.keys(decoded));
    expect(decoded.agent_id).toBe(agent);
    expect(decoded.healthy).toBe(true);
    expect(madeUp.healthy).toBeUndefined();
  });

  test('bytes fields compare by value: a view, a copy and the base64 text of the same uuid are equal; absent is empty', () => {
    const uuid = Buffer.from('0123456789abcdef');
    const frame = Buffer.concat([Buffer.from('xx'), uuid]);
    expect(equalBytes(uuid, frame.subarray(2))).toBe(true);
    expect(equalBytes(uuid, uuid.toString('base64'))).toBe(true);
    expect(equalBytes(uuid, Buffer.from('0123456789abcdeF'))).toBe(false);
    expect(equalBytes(undefined, Buffer.alloc(0))).toBe(true);
    expect(equalBytes(null, uuid)).toBe(false);
  });

  test('tasks of one shape share one Resources; other shapes do not', () => {
    const shapes = new ResourceShapes(4);
    const first = shapes.intern(Resources.parse('cpus:0.1;mem:32'));
    expect(shapes.intern(Resources.parse('cpus:0.1;mem:32'))).toBe(first);
    const other = Resources.parse('cpus:0.2;mem:32');
    expect(shapes.intern(other)).toBe(other);
    // A reservation's labels are part of the shape.
    const reserved = shapes.intern(Resources.parse('cpus(eng):1'));
    const labelled = Resources.of([...reserved.entries].map((e) => ({ ...e, reservations: e.reservations.map((r) => ({ ...r, labels: { k: 'v' } })) })));
    expect(shapes.intern(labelled)).toBe(labelled);
    expect(shapes.intern(Resources.parse('cpus(eng):1'))).toBe(reserved);
  });

  test('a shape handed out before is given back as it is, without printing its key again', () => {
    const shapes = new ResourceShapes(4);
    const first = shapes.intern(Resources.parse('cpus:0.1;mem:32'));
    const print = jest.spyOn(first, 'toString');
    expect(shapes.intern(first)).toBe(first);
    expect(print).not.toHaveBeenCalled();
    expect(shapes.intern(Resources.parse('cpus:0.1;mem:32'))).toBe(first); // an equal copy still finds it
  });

  test('the cache is bounded: the oldest shape goes first', () => {
    const shapes = new ResourceShapes(2);
    const a = shapes.intern(Resources.parse('cpus:1'));
    shapes.intern(Resources.parse('cpus:2'));
    shapes.intern(Resources.parse('cpus:3'));
    expect(shapes.size).toBe(2);
    expect(shapes.intern(Resources.parse('cpus:1'))).not.toBe(a);
    expect(shapes.intern(Resources.parse('cpus:3'))).toBe(shapes.intern(Resources.parse('cpus:3')));
    expect(shapes.intern(Resources.empty())).toBe(Resources.empty());
  });
});
