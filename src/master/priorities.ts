/**
 * Priority classes (the master's `priorityClasses`): names with a whole-number value, higher
 * wins. "default" (0) always exists; an empty name means the next level's class (a task's the
 * framework's, a gang's the framework's, a framework's "default"). Values matter only to
 * preemption (preemption.ts), which takes resources for a gang only from tasks of strictly lower
 * value, and to the order in which pending gangs are placed.
 */
export const DEFAULT_PRIORITY_CLASS = 'default';

/** Highest and lowest value a class may have (the wire carries priorities as int32). */
export const MAX_PRIORITY = 1_000_000_000;

export class PriorityClasses {
  private readonly values: ReadonlyMap<string, number>;

  /** @param classes name → value; "default" may be redefined, otherwise it is 0. */
  constructor(classes: Readonly<Record<string, number>> = {}) {
    this.values = new Map([[DEFAULT_PRIORITY_CLASS, 0], ...Object.entries(classes)]);
  }

  /** The class a name resolves to: `name`, or `fallback` when empty, or "default". */
  resolveName(name: string | null | undefined, fallback?: string | null): string {
    if (name !== undefined && name !== null && name !== '') return name;
    if (fallback !== undefined && fallback !== null && fallback !== '') return fallback;
    return DEFAULT_PRIORITY_CLASS;
  }

  /** The value of a class, or undefined for a name that is not configured. */
  value(name: string): number | undefined {
    return this.values.get(name);
  }

  /** The value of a resolved class; a name no longer configured (after a restart) counts as "default". */
  valueOr0(name: string): number {
    return this.values.get(name) ?? this.values.get(DEFAULT_PRIORITY_CLASS)!;
  }

  /** The lowest value of any class: nothing can preempt for a demand at this priority. */
  lowest(): number {
    return Math.min(...this.values.values());
  }

  /** Why `name` (non-empty) is not a class, naming the known ones; undefined when it is one. */
  problem(name: string): string | undefined {
    if (this.values.has(name)) return undefined;
    return `unknown priority class ${JSON.stringify(name)}: the master knows ${[...this.values].map(([n, v]) => `${n} (${v})`).join(', ')} (its priorityClasses setting)`;
  }
}
