/** Bounded waits in real time for tests that drive real processes and containers. */

/** Resolves with the promise's value, or throws after `ms` of real time. */
export async function within<T>(p: Promise<T>, ms = 15_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`not settled within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(t);
  }
}

/** Polls `cond` every 20 ms (real time) until it holds; throws after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
