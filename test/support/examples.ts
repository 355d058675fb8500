/**
 * What the tests of examples/ and docs/cluster.md share: where the examples are, the shapes of the
 * CLI's --json answers they read, a plain HTTP GET, and the next wall-clock time in a time zone.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

export const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

/** Every definition under examples/apps, examples/jobs and examples/batch, as `apps/web.yaml`, sorted. */
export function exampleFiles(): string[] {
  return ['apps', 'batch', 'jobs'].flatMap((dir) => fs.readdirSync(path.join(EXAMPLES, dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => `${dir}/${f}`)).sort();
}

/** One task of `berth app show --json`. */
export interface AppTask { task_id: string; state: string; healthy?: boolean | null; ready?: boolean | null; ports: number[]; version: string }
/** `berth app show --json` (`.app`). */
export interface AppShow { id: string; status: { instances: number; running: number; healthy: number; tasks: AppTask[] } }
/** `berth job run --json`: the run once it ended. */
export interface JobRun { run_id: string; status: string; attempts: { task_id: string; state: string }[]; message: string }

/** The app's tasks, ordered by task id (the API's order is not part of its contract). */
export function appTasks(app: AppShow): AppTask[] {
  return [...app.status.tasks].sort((a, b) => (a.task_id < b.task_id ? -1 : 1));
}

/** GET http://127.0.0.1:port/path; undefined when nothing answers within a second. */
export function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 1000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * The first whole minute after `now` (epoch ms) at which the wall clock of `timeZone` shows
 * `hour:minute` — or, on a day that skips that time (spring forward), the first minute after the
 * gap: what a daily cron `minute hour * * *` in that zone fires at. Found minute by minute with
 * Intl, independently of the framework's cron code.
 */
export function nextWallClock(now: number, timeZone: string, hour: number, minute: number): number {
  const fmt = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const minutesOfDay = (t: number): number => {
    const [h, m] = fmt.format(t).split(':').map(Number);
    return h! * 60 + m!;
  };
  const target = hour * 60 + minute;
  let t = Math.floor(now / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < 26 * 60; i++, t += 60_000) {
    const prev = minutesOfDay(t - 60_000);
    const cur = minutesOfDay(t);
    if (cur === target || (prev < target && target < cur)) return t;
  }
  throw new Error(`${hour}:${minute} never came in ${timeZone} within 26 hours of ${new Date(now).toISOString()}`);
}
