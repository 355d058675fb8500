/**
 * Where the dashboard's files are: its own static files (`dashboard/` at the package root: plain
 * HTML, an ES module and CSS, no build step) and the two libraries it imports, preact and htm, served
 * from node_modules under `/ui/vendor/` so the page loads nothing from the network.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The dashboard's files, as the HTTP server takes them (`staticDir`, `files`). */
export interface DashboardAssets {
  /** The directory of index.html, app.js and style.css. */
  readonly staticDir: string;
  /** URL path → file, for the vendored ES modules the page's import map names. */
  readonly files: Readonly<Record<string, string>>;
}

/**
 * Finds the dashboard's files. The static directory is the first `dashboard/` with an index.html
 * found walking up from this module: that works from `src/master` (tests) and from `dist/src/master`
 * (the build), since dist/ holds no dashboard/ and the walk continues to the package root.
 * @throws Error when the directory or a library cannot be found (a broken install)
 */
export function dashboardAssets(): DashboardAssets {
  let staticDir: string | undefined;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'dashboard');
    if (fs.existsSync(path.join(candidate, 'index.html'))) {
      staticDir = candidate;
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  if (staticDir === undefined) throw new Error(`cannot find the dashboard/ directory (with index.html) above ${__dirname}`);
  // preact's export map points at its ES module; htm's `require` condition is CommonJS, so its
  // ES module is taken from beside it (htm exports no other path).
  const files = {
    '/ui/vendor/preact.mjs': require.resolve('preact'),
    '/ui/vendor/preact-hooks.mjs': require.resolve('preact/hooks'),
    '/ui/vendor/htm.mjs': path.join(path.dirname(require.resolve('htm')), 'htm.mjs'),
  };
  for (const [url, file] of Object.entries(files)) {
    if (!file.endsWith('.mjs') || !fs.existsSync(file)) throw new Error(`the dashboard's ${url} should be an ES module, but resolved to ${file}`);
  }
  return { staticDir, files };
}
