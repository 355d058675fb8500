'use strict';
// A test module (isolator): appends each call it gets (prepare, isolate, cleanup) to the file named
// by its `journal` option, one line each, so a test can check the order around a real container.
const fs = require('node:fs');
exports.berthModule = {
  name: 'journal-isolator',
  extends: 'isolator',
  validate: (options) => (typeof options.journal === 'string' ? [] : [{ field: 'journal', message: 'must be a file path' }]),
  create: (options) => {
    const note = (line) => fs.appendFileSync(options.journal, `${line}\n`);
    return {
      prepare: (spec) => note(`prepare ${spec.taskId} ${spec.containerId}`),
      isolate: (containerId, pid) => note(`isolate ${containerId} ${typeof pid === 'number' && pid > 0 ? 'pid' : 'no-pid'}`),
      cleanup: (containerId) => note(`cleanup ${containerId}`),
    };
  },
};
