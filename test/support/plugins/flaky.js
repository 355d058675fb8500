'use strict';
// A test plugin whose factory throws the first `failures` times it is created (counted in the store),
// then runs a framework that does nothing but decline: shows the host restarting one plugin with
// backoff while the others carry on.
exports.createFramework = async (context) => {
  const created = ((await context.store.get('created')) ?? 0) + 1;
  await context.store.put('created', created);
  if (created <= Number(context.options.failures ?? 2)) throw new Error(`flaky plugin: failure ${created}`);
  return {
    frameworkInfo: () => ({ name: 'flaky', roles: ['*'] }),
    offers: (offers) => context.scheduler.decline(offers.map((o) => o.id.value), 3600),
    statusUpdate: () => undefined,
  };
};
