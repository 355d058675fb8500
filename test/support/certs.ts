/**
 * Certificates for tests, made by the same script operators use (deploy/make-certs.sh): a CA and one
 * certificate per name in a temporary directory, removed by `remove()`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.join(__dirname, '..', '..', 'deploy', 'make-certs.sh');

export interface TestCerts {
  readonly dir: string;
  readonly caFile: string;
  /** The certificate and key of `name` (made by {@link makeCerts} or {@link TestCerts.add}). */
  files(name: string): { certFile: string; keyFile: string };
  /** Makes more certificates signed by the same CA (`days` < 0: already expired). */
  add(names: readonly string[], days?: number): void;
  remove(): void;
}

export function makeCerts(names: readonly string[]): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-certs-'));
  const add = (more: readonly string[], days = 30) => {
    execFileSync('sh', [SCRIPT, dir, ...more, '--days', String(days)], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  add(names);
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    files: (name) => ({ certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) }),
    add,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
