#!/usr/bin/env node
// `npm run test:faults`: build, run the fault tests in test/faults one file at a time (they start
// clusters, a Cassandra ring and a thousand WebSockets: never two at once on this 2-core machine),
// collect the one `FAULT-REPORT {json}` row each prints, print one table, and write it into
// RELIABILITY.md with the date, the commit and the command. `npm run test:faults -- edge-loss`
// runs the files whose name contains one of the words given (and leaves RELIABILITY.md alone).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const step = (msg) => process.stdout.write(`[sipflow faults] ${msg}\n`);
const REPORT_FILE = 'RELIABILITY.md';
const BEGIN = '<!-- faults:begin (written by scripts/faults.mjs; edit outside these markers) -->';
const END = '<!-- faults:end -->';
// Light files first, the Cassandra ring (four JVMs) last.
const ORDER = ['dialog-after-reconnect', 'edge-loss', 'core-loss', 'rolling-restart', 'cassandra-loss', 'dc-cut'];
const FILE_TIMEOUT_S = 20 * 60;

function build() {
  step('building (tsc -p tsconfig.build.json)');
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (r.status === 0) return;
  // tsc still emits when another engineer's unfinished file has a type error; the roles run from dist/.
  if (existsSync('dist/cli/main.js')) step(`tsc exited ${r.status} (type errors elsewhere?); dist/ exists, going on`);
  else throw new Error('TypeScript build failed and dist/cli/main.js is missing');
}

function faultFiles(filter) {
  const dir = 'test/faults';
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => join(dir, f))
    .filter((f) => filter.length === 0 || filter.some((w) => f.includes(w)));
  const rank = (f) => {
    const i = ORDER.findIndex((n) => f.includes(n));
    return i < 0 ? ORDER.length : i;
  };
  return files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Runs one file under tap; resolves with its rows, its pass/fail counts and how long it took. */
function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn('npx', ['tap', '--reporter=tap', '--jobs=1', `--timeout=${FILE_TIMEOUT_S}`, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const rows = [];
    let pass = 0;
    let fail = 0;
    let buf = '';
    const take = (line) => {
      const row = /^\s*FAULT-REPORT (\{.*\})\s*$/.exec(line);
      if (row) {
        try {
          rows.push(JSON.parse(row[1]));
        } catch {
          step(`unreadable FAULT-REPORT line in ${file}`);
        }
      }
      // tap's closing summary: "# { total: 12, pass: 11, fail: 1 }"
      const sum = /^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(line);
      if (sum) {
        pass += Number(sum[2] ?? 0);
        fail += Number(sum[3] ?? 0) + Math.max(0, Number(sum[1]) - Number(sum[2] ?? 0) - Number(sum[3] ?? 0));
      }
    };
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.on('close', (code) => {
      if (buf) take(buf);
      resolve({ file, rows, pass, fail: fail || (code !== 0 ? 1 : 0), code, seconds: Math.round((Date.now() - started) / 1000) });
    });
  });
}

const cell = (v) => (v === null || v === undefined ? '–' : String(v)).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(results) {
  const lines = [
    '| Scenario | Load held | Faults injected | Bindings lost | Calls failed | Time to recover | Result |',
    '|---|---|---|---|---|---|---|',
  ];
  const notes = [];
  for (const r of results) {
    if (r.rows.length === 0) {
      lines.push(`| ${cell(relative('test/faults', r.file))} | – | – | – | – | – | ${r.fail ? `**FAIL** (${r.fail} failed)` : 'pass'} (no row: not a load scenario) |`);
      continue;
    }
    for (const row of r.rows) {
      const n = notes.length + 1;
      const noteParts = [row.callsFailedNote && `calls: ${row.callsFailedNote}`, row.recoveryNote && `recovery: ${row.recoveryNote}`, row.error && `error: ${row.error}`].filter(Boolean);
      if (noteParts.length) notes.push(`${n}. **${row.scenario}** — ${noteParts.join('; ')}`);
      const ref = noteParts.length ? ` [${n}]` : '';
      // A row that does not say whether its own assertions held is judged by its file's result.
      const ok = (row.passed ?? true) && !r.fail;
      const result = ok ? 'pass' : `**FAIL**${r.fail ? ` (${r.fail} assertion${r.fail > 1 ? 's' : ''})` : ''}`;
      lines.push(
        `| ${cell(row.scenario)}${ref} | ${cell(row.load)} | ${cell(row.faults)} | ${cell(row.bindingsLost)} | ${cell(row.callsFailed)} | ${row.recoverySeconds === null || row.recoverySeconds === undefined ? '–' : `${row.recoverySeconds} s`} | ${result} |`,
      );
    }
  }
  return { markdown: lines.join('\n'), notes };
}

function gitDescribe() {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
  const commit = head.status === 0 ? head.stdout.trim() : 'unknown';
  return dirty.status === 0 && dirty.stdout.trim() ? `${commit} (with uncommitted changes)` : commit;
}

function writeReport(block) {
  const current = existsSync(REPORT_FILE) ? readFileSync(REPORT_FILE, 'utf8') : `# Reliability\n\n${BEGIN}\n${END}\n`;
  const a = current.indexOf(BEGIN);
  const b = current.indexOf(END);
  const next = a >= 0 && b > a ? current.slice(0, a) + `${BEGIN}\n${block}\n` + current.slice(b) : `${current.trimEnd()}\n\n${BEGIN}\n${block}\n${END}\n`;
  writeFileSync(REPORT_FILE, next);
}

const filter = process.argv.slice(2);
try {
  const began = Date.now();
  build();
  const files = faultFiles(filter);
  if (files.length === 0) throw new Error(`no fault test matches ${filter.join(' ')}`);
  step(`${files.length} fault test file(s), one at a time: ${files.map((f) => relative('test/faults', f)).join(', ')}`);
  const results = [];
  for (const f of files) {
    step(`running ${f}`);
    const r = await runFile(f);
    step(`${f}: ${r.pass} passed, ${r.fail} failed, ${r.rows.length} report row(s), ${r.seconds} s`);
    results.push(r);
  }
  const { markdown, notes } = table(results);
  const command = `npm run test:faults${filter.length ? ` -- ${filter.join(' ')}` : ''}`;
  const minutes = ((Date.now() - began) / 60000).toFixed(1);
  const block = [
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on commit ${gitDescribe()} with \`${command}\` (${minutes} min, ${files.length} file(s)).`,
    '',
    markdown,
    '',
    ...notes,
  ].join('\n');
  process.stdout.write(`\n${markdown}\n\n${notes.join('\n')}\n\n`);
  // Only a full run replaces the table: a subset would drop the other scenarios' rows.
  if (filter.length === 0) {
    writeReport(block);
    step(`table written to ${REPORT_FILE}`);
  } else step(`subset run: ${REPORT_FILE} left as it was (run without arguments to rewrite its table)`);
  const failed = results.reduce((n, r) => n + r.fail, 0);
  const passed = results.reduce((n, r) => n + r.pass, 0);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
} catch (err) {
  process.stdout.write(`[sipflow faults] ${err.message}\n\n0 passed, 1 failed\n`);
  process.exitCode = 1;
}
