'use strict';
/**
 * rotating-logger — a Berth container logger (extension point `containerLogger`) that keeps every
 * task's `stdout` and `stderr` under a size: when a file has grown past `maxBytes` it is copied to
 * `stdout.1` (older copies shift to `.2` … up to `keep`, the oldest dropped) and truncated in place.
 * The task keeps writing to the same file (the containerizer opened it for append), so nothing is
 * lost between checks but what is written during a copy. Rotation applies to PROCESS tasks, whose
 * logs are files in the sandbox while they run; a DOCKER task's log lives in the engine until the
 * container is removed.
 *
 *   # modules.yaml, for `berth agent --modules modules.yaml` (or `berth dev --modules`)
 *   modules:
 *     - module: ./examples/modules/rotating-logger
 *       options: { maxBytes: 1048576, keep: 3, checkEveryMs: 1000 }
 *
 * Copy this file to start your own module: export `berthModule` with a name, the extension point it
 * implements, `validate(options)` (each problem names its field) and `create(options, context)`.
 */
const fs = require('node:fs');
const path = require('node:path');

const DEFAULTS = { maxBytes: 10 * 1024 * 1024, keep: 5, checkEveryMs: 5000 };

function validate(options) {
  const problems = [];
  for (const key of Object.keys(options)) if (!(key in DEFAULTS)) problems.push({ field: key, message: `unknown option (known: ${Object.keys(DEFAULTS).join(', ')})` });
  const int = (field, min) => {
    const v = options[field];
    if (v !== undefined && (!Number.isInteger(v) || v < min)) problems.push({ field, message: `must be an integer of at least ${min}, got ${JSON.stringify(v)}` });
  };
  int('maxBytes', 1);
  int('keep', 1);
  int('checkEveryMs', 10);
  return problems;
}

/** Shifts stream.1 … stream.(keep-1) up by one, copies the live file to stream.1 and truncates it. */
function rotate(file, keep) {
  for (let i = keep - 1; i >= 1; i--) {
    const from = `${file}.${i}`;
    if (fs.existsSync(from)) fs.renameSync(from, `${file}.${i + 1}`);
  }
  fs.copyFileSync(file, `${file}.1`);
  fs.truncateSync(file, 0);
}

function create(options, context) {
  const { maxBytes, keep, checkEveryMs } = { ...DEFAULTS, ...options };
  const watched = new Map(); // containerId → sandbox dir
  const check = () => {
    for (const [containerId, dir] of watched) {
      for (const stream of ['stdout', 'stderr']) {
        const file = path.join(dir, stream);
        let st;
        try {
          st = fs.lstatSync(file);
        } catch {
          continue; // not written yet
        }
        if (!st.isFile() || st.size <= maxBytes) continue; // a symlink the task put there is never followed
        try {
          rotate(file, keep);
          context.logger.debug('rotated', { containerId, file, bytes: st.size });
        } catch (err) {
          context.logger.warn('rotation failed', { containerId, file, err: err.message });
        }
      }
    }
  };
  let timer;
  const watch = (c) => {
    watched.set(c.containerId, c.sandboxDir);
    if (timer === undefined) {
      timer = setInterval(check, checkEveryMs);
    }
  };
  const close = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    watched.clear();
  };
  context.signal.addEventListener('abort', close, { once: true });
  return {
    prepare: watch,
    recover: watch,
    cleanup(containerId) {
      check(); // the last rotation: what the task wrote since the previous check
      watched.delete(containerId);
      if (watched.size === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    close,
  };
}

exports.berthModule = { name: 'rotating-logger', extends: 'containerLogger', validate, create };
