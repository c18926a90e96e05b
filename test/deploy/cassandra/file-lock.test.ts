import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockTimeoutError, withFileLock } from '../../../deploy/cassandra/file-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'sipflow-lock-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('callers in one process run one at a time', async (t) => {
  const lock = join(dir, 'a.lock');
  const log: string[] = [];
  const job = (name: string) =>
    withFileLock(lock, { timeoutMs: 5000 }, async () => {
      log.push(`${name}+`);
      await sleep(50);
      log.push(`${name}-`);
      return name;
    });
  t.strictSame(await Promise.all([job('a'), job('b'), job('c')]), ['a', 'b', 'c']);
  t.strictSame(log, ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  t.notOk(existsSync(lock), 'the lock file is removed after use');
});

t.test('a lock left by a dead process is taken over', async (t) => {
  const lock = join(dir, 'b.lock');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  writeFileSync(lock, dead);
  t.equal(await withFileLock(lock, { timeoutMs: 2000 }, async () => readFileSync(lock, 'utf8')), String(process.pid));
});

t.test('a lock held by a live process makes us wait, then time out with a hint', async (t) => {
  const lock = join(dir, 'c.lock');
  writeFileSync(lock, String(process.ppid));
  let waited: number | undefined;
  const started = Date.now();
  const err = await withFileLock(lock, { timeoutMs: 600, onWait: (pid) => (waited = pid) }, async () => 'ran').catch((e: unknown) => e);
  t.type(err, LockTimeoutError);
  t.match((err as LockTimeoutError).hint, /remove/);
  t.equal(waited, process.ppid, 'told who holds it');
  t.ok(Date.now() - started >= 600 && Date.now() - started < 3000);
  rmSync(lock);
});

t.test('two processes taking the lock at once never overlap', async (t) => {
  const lock = join(dir, 'd.lock');
  const out = join(dir, 'd.log');
  writeFileSync(out, '');
  const script = `
    import { appendFileSync } from 'node:fs';
    import { withFileLock } from './deploy/cassandra/file-lock.js';
    for (let i = 0; i < 3; i++) {
      await withFileLock(${JSON.stringify(lock)}, { timeoutMs: 20000 }, async () => {
        appendFileSync(${JSON.stringify(out)}, '+' + process.pid + '\\n');
        await new Promise((r) => setTimeout(r, 60));
        appendFileSync(${JSON.stringify(out)}, '-' + process.pid + '\\n');
      });
    }`;
  const run = () =>
    new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--import=@tapjs/typescript/import', '--input-type=module', '-e', script], { stdio: 'inherit' });
      child.on('close', resolve);
    });
  t.strictSame(await Promise.all([run(), run()]), [0, 0]);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.equal(lines.length, 12);
  for (let i = 0; i < lines.length; i += 2) {
    t.equal(lines[i + 1], lines[i]!.replace('+', '-'), `critical section ${i / 2 + 1} is not interleaved`);
  }
});
