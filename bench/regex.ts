/**
 * Constraint regex benchmark: what one match of a client's pattern costs the master, printed as JSON.
 *
 *   npm run bench:regex -- [--length 10000] [--json]
 *
 * For each pattern (the hazards a backtracking engine cannot survive, and everyday ones) it times a
 * whole-value match against a hostname of `--length` characters that almost matches (the worst case
 * for a backtracker), fresh each time so the per-pattern memory of answers does not help. For contrast
 * it times JavaScript's own engine on `^(\w|\d)+$` at 22 characters, the figure the issue measured.
 */
import { performance } from 'node:perf_hooks';
import { compileSafeRegex } from '../src/common/safe-regex';

const PATTERNS = ['(\\w|\\d)+', '(a+)+', '(.*.*)*x', '(a|aa)+', '([a-z0-9-]+\\.)*example', 'rack-[12]', 'eu-(west|east)-[0-9]+', '.*'];

function main(): void {
  const args = process.argv.slice(2);
  const at = args.indexOf('--length');
  const length = at >= 0 ? Number(args[at + 1]) : 10_000;
  const json = args.includes('--json');
  const results: Record<string, number> = {};
  let worst = 0;
  for (const p of PATTERNS) {
    const re = compileSafeRegex(p);
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      const value = `${'1a'.repeat(length / 2 - 1)}${i % 10}!`; // distinct each round: no memoized answer
      const t0 = performance.now();
      re.test(value);
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    const median = samples[samples.length >> 1]!;
    results[p] = Number(median.toFixed(4));
    worst = Math.max(worst, median);
  }
  const js = /^(?:(\w|\d)+)$/;
  const t0 = performance.now();
  js.test(`${'1'.repeat(21)}!`);
  const jsMs = performance.now() - t0;
  const out = { value_length: length, worst_match_ms: Number(worst.toFixed(4)), match_ms_by_pattern: results, js_backtracking_ms_22_chars: Number(jsMs.toFixed(2)) };
  if (json) console.log(JSON.stringify(out));
  else console.log(JSON.stringify(out, null, 2));
}

main();
