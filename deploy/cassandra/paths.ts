/**
 * Where the project keeps its own Cassandra: jars per version and one folder per node, all under
 * `<repo>/.cache/cassandra/` (gitignored) unless SIPFLOW_CASSANDRA_HOME points elsewhere. Works the
 * same from the TypeScript sources and from dist/, because the repo root is found by walking up to
 * the package.json named "sipflow".
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sipflow') return dir;
      } catch {
        // not ours, keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return process.cwd();
}

export function cassandraHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SIPFLOW_CASSANDRA_HOME;
  return fromEnv ? resolve(fromEnv) : join(repoRoot(), '.cache', 'cassandra');
}

export interface NodePaths {
  dir: string;
  conf: string;
  yaml: string;
  logback: string;
  rackdc: string;
  data: string;
  commitlog: string;
  savedCaches: string;
  hints: string;
  cdcRaw: string;
  logs: string;
  systemLog: string;
  stdoutLog: string;
  pidFile: string;
}

export function nodePaths(home: string, nodeName: string): NodePaths {
  const dir = join(home, 'nodes', nodeName);
  const conf = join(dir, 'conf');
  const logs = join(dir, 'logs');
  return {
    dir,
    conf,
    yaml: join(conf, 'cassandra.yaml'),
    logback: join(conf, 'logback.xml'),
    rackdc: join(conf, 'cassandra-rackdc.properties'),
    data: join(dir, 'data'),
    commitlog: join(dir, 'commitlog'),
    savedCaches: join(dir, 'saved_caches'),
    hints: join(dir, 'hints'),
    cdcRaw: join(dir, 'cdc_raw'),
    logs,
    systemLog: join(logs, 'system.log'),
    stdoutLog: join(logs, 'stdout.log'),
    pidFile: join(dir, 'cassandra.pid'),
  };
}

export function libDir(home: string, version: string): string {
  return join(home, version, 'lib');
}
