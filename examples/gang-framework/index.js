'use strict';
/**
 * gang-framework — a framework plugin that runs its tasks as one gang: all of them start together
 * or none does (the way an MPI job or a distributed training step must start).
 *
 * It declares a gang of `size` tasks (default 2, spread ANY; ONE_PER_AGENT needs as many agents) in its demand.
 * The master holds a gang offer for it only when the whole gang fits; the plugin then launches
 * every task with one `launchGang` call, and once they are all RUNNING it drops the gang from its
 * demand. Its progress is kept in the store, so a restarted host does not launch the gang again.
 *
 *   berth dev --plugins ./examples/gang-framework                      # 2 tasks, packed on the one agent
 *   berth frameworks --masters 127.0.0.1:5050 --plugins ./examples/gang-framework --grpc-port 0 --auth-enabled false \
 *     --plugin-options '{"gang-framework": {"size": 4, "spread": "ONE_PER_AGENT", "image": "berth-test/busybox:latest"}}'
 *
 * Then `berth task list` shows gang-0 … gang-N-1, all launched in the same instant.
 */
const { gangDemand } = require('berth');

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE']);
const SHAPE = { cpus: 0.1, mem: 32 };

/** @type {import('berth').PluginFactory} */
exports.createFramework = (context) => {
  const size = Number(context.options.size ?? 2);
  const spread = context.options.spread ?? 'ANY';
  const image = typeof context.options.image === 'string' ? context.options.image : undefined;
  const log = context.logger;
  // 'waiting' (gang declared), 'launched' (ACCEPT_GANG sent), 'running' (every task RUNNING).
  let state = { phase: 'waiting', running: [] };
  const save = () => context.store.put('state', state);
  const gang = { id: 'gang', shapes: [{ ...SHAPE, count: size }], spread };
  // While waiting, the demand is the gang alone (no ordinary offers); afterwards, nothing.
  const demand = () => ({ '*': { shapes: [], gangs: state.phase === 'waiting' ? [gangDemand(gang)] : [] } });
  const info = () => ({ name: 'gang', roles: ['*'], failover_timeout: 3600, demand: demand() });

  return {
    frameworkInfo: info,

    async registered({ frameworkId, reregistered }) {
      state = (await context.store.get('state')) ?? state;
      log.info('gang-framework subscribed', { frameworkId, reregistered, phase: state.phase });
      context.scheduler.updateFramework(info());
      if (state.phase !== 'waiting') context.scheduler.reconcile([...Array(size).keys()].map((i) => ({ taskId: `gang-${i}` })));
    },

    // Gang-only demand: ordinary offers do not come, but a handler is required.
    offers(offers) {
      context.scheduler.decline(offers.map((o) => o.id.value), 60);
    },

    async gangOffers(offer) {
      if (state.phase !== 'waiting') return context.scheduler.declineGang(offer.gangId, 3600);
      state.phase = 'launched';
      await save(); // intent first: a crash after this never launches the gang twice
      context.scheduler.launchGang(offer, SHAPE, (i, o, fit) => ({
        name: `gang-${i}`,
        task_id: { value: `gang-${i}` },
        resources: fit.resources,
        command: { value: `echo "member ${i} of ${size} on $HOSTNAME"; sleep 3600`, shell: true },
        ...(image !== undefined ? { container: { type: 'DOCKER', docker: { image } } } : {}),
      }));
      context.scheduler.updateFramework(info());
      log.info('gang launched', { gangId: offer.gangId, tasks: offer.tasks, agents: offer.offers.length });
    },

    // A refused ACCEPT_GANG launched nothing: declare the gang again and wait for the next offer.
    async error(message) {
      if (state.phase !== 'launched' || state.running.length > 0 || !message.includes('accept_gang')) return;
      log.warn('gang launch refused; waiting for another gang offer', { message });
      state.phase = 'waiting';
      await save();
      context.scheduler.updateFramework(info());
    },

    gangRescinded(gangId, reason) {
      log.info('gang offer rescinded; it is offered again when it fits', { gangId, reason });
    },

    async statusUpdate(status) {
      const taskId = status.task_id.value;
      if (status.state === 'TASK_RUNNING' && !state.running.includes(taskId)) {
        state.running.push(taskId);
        if (state.running.length === size) {
          state.phase = 'running';
          log.info('the whole gang is running', { size });
        }
        await save();
      } else if (TERMINAL.has(status.state)) {
        log.warn('a gang member ended', { taskId, state: status.state, message: status.message });
      }
    },
  };
};
