/**
 * The rules `Resources` enforces with errors, kept apart from its arithmetic: persistent volumes are
 * never merged (only identical shared copies may repeat), and what `minus` cannot subtract is named
 * with what there is instead.
 */
import { ResourceError } from './errors';
import { entryText, type Entry } from './resource-entry';

function volumeConflict(a: Entry, b: Entry): never {
  throw new ResourceError(
    'INVALID_RESOURCES',
    `persistent volume ${JSON.stringify(a.disk!.persistence!.id)} appears twice (${entryText(a)} and ${entryText(b)}): ` +
      'persistent volumes are never merged; only identical shared volumes may repeat',
  );
}

/** Throws if two volumes with one persistence id are not identical shared copies. */
export function checkVolumes(a: readonly Entry[], b: readonly Entry[] | undefined): void {
  const byId = new Map<string, Entry>();
  const visit = (e: Entry): void => {
    if (!e.isVolume) return;
    const id = e.disk!.persistence!.id;
    const prev = byId.get(id);
    if (prev === undefined) byId.set(id, e);
    else if (!(prev.shared && prev.key === e.key && prev.scalar === e.scalar)) volumeConflict(prev, e);
  };
  a.forEach(visit);
  b?.forEach(visit);
}

export function countVolumes(entries: readonly Entry[]): number {
  let n = 0;
  for (let i = 0; i < entries.length; i++) if (entries[i].isVolume) n++;
  return n;
}

/** Throws RESOURCES_NOT_CONTAINED for `what`, saying what matching entry there is (`have`). */
export function notContained(what: Entry, have: Entry | undefined): never {
  const detail =
    have === undefined
      ? 'no matching resource (same name, reservations, disk and flags) is available'
      : have.isVolume
        ? `persistent volumes are removed only whole, and the matching one is ${JSON.stringify(entryText(have))}`
        : `only ${JSON.stringify(entryText(have))} is available`;
  throw new ResourceError('RESOURCES_NOT_CONTAINED', `cannot subtract ${JSON.stringify(entryText(what))}: ${detail}`);
}
