'use strict';
// A test plugin whose offers handler always throws; counts its creations in the store (so a test can
// see how many times the host restarted it).
exports.createFramework = async (context) => {
  await context.store.put('created', ((await context.store.get('created')) ?? 0) + 1);
  return {
    frameworkInfo: () => ({ name: 'failing', roles: ['*'] }),
    offers: async () => {
      throw new Error('offers handler failed');
    },
    statusUpdate: () => undefined,
  };
};
