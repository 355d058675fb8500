'use strict';
// Once per jest run: a Docker engine for the Docker containerizer's tests (started here, as root, when
// none answers — and then stopped by global-teardown.js) and the test image built with `docker import`.
const { ensureDockerEngine, ensureTestImage } = require('../scripts/docker-engine');

module.exports = async () => {
  const { pid } = await ensureDockerEngine({ log: (m) => process.stderr.write(`\n[global-setup] ${m}\n`) });
  globalThis.__BERTH_DOCKERD_PID__ = pid;
  ensureTestImage();
};
