'use strict';
// A test plugin whose offers handler always throws; counts its creations in the store (so a test can
// see how many times the host restarted it) and the offers it was handed in its own metrics.
exports.createFramework = async (context) => {
  await context.store.put('created', ((await context.store.get('created')) ?? 0) + 1);
  const handed = context.metrics.counter('offer_events_total', 'OFFERS events handed to the plugin.');
  return {
    frameworkInfo: () => ({ name: 'failing', roles: ['*'] }),
    offers: async () => {
      handed.inc();
      throw new Error('offers handler failed');
    },
    statusUpdate: () => undefined,
  };
};
