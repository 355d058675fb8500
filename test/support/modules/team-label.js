'use strict';
// A test module (taskLabelDecorator): labels every task with the team its framework's principal
// belongs to, from the `teams` option (principal → team), and with the role it launches in.
exports.berthModule = {
  name: 'team-label',
  extends: 'taskLabelDecorator',
  validate: (options) => (typeof options.teams === 'object' && options.teams !== null ? [] : [{ field: 'teams', message: 'must map principals to teams' }]),
  create: (options) => ({
    decorate: ({ principal, role }) => ({ team: options.teams[principal ?? ''] ?? 'none', 'launched-in-role': role }),
  }),
};
