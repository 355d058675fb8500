'use strict';
// A test module (environmentDecorator): gives every task BERTH_TEST_REGION from its `region` option
// and the task id it decorated, so a test can see it ran on the launch path.
exports.berthModule = {
  name: 'region-env',
  extends: 'environmentDecorator',
  validate: (options) => (typeof options.region === 'string' ? [] : [{ field: 'region', message: 'must be a string' }]),
  create: (options) => ({
    decorate: ({ taskId }) => ({ BERTH_TEST_REGION: options.region, BERTH_TEST_DECORATED: taskId }),
  }),
};
