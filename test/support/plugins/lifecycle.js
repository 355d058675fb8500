'use strict';
// A test plugin for the SDK's lifecycle calls: it launches one task (`lc-1`) on its first offer and
// declines what is left with `options.refuseSeconds` through the filters argument, declines later
// offers the same way, kills its running tasks from `stop()`, and hands the test what it needs
// (its context, the offers it got, the tasks running, whether it was stopped) through `options.hooks`.
exports.createFramework = (context) => {
  const hooks = context.options.hooks;
  const filters = { refuseSeconds: Number(context.options.refuseSeconds ?? 5) };
  hooks.context = context;
  hooks.offers = 0;
  hooks.running = new Set();
  hooks.stopped = false;
  let launched = false;
  return {
    frameworkInfo: () => ({ name: 'lifecycle', roles: ['*'], failover_timeout: 3600 }),
    offers: (offers) => {
      for (const offer of offers) {
        hooks.offers++;
        if (launched) {
          context.scheduler.decline([offer.id.value], filters);
          continue;
        }
        launched = true;
        const task = { name: 'lc-1', task_id: { value: 'lc-1' }, command: { value: 'sleep 1000', shell: true }, resources: [
          { name: 'cpus', type: 'SCALAR', scalar: { value: 1 } },
          { name: 'mem', type: 'SCALAR', scalar: { value: 64 } },
        ] };
        context.scheduler.launch(offer, [task], filters);
      }
    },
    statusUpdate: (status) => {
      if (status.state === 'TASK_RUNNING') hooks.running.add(status.task_id.value);
      else hooks.running.delete(status.task_id.value);
    },
    stop: () => {
      hooks.stopped = true;
      for (const taskId of hooks.running) context.scheduler.kill(taskId);
    },
  };
};
