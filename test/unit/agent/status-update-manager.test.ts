import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { FakeClock } from '../../../src/common/clock';
import { Checkpoint, CheckpointCorruptError, layout } from '../../../src/agent/checkpoint';
import { StatusUpdateManager, uuidHex, type StatusUpdateManagerOptions } from '../../../src/agent/status-update-manager';
import type { StatusUpdate } from '../../../src/generated/berth/v1/StatusUpdate';
import type { TaskStatus } from '../../../src/generated/berth/v1/TaskStatus';

let dir: string;
let clock: FakeClock;
let sent: StatusUpdate[];
let managers: StatusUpdateManager[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sum-'));
  clock = new FakeClock();
  sent = [];
  managers = [];
});
afterEach(() => {
  for (const m of managers) m.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function manager(extra: Partial<StatusUpdateManagerOptions> = {}): StatusUpdateManager {
  const m = new StatusUpdateManager({ checkpoint: dir, clock, send: (u) => { sent.push(u); }, agentId: () => 'agent-1', ...extra });
  managers.push(m);
  return m;
}

function status(task: string, state: TaskStatus['state'], uuid?: string): TaskStatus {
  return { task_id: { value: task }, state, ...(uuid !== undefined ? { uuid: Buffer.from(uuid.padStart(32, '0'), 'hex') } : {}) };
}

/** "task:STATE" of each sent update, in order. */
function log(): string[] {
  return sent.map((u) => `${u.status!.task_id!.value}:${String(u.status!.state)}`);
}

const FW = 'fw-1';

describe('StatusUpdateManager', () => {
  it('stamps uuid, timestamp and agent id, and sends the head at once with latest_state', () => {
    const m = manager();
    const r = m.update(FW, status('t1', 'TASK_STARTING'));
    expect(r.accepted).toBe(true);
    expect(r.uuid).toHaveLength(16);
    expect(sent).toHaveLength(1);
    const u = sent[0]!;
    expect(u.framework_id).toEqual({ value: FW });
    expect(uuidHex(u.status!.uuid as Buffer)).toBe(r.uuid.toString('hex'));
    expect(u.status!.timestamp).toBe(clock.now() / 1000);
    expect(u.status!.agent_id).toEqual({ value: 'agent-1' });
    expect(u.latest_state).toBe('TASK_STARTING');
  });

  it('sends one task\'s updates strictly in order, one at a time, each after the previous ack', () => {
    const m = manager();
    const a = m.update(FW, status('t1', 'TASK_STARTING'));
    const b = m.update(FW, status('t1', 'TASK_RUNNING'));
    m.update(FW, status('t1', 'TASK_FINISHED'));
    expect(log()).toEqual(['t1:TASK_STARTING']);
    expect(sent[0]!.latest_state).toBe('TASK_STARTING'); // nothing newer was known when it was sent
    clock.advance(10_000); // the resend carries the newest state, so the master can free resources early
    expect(log()).toEqual(['t1:TASK_STARTING', 't1:TASK_STARTING']);
    expect(sent[1]!.latest_state).toBe('TASK_FINISHED');
    sent.length = 0;
    expect(m.acknowledge(FW, 't1', a.uuid)).toBe(true);
    expect(log()).toEqual(['t1:TASK_RUNNING']);
    expect(m.acknowledge(FW, 't1', b.uuid)).toBe(true);
    expect(log()).toEqual(['t1:TASK_RUNNING', 't1:TASK_FINISHED']);
  });

  it('keeps tasks independent: a stuck head of one task does not hold another', () => {
    const m = manager();
    m.update(FW, status('t1', 'TASK_STARTING'));
    const b1 = m.update(FW, status('t2', 'TASK_STARTING'));
    m.update(FW, status('t1', 'TASK_RUNNING'));
    m.update(FW, status('t2', 'TASK_RUNNING'));
    m.update('fw-2', status('t1', 'TASK_STARTING')); // same task id, other framework: another stream
    expect(log()).toEqual(['t1:TASK_STARTING', 't2:TASK_STARTING', 't1:TASK_STARTING']);
    expect(sent[2]!.framework_id).toEqual({ value: 'fw-2' });
    m.acknowledge(FW, 't2', b1.uuid);
    expect(log().slice(3)).toEqual(['t2:TASK_RUNNING']);
  });

  it('resends the head with doubling backoff capped at the maximum, and resets after an ack', () => {
    const m = manager({ retryMinMs: 10_000, retryMaxMs: 60_000 });
    const a = m.update(FW, status('t1', 'TASK_RUNNING'));
    const start = clock.now();
    const times: number[] = [];
    sent.length = 0;
    // record when each resend happens, in 1 s steps
    for (let i = 0; i < 300; i++) {
      const before = sent.length;
      clock.advance(1_000);
      if (sent.length > before) times.push(clock.now() - start);
    }
    // gaps 10, 20, 40, then 60 (capped), 60, … seconds
    expect(times.slice(0, 6)).toEqual([10_000, 30_000, 70_000, 130_000, 190_000, 250_000]);
    expect(sent.every((u) => uuidHex(u.status!.uuid as Buffer) === a.uuid.toString('hex'))).toBe(true);

    const b = m.update(FW, status('t1', 'TASK_FINISHED'));
    expect(m.acknowledge(FW, 't1', a.uuid)).toBe(true);
    sent.length = 0;
    clock.advance(9_999);
    expect(sent).toHaveLength(0);
    clock.advance(1);
    expect(sent).toHaveLength(1); // back to the minimum interval for the new head
    expect(uuidHex(sent[0]!.status!.uuid as Buffer)).toBe(b.uuid.toString('hex'));
  });

  it('uses Mesos\'s 10 s / 10 min defaults', () => {
    const m = manager();
    m.update(FW, status('t1', 'TASK_RUNNING'));
    sent.length = 0;
    clock.advance(9_999);
    expect(sent).toHaveLength(0);
    clock.advance(1);
    expect(sent).toHaveLength(1);
    // 10+20+40+80+160+320 = 630 s: the 6 doublings; after that every 600 s
    clock.advance(620_000);
    expect(sent).toHaveLength(6);
    clock.advance(599_999);
    expect(sent).toHaveLength(6);
    clock.advance(1);
    expect(sent).toHaveLength(7);
  });

  it('ignores stale, duplicate and unknown acks', () => {
    const m = manager();
    const a = m.update(FW, status('t1', 'TASK_STARTING'));
    const b = m.update(FW, status('t1', 'TASK_RUNNING'));
    expect(m.acknowledge(FW, 't1', b.uuid)).toBe(false); // not the head
    expect(log()).toEqual(['t1:TASK_STARTING']);
    expect(m.acknowledge(FW, 't1', a.uuid)).toBe(true);
    expect(m.acknowledge(FW, 't1', a.uuid)).toBe(false); // duplicate
    expect(m.acknowledge(FW, 'nope', a.uuid)).toBe(false);
    expect(m.acknowledge('fw-x', 't1', b.uuid)).toBe(false);
    expect(m.pending().map((u) => uuidHex(u.status!.uuid as Buffer))).toEqual([b.uuid.toString('hex')]);
    expect(log()).toEqual(['t1:TASK_STARTING', 't1:TASK_RUNNING']);
  });

  it('drops an update whose uuid it already holds, queued or acknowledged', () => {
    const m = manager();
    expect(m.update(FW, status('t1', 'TASK_STARTING', 'aa')).accepted).toBe(true);
    expect(m.update(FW, status('t1', 'TASK_STARTING', 'aa')).accepted).toBe(false);
    expect(m.pending()).toHaveLength(1);
    m.acknowledge(FW, 't1', Buffer.from('aa'.padStart(32, '0'), 'hex'));
    expect(m.update(FW, status('t1', 'TASK_STARTING', 'aa')).accepted).toBe(false); // a late retry
    expect(m.pending()).toHaveLength(0);
    expect(sent).toHaveLength(1);
  });

  it('checkpoints before sending: a send that throws leaves the update recoverable', () => {
    const onDisk: unknown[] = [];
    const m = manager({
      send: () => {
        onDisk.push(new Checkpoint(dir).readJson(layout.taskUpdates(FW, 't1')));
        throw new Error('link down');
      },
    });
    const r = m.update(FW, status('t1', 'TASK_RUNNING'));
    expect(r.accepted).toBe(true);
    expect(onDisk).toHaveLength(1);
    expect(JSON.stringify(onDisk[0])).toContain('TASK_RUNNING');
    m.close();

    const restarted = manager();
    expect(restarted.recover()).toBe(1);
    expect(sent).toHaveLength(0); // recover sends nothing by itself
    restarted.flush();
    expect(sent).toHaveLength(1);
    expect(uuidHex(sent[0]!.status!.uuid as Buffer)).toBe(r.uuid.toString('hex'));
  });

  it('recovers after a restart and resends in order; pending() lists every unacknowledged update', () => {
    const m = manager();
    const a1 = m.update(FW, status('t1', 'TASK_STARTING'));
    m.update(FW, status('t1', 'TASK_RUNNING'));
    m.update(FW, status('t1', 'TASK_FAILED'));
    m.update(FW, status('t2', 'TASK_RUNNING'));
    m.acknowledge(FW, 't1', a1.uuid);
    m.close(); // "crash": a new manager over the same directory

    sent.length = 0;
    const r = manager();
    expect(r.recover()).toBe(3);
    expect(r.pending().map((u) => `${u.status!.task_id!.value}:${String(u.status!.state)}`).sort())
      .toEqual(['t1:TASK_FAILED', 't1:TASK_RUNNING', 't2:TASK_RUNNING']);
    expect(r.pending().filter((u) => u.status!.task_id!.value === 't1').map((u) => u.status!.state)).toEqual(['TASK_RUNNING', 'TASK_FAILED']);
    r.flush();
    expect(log().sort()).toEqual(['t1:TASK_RUNNING', 't2:TASK_RUNNING']);
    const head = sent.find((u) => u.status!.task_id!.value === 't1')!;
    expect(head.latest_state).toBe('TASK_FAILED');
    // the acknowledged uuid is remembered across the restart
    expect(r.update(FW, { ...status('t1', 'TASK_STARTING'), uuid: a1.uuid }).accepted).toBe(false);
    expect(r.acknowledge(FW, 't1', head.status!.uuid as Buffer)).toBe(true);
    expect(log().slice(-1)).toEqual(['t1:TASK_FAILED']);
  });

  it('closes the stream and removes its checkpoint when the terminal update is acknowledged', () => {
    const m = manager();
    const a = m.update(FW, status('t1', 'TASK_RUNNING'));
    const b = m.update(FW, status('t1', 'TASK_KILLED'));
    expect(m.update(FW, status('t1', 'TASK_RUNNING')).accepted).toBe(false); // nothing after terminal
    const file = path.join(dir, layout.taskUpdates(FW, 't1'));
    expect(fs.existsSync(file)).toBe(true);
    m.acknowledge(FW, 't1', a.uuid);
    expect(fs.existsSync(file)).toBe(true);
    expect(m.acknowledge(FW, 't1', b.uuid)).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    expect(m.pending()).toEqual([]);
    expect(clock.pending).toBe(0); // no resend timer left
    expect(m.acknowledge(FW, 't1', b.uuid)).toBe(false);
    expect(m.update(FW, { ...status('t1', 'TASK_KILLED'), uuid: b.uuid }).accepted).toBe(false); // a late retry
    expect(m.pending()).toEqual([]);
    const r = manager();
    expect(r.recover()).toBe(0);
  });

  it('pause() stops sending and resending; flush() resends every head at once', () => {
    const m = manager();
    m.update(FW, status('t1', 'TASK_RUNNING'));
    m.pause();
    m.update(FW, status('t2', 'TASK_RUNNING'));
    clock.advance(3_600_000);
    expect(log()).toEqual(['t1:TASK_RUNNING']);
    expect(clock.pending).toBe(0);
    m.flush();
    expect(log().slice(1).sort()).toEqual(['t1:TASK_RUNNING', 't2:TASK_RUNNING']);
    m.flush();
    expect(sent).toHaveLength(5);
    expect(clock.pending).toBe(2); // one resend timer per head, not one per flush
  });

  it('a corrupt updates checkpoint stops recovery with a clear error', () => {
    const m = manager();
    m.update(FW, status('t1', 'TASK_RUNNING'));
    m.close();
    const file = path.join(dir, layout.taskUpdates(FW, 't1'));
    fs.writeFileSync(file, '{"version":1,"frameworkId":');
    expect(() => manager().recover()).toThrow(CheckpointCorruptError);
    expect(() => manager().recover()).toThrow(/move the file aside.*--recover=cleanup/s);
    fs.writeFileSync(file, JSON.stringify({ version: 1, frameworkId: FW, taskId: 't1', terminated: false, updates: [{}], acknowledged: [] }));
    expect(() => manager().recover()).toThrow(/update 0 is not about task t1/);
  });

  it('rejects updates without a task id or a valid state, and bad retry settings', () => {
    const m = manager();
    expect(() => m.update(FW, { state: 'TASK_RUNNING' })).toThrow(/task_id/);
    expect(() => m.update(FW, status('t1', 'TASK_STATE_UNSPECIFIED'))).toThrow(/valid state/);
    expect(() => m.update('', status('t1', 'TASK_RUNNING'))).toThrow(/framework id/);
    expect(() => manager({ retryMinMs: 0 })).toThrow(/retry interval/);
    expect(() => manager({ retryMinMs: 10, retryMaxMs: 5 })).toThrow(/retry interval/);
    expect(sent).toHaveLength(0);
  });
});
