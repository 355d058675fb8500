'use strict';
// Stops the Docker engine global-setup.js started (none when one was running before the tests).
const { stopDockerEngine } = require('../scripts/docker-engine');

module.exports = async () => {
  await stopDockerEngine(globalThis.__BERTH_DOCKERD_PID__);
};
