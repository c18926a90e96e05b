#!/usr/bin/env node
// `npm test`: make the machine ready (npm deps, build, Debian peers, Cassandra), run every tap test,
// and close with one line `N passed, N failed`. Light tests run two at a time; files named
// *.heavy.test.ts (Cassandra rings, browsers, load) run one at a time afterwards so they don't fight
// over this machine's two cores. `npm test -- test/sip` runs a subset.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const step = (msg) => process.stdout.write(`[sipflow test] ${msg}\n`);

const DEBIAN_PACKAGES = {
  sipp: 'sip-tester',
  baresip: 'baresip',
  rtpengine: 'rtpengine-daemon',
  chromium: 'chromium',
  ip: 'iproute2',
  iptables: 'iptables',
  sipsak: 'sipsak',
  openssl: 'openssl',
  svmap: 'sipvicious',
};

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ensureDebianPackages() {
  const missing = Object.entries(DEBIAN_PACKAGES).filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg);
  if (missing.length === 0) return step('Debian peers present (sipp, baresip, rtpengine, chromium, iproute2, iptables)');
  if (process.getuid?.() !== 0) {
    step(`missing Debian packages: ${missing.join(' ')} — not root, so not installing; tests that need them will fail. Run: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
    return;
  }
  step(`installing Debian packages: ${missing.join(' ')} (apt-get, a few minutes on a fresh machine)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  if (update.status !== 0) step('apt-get update failed; trying install anyway');
  const install = spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (install.status !== 0) step(`apt-get install failed (exit ${install.status}); tests needing ${missing.join(', ')} will fail`);
}

function ensureNodeModules() {
  if (existsSync('node_modules/.package-lock.json')) return;
  step('installing npm dependencies (npm ci)');
  const r = spawnSync('npm', ['ci'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm ci failed');
}

function build() {
  step('building (tsc)');
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('TypeScript build failed');
}

function ensureCassandra() {
  if (process.env.SIPFLOW_TEST_NO_CASSANDRA === '1') return step('SIPFLOW_TEST_NO_CASSANDRA=1: not starting Cassandra; Cassandra tests will fail');
  step('Cassandra: fetching (first run downloads from Maven Central) and starting one local node');
  for (const sub of ['fetch', 'start']) {
    const r = spawnSync(process.execPath, ['bin/sipflow.js', 'cassandra', sub], { stdio: 'inherit' });
    if (r.status !== 0) step(`sipflow cassandra ${sub} failed (exit ${r.status}); Cassandra tests will fail`);
  }
}

function findTests(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

function runTap(files, jobs) {
  return new Promise((resolve) => {
    if (files.length === 0) return resolve({ pass: 0, fail: 0, files: 0 });
    const child = spawn('npx', ['tap', '--reporter=tap', `--jobs=${jobs}`, ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
    let pass = 0;
    let fail = 0;
    let buf = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // tap's closing summary for the whole run: "# { total: 12, pass: 11, fail: 1, skip: 0 }"
        const m = /^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(line);
        if (m) {
          pass += Number(m[2] ?? 0);
          fail += Number(m[3] ?? 0);
          const total = Number(m[1]);
          // skips and todos are not passes: count them as failures so nothing unrun looks green
          fail += Math.max(0, total - Number(m[2] ?? 0) - Number(m[3] ?? 0));
        }
      }
    });
    child.on('close', (code) => resolve({ pass, fail: fail || (code !== 0 && pass === 0 ? 1 : fail), code }));
  });
}

const filter = process.argv.slice(2);
try {
  ensureNodeModules();
  build();
  ensureDebianPackages();
  const all = filter.length ? filter.flatMap((f) => (f.endsWith('.ts') ? [f] : findTests(f))) : findTests('test');
  // Only start Cassandra when a selected test talks to it (the full run always has some).
  if (all.some((f) => /cassandra/i.test(readFileSync(f, 'utf8')))) ensureCassandra();
  if (all.some((f) => f.includes('test/deploy/manifests'))) {
    step('helm: building it from the Go module proxy when missing (a few minutes on a fresh machine)');
    const { installHelm } = await import('./install-helm.mjs');
    try {
      await installHelm();
    } catch (err) {
      step(`helm could not be installed (${err.message}); the chart tests will fail`);
    }
  }
  const light = all.filter((f) => !f.endsWith('.heavy.test.ts'));
  const heavy = all.filter((f) => f.endsWith('.heavy.test.ts'));
  step(`${light.length} test files, then ${heavy.length} heavy ones one at a time`);
  const a = await runTap(light, 2);
  const b = await runTap(heavy, 1);
  const passed = a.pass + b.pass;
  const failed = a.fail + b.fail + (a.code && !a.fail ? 1 : 0) + (b.code && !b.fail ? 1 : 0);
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
} catch (err) {
  process.stdout.write(`[sipflow test] ${err.message}\n\n0 passed, 1 failed\n`);
  process.exitCode = 1;
}
