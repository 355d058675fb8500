'use strict';
// A test plugin that records the principal its context names (context.principal) in its store and
// subscribes with a name from its options, declining every offer.
exports.createFramework = async (context) => {
  await context.store.put('principal', context.principal ?? null);
  return {
    frameworkInfo: () => ({ name: String(context.options.name ?? 'whoami'), roles: ['*'] }),
    offers: async (offers) => {
      await context.scheduler.decline(offers.map((o) => o.id.value));
    },
    statusUpdate: () => undefined,
  };
};
