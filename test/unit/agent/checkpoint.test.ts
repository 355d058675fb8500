import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { BerthError } from '../../../src/common/errors';
import { Checkpoint, CheckpointCorruptError, escapeId, layout, unescapeId } from '../../../src/agent/checkpoint';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-checkpoint-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe('Checkpoint', () => {
  it('writes and reads JSON, with bytes round-tripping as Buffers', () => {
    const cp = new Checkpoint(dir);
    cp.writeJson('a/b/c.json', { x: 1, uuid: Buffer.from('00ff', 'hex'), nested: [{ data: new Uint8Array([1, 2]) }] });
    const back = cp.readJson<{ x: number; uuid: Buffer; nested: { data: Buffer }[] }>('a/b/c.json');
    expect(back?.x).toBe(1);
    expect(Buffer.isBuffer(back?.uuid)).toBe(true);
    expect(back?.uuid.toString('hex')).toBe('00ff');
    expect([...back!.nested[0]!.data]).toEqual([1, 2]);
    expect(fs.readdirSync(path.join(dir, 'a/b'))).toEqual(['c.json']); // no temporary file left behind
  });

  it('reads undefined for an absent file, and overwrites atomically', () => {
    const cp = new Checkpoint(dir);
    expect(cp.readJson('nope.json')).toBeUndefined();
    cp.writeJson('f.json', { v: 1 });
    cp.writeJson('f.json', { v: 2 });
    expect(cp.readJson('f.json')).toEqual({ v: 2 });
  });

  it('lists sorted names without temporary files, [] for an absent directory; removes files and trees', () => {
    const cp = new Checkpoint(dir);
    expect(cp.list('d')).toEqual([]);
    cp.writeJson('d/b.json', 1);
    cp.writeJson('d/a.json', 1);
    fs.writeFileSync(path.join(dir, 'd/c.json.tmp'), 'half');
    expect(cp.list('d')).toEqual(['a.json', 'b.json']);
    cp.remove('d/a.json');
    expect(cp.list('d')).toEqual(['b.json']);
    cp.remove('d');
    expect(cp.exists('d')).toBe(false);
    cp.remove('d'); // absent is fine
  });

  it('refuses paths outside the work directory', () => {
    const cp = new Checkpoint(dir);
    expect(() => cp.writeJson('../escape.json', 1)).toThrow(BerthError);
    expect(() => cp.remove('.')).toThrow(/whole work directory/);
  });

  it('a corrupt file throws CheckpointCorruptError naming the file and the way out', () => {
    const cp = new Checkpoint(dir);
    cp.writeJson(layout.agentId(), { agentId: 'a1' });
    const file = path.join(dir, layout.agentId());
    fs.writeFileSync(file, '{"agentId": "a1"'); // torn write by something other than writeJson
    let err: unknown;
    try { cp.readAgentId(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(CheckpointCorruptError);
    expect(err).toBeInstanceOf(BerthError);
    const e = err as CheckpointCorruptError;
    expect(e.code).toBe('CHECKPOINT_CORRUPT');
    expect(e.file).toBe(file);
    expect(e.message).toContain(file);
    expect(e.message).toContain('move the file aside');
    expect(e.message).toContain('--recover=cleanup');
    fs.writeFileSync(file, '');
    expect(() => cp.readJson(layout.agentId())).toThrow(/empty file/);
  });

  it('keeps the agent id and lists frameworks and tasks by their (escaped) ids', () => {
    const cp = new Checkpoint(dir);
    expect(cp.readAgentId()).toBeUndefined();
    cp.writeAgentId('agent-1');
    expect(cp.readAgentId()).toBe('agent-1');
    cp.writeJson(layout.frameworkInfo('fw/1'), { name: 'x' });
    cp.writeJson(layout.taskInfo('fw/1', '..'), {});
    cp.writeJson(layout.taskInfo('fw/1', 'web.0'), {});
    expect(cp.frameworkIds()).toEqual(['fw/1']);
    expect(cp.taskIds('fw/1').sort()).toEqual(['..', 'web.0']);
    for (const id of ['a/b', '..', '.', 'x%y', 'ü']) {
      expect(escapeId(id)).not.toMatch(/[/]|^\.{1,2}$/);
      expect(unescapeId(escapeId(id))).toBe(id);
    }
    expect(() => escapeId('')).toThrow(BerthError);
  });
});
