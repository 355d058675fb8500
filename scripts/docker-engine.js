'use strict';
/**
 * The local Docker engine for the test run (and any script that needs one): finds it answering on
 * /var/run/docker.sock, or — as root, when the engine is installed but not running — starts `dockerd`
 * with the network rule of this project (`--bridge=none --iptables=false --ip-masq=false`: containers
 * get host networking or none, nothing is NATed), and builds the test image `berth-test/busybox:latest`
 * from the host's static busybox with `docker import` (no registry is reachable).
 *
 * Usable from the command line: `node scripts/docker-engine.js` ensures both and prints the pid of a
 * started engine (empty when one was already running).
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const SOCKET = '/var/run/docker.sock';
const TEST_IMAGE = 'berth-test/busybox:latest';
/** Busybox applets linked in the test image. */
const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'ls', 'env', 'id', 'wget', 'nc', 'httpd', 'true', 'false', 'head', 'dd', 'kill', 'test', 'mkdir', 'touch', 'rm', 'seq'];

/** Resolves true when the engine answers `GET /_ping` within `timeoutMs`. */
function ping(timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: SOCKET, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function findDockerd() {
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'])) {
    const file = path.join(dir, 'dockerd');
    if (dir && fs.existsSync(file)) return file;
  }
  return undefined;
}

/**
 * Makes sure an engine answers. Returns `{ pid }` of the dockerd it started (stop it with
 * {@link stopDockerEngine}), or `{ pid: undefined }` when one was running already.
 * @throws Error saying what to do when no engine can be had.
 */
async function ensureDockerEngine({ timeoutMs = 60000, log = () => undefined } = {}) {
  if (await ping()) return { pid: undefined };
  const dockerd = findDockerd();
  if (dockerd === undefined) throw new Error('no Docker engine answers on /var/run/docker.sock and dockerd is not installed: run `sudo bash scripts/ensure-services.sh` (installs docker.io)');
  if (process.getuid && process.getuid() !== 0) throw new Error(`no Docker engine answers on ${SOCKET}; start one as root: dockerd --bridge=none --iptables=false --ip-masq=false`);
  const logFile = path.join(os.tmpdir(), 'berth-dockerd.log');
  const out = fs.openSync(logFile, 'a');
  log(`starting dockerd (log: ${logFile})`);
  const child = spawn(dockerd, ['--bridge=none', '--iptables=false', '--ip-masq=false'], { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  const end = Date.now() + timeoutMs;
  while (!(await ping())) {
    if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > end) {
      process.kill(child.pid, 'SIGTERM');
      throw new Error(`dockerd did not answer within ${timeoutMs} ms; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { pid: child.pid };
}

/** Stops a dockerd started by {@link ensureDockerEngine} and waits (bounded) for it to exit. */
async function stopDockerEngine(pid, timeoutMs = 30000) {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > end) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Builds {@link TEST_IMAGE} from the host's busybox unless the engine has it. */
function ensureTestImage() {
  if (spawnSync('docker', ['image', 'inspect', TEST_IMAGE], { stdio: 'ignore' }).status === 0) return;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((f) => fs.existsSync(f));
  if (busybox === undefined) throw new Error('busybox is not installed: run `sudo bash scripts/ensure-services.sh` (installs busybox-static)');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-image-'));
  try {
    for (const d of ['bin', 'tmp', 'proc', 'sys', 'dev', 'etc']) fs.mkdirSync(path.join(root, d));
    fs.copyFileSync(busybox, path.join(root, 'bin', 'busybox'));
    fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    for (const a of APPLETS) fs.symlinkSync('busybox', path.join(root, 'bin', a));
    const r = spawnSync('sh', ['-c', `tar -C "${root}" -c . | docker import - ${TEST_IMAGE}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker import of ${TEST_IMAGE} failed: ${r.stderr}`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

module.exports = { SOCKET, TEST_IMAGE, ping, ensureDockerEngine, stopDockerEngine, ensureTestImage };

if (require.main === module) {
  ensureDockerEngine({ log: (m) => console.error(m) })
    .then(({ pid }) => {
      ensureTestImage();
      console.log(pid === undefined ? '' : String(pid));
    })
    .catch((e) => {
      console.error(`docker-engine: ${e.message}`);
      process.exit(1);
    });
}
