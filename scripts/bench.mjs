#!/usr/bin/env node
// `npm run bench [-- <scenario>...]`: builds, then runs each benchmark scenario in turn (one heavy
// run at a time: this machine has two cores) and prints what each measured. Scenarios are modules
// under dist/bench/<name>/ exporting one async run function; each prints its own table too. The
// Kamailio comparison's own scenarios (register, calls, idle, udp, ...) also run alone by name:
// `npm run bench -- calls` is that comparison with the calls scenario only.
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const SCENARIOS = {
  parser: ['bench/parser/parser-bench.js', 'runParserBench'],
  core: ['bench/core/core-bench.js', 'runCoreBench'],
  'core-register': ['bench/core/register-harness.js', 'runCoreRegisterBench'],
  'edge-register': ['bench/edge/register-harness.js', 'runEdgeRegisterBench'],
  'hot-paths': ['bench/runtime/hot-paths.js', 'runHotPathsBench'],
  edge: ['bench/edge/edge-bench.js', 'runEdgeBench'],
  store: ['bench/store/store-bench.js', 'runStoreBench'],
  kamailio: ['bench/kamailio/compare.js', 'runKamailioComparison'],
};

const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(1);

const comparison = await import(pathToFileURL(`${root}/dist/${SCENARIOS.kamailio[0]}`).href);
const comparisonNames = new Set([...comparison.SCENARIOS, ...Object.keys(comparison.SCENARIO_GROUPS)]);
const picked = args.filter((a) => comparisonNames.has(a));
const wanted = args.filter((a) => !comparisonNames.has(a));
const unknown = wanted.filter((w) => !(w in SCENARIOS));
if (unknown.length) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; known: ${[...Object.keys(SCENARIOS), ...comparisonNames].join(', ')}\n`);
  process.exit(2);
}
if (picked.length) {
  process.env.SIPFLOW_BENCH_SCENARIOS = picked.join(',');
  if (!wanted.includes('kamailio')) wanted.push('kamailio');
}

const results = {};
for (const name of wanted.length ? wanted : Object.keys(SCENARIOS)) {
  const [file, fn] = SCENARIOS[name];
  const path = `dist/${file}`;
  if (!existsSync(path)) {
    process.stdout.write(`\n== ${name}: not built (${path} missing)\n`);
    continue;
  }
  process.stdout.write(`\n== ${name} ==\n`);
  const mod = await import(pathToFileURL(`${root}/${path}`).href);
  const started = Date.now();
  try {
    results[name] = await mod[fn]();
    process.stdout.write(`== ${name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } catch (err) {
    process.stdout.write(`== ${name}: FAILED: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  }
}
process.stdout.write('\n' + JSON.stringify(results, null, 2) + '\n');
