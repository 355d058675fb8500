'use strict';
// A test module (registryBackend): the master's records in one JSON file (the `file` option),
// rewritten whole (temporary file, fsync, rename) on every batch. No election: one master.
const fs = require('node:fs');
const path = require('node:path');

exports.berthModule = {
  name: 'json-file-registry',
  extends: 'registryBackend',
  validate: (options) => (typeof options.file === 'string' && path.isAbsolute(options.file) ? [] : [{ field: 'file', message: 'must be an absolute path' }]),
  create: (options) => ({
    async openRegistry() {
      const records = new Map(fs.existsSync(options.file) ? Object.entries(JSON.parse(fs.readFileSync(options.file, 'utf8'))) : []);
      let closed = false;
      let writing = Promise.resolve();
      const save = () => {
        const tmp = `${options.file}.tmp`;
        const fd = fs.openSync(tmp, 'w', 0o600);
        fs.writeSync(fd, JSON.stringify(Object.fromEntries(records)));
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fs.renameSync(tmp, options.file);
      };
      return {
        load: async () => new Map(records),
        write(ops) {
          if (closed) return Promise.reject(new Error('json-file-registry: closed'));
          for (const op of ops) (op.delete ? records.delete(op.key) : records.set(op.key, op.value));
          writing = writing.then(save);
          return writing;
        },
        close: async () => {
          closed = true;
          await writing;
        },
      };
    },
  }),
};
