import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchCassandra, findInstallation } from '../../../deploy/cassandra/fetch.js';

const dir = mkdtempSync(join(tmpdir(), 'sipflow-fetch-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in `mvn` on PATH: versions listed in MISSING fail like Maven Central's 404, others "copy" two jars. */
function fakeMaven(missing: string[]): { log: string; restore: () => void } {
  const bin = join(dir, `bin-${missing.join('-') || 'none'}`);
  mkdirSync(bin, { recursive: true });
  const log = join(bin, 'calls.log');
  writeFileSync(
    join(bin, 'mvn'),
    `#!/bin/sh
v=$(basename "$PWD")
echo "$v $*" >> ${JSON.stringify(log)}
case " ${missing.join(' ')} " in *" $v "*)
  echo "[ERROR] Failed to execute goal on project cassandra-runtime: Could not resolve dependencies: Could not find artifact org.apache.cassandra:cassandra-all:jar:$v in central"
  exit 1;;
esac
mkdir -p lib && : > "lib/cassandra-all-$v.jar" && : > lib/guava-32.0.1-jre.jar
echo "Downloaded from central: https://repo.maven.apache.org/cassandra-all-$v.jar (10 MB)"
echo "[INFO] Copying cassandra-all-$v.jar to $PWD/lib/cassandra-all-$v.jar"
echo "[INFO] Copying guava-32.0.1-jre.jar to $PWD/lib/guava-32.0.1-jre.jar"
`,
  );
  chmodSync(join(bin, 'mvn'), 0o755);
  const saved = process.env.PATH;
  process.env.PATH = `${bin}:${saved}`;
  return { log, restore: () => void (process.env.PATH = saved) };
}

t.test('versions are tried newest first, each once, until one resolves; the marker is written last', async (t) => {
  const home = join(dir, 'home1');
  const mvn = fakeMaven(['5.0.6', '5.0.5']);
  const lines: string[] = [];
  try {
    const install = await fetchCassandra({ home, progress: (l) => lines.push(l) });
    t.equal(install.version, '5.0.4');
    t.equal(install.jars, 2);
    t.ok(existsSync(join(home, '5.0.4', 'lib', '.sipflow-complete.json')));
    t.notOk(existsSync(join(home, '5.0.6', 'lib')), 'a failed version leaves no half-filled lib/');
    t.strictSame(readFileSync(mvn.log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0]), ['5.0.6', '5.0.5', '5.0.4']);
    t.ok(lines.some((l) => /5\.0\.6 is not available \(.*Could not/.test(l)), 'says why a version was skipped');
    t.ok(lines.some((l) => /maven: done, 1 files downloaded, 2 jars copied/.test(l)), 'shows maven progress as counts');
    // Second call: complete, so maven is not run again.
    const again = await fetchCassandra({ home });
    t.equal(again.version, '5.0.4');
    t.equal(readFileSync(mvn.log, 'utf8').trim().split('\n').length, 3, 'no further maven run');
  } finally {
    mvn.restore();
  }
});

t.test('when no version resolves, the error lists each attempt and what to do', async (t) => {
  const home = join(dir, 'home2');
  const mvn = fakeMaven(['5.0.6', '5.0.5', '5.0.4', '5.0.3', '5.0.2']);
  try {
    const err = (await fetchCassandra({ home }).catch((e: unknown) => e)) as Error & { hint?: string };
    t.match(err.message, /5\.0\.6: .*Could not/);
    t.match(err.message, /5\.0\.2: .*Could not/);
    t.match(err.hint ?? '', /repo\.maven\.apache\.org/);
    t.equal(findInstallation(home), undefined);
  } finally {
    mvn.restore();
  }
});

t.test('findInstallation picks the newest complete version and ignores incomplete ones', async (t) => {
  const home = join(dir, 'home3');
  for (const [v, complete] of [['5.0.2', true], ['5.0.10', true], ['5.0.11', false]] as const) {
    mkdirSync(join(home, v, 'lib'), { recursive: true });
    if (complete) writeFileSync(join(home, v, 'lib', '.sipflow-complete.json'), JSON.stringify({ jars: 7 }));
  }
  t.equal(findInstallation(home)?.version, '5.0.10', 'numeric, not lexical, order; 5.0.11 has no marker');
  t.equal(findInstallation(home, '5.0.2')?.jars, 7);
  t.equal(findInstallation(join(dir, 'nowhere')), undefined);
});
