/** The contract every framework store keeps (see store.ts for the stores). */
export interface KeyValueStore {
  /** The value, or undefined. */
  get<T>(key: string): Promise<T | undefined>;
  /** Writes `value` (JSON-serialisable). */
  put(key: string, value: unknown): Promise<void>;
  /** Removes the key; absent is fine. */
  delete(key: string): Promise<void>;
  /** Every key starting with `prefix`, with its value, in key order. */
  list<T>(prefix: string): Promise<{ key: string; value: T }[]>;
}

/**
 * Keys: parts of `[A-Za-z0-9._-]` separated by `/`, none starting with a dot, at most 512 characters
 * (a leading dot is kept for the file store's temporary files).
 */
export function checkKey(key: string): void {
  if (key.length === 0 || key.length > 512 || !/^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/.test(key)) {
    throw new Error(`store key must be parts of [A-Za-z0-9._-] not starting with a dot, separated by "/", got ${JSON.stringify(key)}`);
  }
}
