/**
 * `Labels` ↔ a list of key/value pairs (lossless) or a plain record (for reservation labels).
 *
 * The wire keeps labels as an ordered list where keys may repeat and an absent value differs from an
 * empty one; `labelsFromWire` keeps all of that. Only reservation labels are a record in Berth's
 * resource model (`Reservation.labels`), which can hold neither a repeated key nor an absent value,
 * so `labelsToRecord` rejects those instead of silently dropping them.
 */
import type { Labels } from '../../generated/berth/v1/Labels';
import type { Labels__Output } from '../../generated/berth/v1/Labels';
import { collectProblems, describeValue, type Problems } from './problems';
import { hasControlCharacters } from './values';

/** One label as Berth keeps it. `value` is absent when the wire had none (not the same as `''`). */
export interface LabelEntry {
  readonly key: string;
  readonly value?: string;
}

/** Longest label key accepted. Values are bounded only by the message size. */
export const MAX_LABEL_KEY_LENGTH = 1024;

/**
 * Converts wire labels to a list, checking that every key is a non-empty string without control
 * characters and that no key/value pair repeats. `null`/absent gives `[]`.
 *
 * @throws ValidationError naming each bad label, e.g. `labels.labels[1].key: must not be empty`.
 */
export function labelsFromWire(labels: Labels | null | undefined, path = 'labels'): LabelEntry[] {
  return collectProblems((problems) => readLabels(labels, path, problems));
}

/** {@link labelsFromWire} that records problems in `problems` instead of throwing. */
export function readLabels(labels: Labels | null | undefined, path: string, problems: Problems): LabelEntry[] {
  const out: LabelEntry[] = [];
  const seen = new Set<string>();
  (labels?.labels ?? []).forEach((label, i) => {
    const at = `${path}.labels[${i}]`;
    const key: unknown = label?.key;
    const value: unknown = label?.value;
    if (typeof key !== 'string' || key === '') {
      problems.add(`${at}.key`, `must be a non-empty string, got ${describeValue(key)}`);
      return;
    }
    if (key.length > MAX_LABEL_KEY_LENGTH || hasControlCharacters(key)) {
      problems.add(`${at}.key`, `must be at most ${MAX_LABEL_KEY_LENGTH} characters without control characters, got ${describeValue(key)}`);
      return;
    }
    if (value !== undefined && value !== null && typeof value !== 'string') {
      problems.add(`${at}.value`, `must be a string, got ${describeValue(value)}`);
      return;
    }
    const identity = JSON.stringify([key, value ?? null]);
    if (seen.has(identity)) {
      problems.add(at, `repeats the label ${describeValue(key)}=${describeValue(value ?? undefined)}`);
      return;
    }
    seen.add(identity);
    out.push(typeof value === 'string' ? { key, value } : { key });
  });
  return out;
}

/**
 * Wire labels from a list (order kept, absent values kept absent) or from a record (keys in sorted
 * order, so equal records give equal messages), in the decoded shape (with the `_value` marker of a
 * proto3 optional). `undefined` gives an empty list. Never throws.
 */
export function labelsToWire(labels: readonly LabelEntry[] | Readonly<Record<string, string>> | undefined): Labels__Output {
  if (labels === undefined) return { labels: [] };
  if (Array.isArray(labels)) {
    return {
      labels: (labels as readonly LabelEntry[]).map((l) => (l.value === undefined ? { key: l.key } : { key: l.key, value: l.value, _value: 'value' as const })),
    };
  }
  const record = labels as Readonly<Record<string, string>>;
  return { labels: Object.keys(record).sort().map((key) => ({ key, value: record[key], _value: 'value' as const })) };
}

/**
 * A record from a label list, for places where keys must be unique and every label needs a value
 * (reservation labels).
 *
 * @throws ValidationError for a repeated key or an absent value, naming the label.
 */
export function labelsToRecord(list: readonly LabelEntry[], path = 'labels'): Record<string, string> {
  return collectProblems((problems) => recordOfLabels(list, path, problems));
}

/** {@link labelsToRecord} that records problems in `problems` instead of throwing. */
export function recordOfLabels(list: readonly LabelEntry[], path: string, problems: Problems): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  list.forEach((l, i) => {
    const at = `${path}.labels[${i}]`;
    if (l.value === undefined) {
      problems.add(`${at}.value`, `label ${describeValue(l.key)} needs a value here (send "" for an empty one)`);
    } else if (Object.prototype.hasOwnProperty.call(out, l.key)) {
      problems.add(`${at}.key`, `repeats the key ${describeValue(l.key)}: keys must be unique here`);
    } else {
      out[l.key] = l.value;
    }
  });
  return { ...out };
}
