#!/usr/bin/env node
// Makes `helm` available to test/deploy/manifests.test.ts, which renders deploy/helm/sipflow.
// Helm is not packaged in Debian 12, and nothing may be downloaded but registry packages, so it is
// built from its Go module (helm.sh/helm/v3) into .cache/tools/bin/helm: about 3 minutes of CPU
// on 2 cores the first time, nothing afterwards. A `helm` already on PATH is used as it is.
//   node scripts/install-helm.mjs          install when missing; prints the helm path
//   SIPFLOW_HELM=/path/to/helm             use that binary instead
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HELM_MODULE = 'helm.sh/helm/v3/cmd/helm';
export const HELM_VERSION = 'v3.22.0';

const root = fileURLToPath(new URL('..', import.meta.url));
const binDir = join(root, '.cache', 'tools', 'bin');
const cached = join(binDir, 'helm');
const say = (msg) => process.stderr.write(`[install-helm] ${msg}\n`);

function works(bin) {
  const r = spawnSync(bin, ['version', '--short'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 && /v3\./.test(r.stdout);
}

function onPath(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function findHelm() {
  if (process.env.SIPFLOW_HELM && works(process.env.SIPFLOW_HELM)) return process.env.SIPFLOW_HELM;
  if (existsSync(cached) && works(cached)) return cached;
  const system = onPath('helm');
  if (system && works(system)) return system;
  return undefined;
}

function findGo() {
  for (const candidate of [onPath('go'), '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (candidate && existsSync(candidate)) {
      const v = spawnSync(candidate, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim();
      const m = /^go1\.(\d+)/.exec(v);
      // Helm 3.22's go.mod wants a recent toolchain; Debian 12's golang-go (1.19) is too old.
      if (m && Number(m[1]) >= 24) return candidate;
      say(`${candidate} is ${v || 'unknown'}: too old to build helm ${HELM_VERSION}`);
    }
  }
  return undefined;
}

export function installHelm() {
  const found = findHelm();
  if (found) return found;
  const go = findGo();
  if (!go) {
    say('no Go toolchain (>= 1.24) found: cannot build helm. Install Go, or put helm on PATH, or set SIPFLOW_HELM.');
    return undefined;
  }
  mkdirSync(binDir, { recursive: true });
  say(`building ${HELM_MODULE}@${HELM_VERSION} with ${go} into ${binDir} (first time only, a few minutes)`);
  const started = Date.now();
  const r = spawnSync('nice', ['-n', '10', go, 'install', `${HELM_MODULE}@${HELM_VERSION}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GOBIN: binDir, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    timeout: 20 * 60_000,
  });
  if (r.status !== 0 || !works(cached)) {
    say(`go install failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
    return undefined;
  }
  say(`built in ${Math.round((Date.now() - started) / 1000)} s`);
  return cached;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const helm = installHelm();
  if (!helm) process.exit(1);
  process.stdout.write(`${helm}\n`);
}
