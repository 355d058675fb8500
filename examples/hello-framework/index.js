'use strict';
/**
 * hello-framework — the smallest useful Berth framework plugin. Copy this directory to start your own.
 *
 * It runs `count` one-off tasks that print a greeting (in a Docker container when `image` is given,
 * else as a plain process), one per offer, and then asks the master for no more offers. Its progress
 * is kept in the store, so a restarted host does not run the greetings again.
 *
 *   berth dev --plugins ./examples/hello-framework                    # with the whole dev cluster
 *   berth frameworks --masters 127.0.0.1:5050 --plugins ./examples/hello-framework --grpc-port 0 --auth-enabled false \
 *     --plugin-options '{"hello-framework": {"count": 5, "image": "busybox:latest"}}'
 *
 * Then `berth task logs hello-0` prints "hello from hello-0".
 *
 * Inside this repository `require('berth')` resolves to the repository itself (Node's package
 * self-reference); in a project of your own, `npm install berth` first.
 */
const { fitTask } = require('berth');

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE']);

/** @type {import('berth').PluginFactory} */
exports.createFramework = (context) => {
  const count = Number(context.options.count ?? 3);
  const image = typeof context.options.image === 'string' ? context.options.image : undefined;
  const log = context.logger;
  // Which greetings were launched and how they ended; saved after every change.
  let state = { launched: 0, ended: {} };
  const save = () => context.store.put('state', state);

  return {
    frameworkInfo: () => ({ name: 'hello', roles: ['*'], failover_timeout: 3600 }),

    async registered({ frameworkId, reregistered }) {
      state = (await context.store.get('state')) ?? state;
      log.info('hello-framework subscribed', { frameworkId, reregistered, launched: state.launched });
      // Ask where the greetings already launched are (answers arrive as status updates).
      const pending = [];
      for (let i = 0; i < state.launched; i++) if (state.ended[`hello-${i}`] === undefined) pending.push({ taskId: `hello-${i}` });
      if (pending.length > 0) context.scheduler.reconcile(pending);
      if (state.launched >= count) context.scheduler.suppress();
    },

    async offers(offers) {
      for (const offer of offers) {
        const fit = state.launched < count ? fitTask(offer, { cpus: 0.1, mem: 32 }) : { ok: false };
        if (!fit.ok) {
          context.scheduler.decline([offer.id.value], 60);
          continue;
        }
        const taskId = `hello-${state.launched}`;
        state.launched++;
        await save(); // intent first: a crash after this never launches the same greeting twice
        context.scheduler.launch(offer, [{
          name: taskId,
          task_id: { value: taskId },
          resources: fit.resources,
          command: { value: 'echo "hello from $BERTH_TASK_ID"' },
          ...(image !== undefined ? { container: { type: 'DOCKER', docker: { image } } } : {}),
        }]);
        log.info('greeting launched', { taskId, agent: offer.hostname });
      }
      if (state.launched >= count) context.scheduler.suppress();
    },

    async statusUpdate(status) {
      const taskId = status.task_id.value;
      log.info('greeting status', { taskId, state: status.state, message: status.message });
      if (TERMINAL.has(status.state) && state.ended[taskId] === undefined) {
        state.ended[taskId] = status.state;
        await save();
      }
    },
  };
};
