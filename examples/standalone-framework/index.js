#!/usr/bin/env node
'use strict';
/**
 * standalone-framework — a framework that is its own program, without the framework host: it runs
 * the SDK's SchedulerDriver itself (docs/writing-a-framework.md, "Without the host").
 *
 *   node examples/standalone-framework [MASTERS] [STATE_DIR]
 *   node examples/standalone-framework 127.0.0.1:5050 ./standalone-state
 *
 * It keeps one long-running task (`sleep 3600`, as a plain process) launched, declining every other
 * offer for 30 s, and prints what happens. Its framework id is kept in STATE_DIR, so a restarted
 * program takes its task back instead of registering a second framework. When the master dies the
 * program stays up and the driver re-dials until a master answers; Ctrl-C (SIGINT) or SIGTERM stops
 * it, leaving the framework registered (its task runs on for failover_timeout, an hour).
 *
 * Inside this repository `require('berth')` resolves to the repository itself (Node's package
 * self-reference; `npm install` builds it); in a project of your own, `npm install berth` first.
 */
const { SchedulerDriver, FileKeyValueStore, SystemClock, fitTask } = require('berth');

const masters = (process.argv[2] ?? process.env.BERTH_MASTERS ?? '127.0.0.1:5050').split(',');
const stateDir = process.argv[3] ?? './standalone-state';
const TASK = 'standalone-sleeper';
/** Whether the task is launched and not known to have ended. */
let live = false;

const framework = {
  frameworkInfo: () => ({ name: 'standalone', roles: ['*'], failover_timeout: 3600 }),

  registered({ frameworkId, reregistered, master }) {
    console.log(`${reregistered ? 're-subscribed' : 'subscribed'} as ${frameworkId} at ${master}`);
  },

  offers(offers) {
    for (const offer of offers) {
      const fit = live ? { ok: false } : fitTask(offer, { cpus: 0.1, mem: 32 });
      if (!fit.ok) {
        driver.decline([offer.id.value], 30);
        continue;
      }
      live = true;
      console.log(`launching ${TASK} on ${offer.hostname}`);
      driver.launch(offer, [{ name: TASK, task_id: { value: TASK }, resources: fit.resources, command: { value: 'sleep 3600' } }], 30);
    }
  },

  statusUpdate(status) {
    console.log(`${status.task_id.value}: ${status.state}${status.message ? ` (${status.message})` : ''}`);
    live = !['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN'].includes(status.state);
  },

  disconnected() {
    console.log('disconnected from the master; re-dialling');
  },

  error(message) {
    console.log(`the master says: ${message}`);
  },
};

const driver = new SchedulerDriver({ masters, framework, clock: new SystemClock(), store: new FileKeyValueStore(stateDir) });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.log('stopping');
    void driver.stop().then(() => process.exit(0));
  });
}
driver.start().catch((err) => {
  console.error(`standalone-framework: ${err.message}`);
  process.exit(1);
});
