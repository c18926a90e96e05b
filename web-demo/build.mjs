#!/usr/bin/env node
// `npm run build:web`: type-check web-demo/src, bundle the two pages with esbuild into web-demo/dist,
// and copy the static files. One small script instead of a bundler config: there are two entry
// points and three static files.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const src = here('./src/');
const dist = here('./dist/');

if (!process.argv.includes('--no-check')) {
  const tsc = spawnSync(process.execPath, [here('../node_modules/typescript/bin/tsc'), '-p', here('./tsconfig.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) {
    process.stderr.write('build:web: type errors in web-demo/src (see above)\n');
    process.exit(1);
  }
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: { app: `${src}app.ts`, cluster: `${src}cluster.ts` },
  outdir: dist,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  sourcemap: true,
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'cluster.html', 'style.css']) copyFileSync(`${src}${f}`, `${dist}${f}`);
process.stdout.write(`build:web: web-demo/dist ready (index.html, app.js, cluster.html, cluster.js, style.css)\n`);
