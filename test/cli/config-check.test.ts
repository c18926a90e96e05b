import t from 'tap';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { checkConfig } from '../../cli/commands/config.js';

t.test('a valid file has no errors', async (t) => {
  t.same(checkConfig({ common: { secret: 'a-long-enough-cluster-secret' }, core: { udp: '127.0.0.1:5060', domain: 'example.com', auth: 'on', 'minExpires': 30 } }), []);
});

t.test('every error names the path of the bad field', async (t) => {
  const errors = checkConfig({ core: { udp: 'not-an-address', domain: 'example.com', rateLimit: -3, bogus: 1 }, edge: { ws: '127.0.0.1:8080' }, nonsense: {} });
  t.ok(errors.some((e) => /^core\.udp: expected HOST:PORT/.test(e)), 'core.udp');
  t.ok(errors.some((e) => /^core\.rateLimit: /.test(e)), 'core.rateLimit');
  t.ok(errors.some((e) => e === 'core.bogus: unknown option'), 'unknown option');
  t.ok(errors.some((e) => /^edge\.core: /.test(e)), 'missing required edge.core');
  t.ok(errors.some((e) => /^nonsense: unknown section/.test(e)), 'unknown section');
});

t.test('sipflow config check exits non-zero and prints the paths', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-config-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'core:\n  udp: nope\n  domain: example.com\n');
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'core:\n  udp: 127.0.0.1:5060\n  domain: example.com\n');
  const bin = new URL('../../bin/sipflow.js', import.meta.url).pathname;
  const r1 = spawnSync(process.execPath, [bin, 'config', 'check', bad], { encoding: 'utf8' });
  t.equal(r1.status, 1);
  t.match(r1.stderr, /core\.udp: expected HOST:PORT/);
  const r2 = spawnSync(process.execPath, [bin, 'config', 'check', good], { encoding: 'utf8' });
  t.equal(r2.status, 0, r2.stderr);
});

t.test('SIGHUP reloads the core rate limit from the config file without a restart', async (t) => {
  const { startRole } = await import('../helpers/processes.js');
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-hup-'));
  const file = join(dir, 'sipflow.yaml');
  writeFileSync(file, 'core:\n  udp: 127.0.0.1:25311\n  domain: example.com\n  auth: off\n  rateLimit: 100\n');
  const core = await startRole(['--config', file, 'core']);
  t.teardown(() => core.kill());
  writeFileSync(file, 'core:\n  udp: 127.0.0.1:25311\n  domain: example.com\n  auth: off\n  rateLimit: 7\n');
  core.child.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !core.lines.some((l) => /configuration reloaded/.test(l))) await new Promise((r) => setTimeout(r, 50));
  const line = core.lines.find((l) => /configuration reloaded/.test(l));
  t.ok(line, 'reload logged');
  t.match(line, /"rateLimit":7/);
  t.equal(core.child.exitCode, null, 'still running');
});
