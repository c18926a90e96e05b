/**
 * One Cassandra node as an OS process: generate its conf, launch `java` detached (it outlives the
 * command that started it), record its pid, wait until CQL answers, and stop it again by that pid.
 * A pid is only trusted when /proc/<pid>/cmdline still names this node's cassandra.yaml, so a
 * recycled pid is never signalled.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cqlLocal, tcpOpen, type CqlAnswer } from './cql-probe.js';
import { pidAlive } from './file-lock.js';
import { javaArgs, javaBinary, launchCommand, type JvmOptions } from './jvm-options.js';
import { cassandraYaml, dataFingerprint, logbackXml, rackdcProperties } from './node-config.js';
import { nodePaths, type NodePaths } from './paths.js';
import type { NodeSpec } from './topology.js';
import type { Installation, Progress } from './fetch.js';

export class CassandraNodeError extends Error {
  readonly code = 'SIPFLOW_CASSANDRA_NODE';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'CassandraNodeError';
  }
}

/** The pid of this node's JVM if it runs, else undefined. */
export function runningPid(paths: NodePaths): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!pidAlive(pid)) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(paths.yaml)) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

function lastLines(file: string, n: number): string[] {
  try {
    const text = readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').slice(-n);
  } catch {
    return [];
  }
}

/** The most telling line of a failed start: the first ERROR/Exception in the log, else the last line. */
export function failureSummary(paths: NodePaths): string {
  const lines = [...lastLines(paths.systemLog, 200), ...lastLines(paths.stdoutLog, 50)];
  const bad = lines.find((l) => /^ERROR|Exception|Error:/.test(l));
  return (bad ?? lines.at(-1) ?? '(no log output)').slice(0, 400);
}

function writeConf(spec: NodeSpec, paths: NodePaths): void {
  for (const d of [paths.conf, paths.data, paths.commitlog, paths.savedCaches, paths.hints, paths.cdcRaw, paths.logs]) mkdirSync(d, { recursive: true });
  writeFileSync(paths.yaml, cassandraYaml(spec, paths));
  writeFileSync(paths.rackdc, rackdcProperties(spec));
  writeFileSync(paths.logback, logbackXml(paths));
}

/** Data written under another token/partitioner/DC cannot be reused: Cassandra would refuse to start. */
function checkFingerprint(spec: NodeSpec, paths: NodePaths, fresh: boolean): void {
  const file = join(paths.dir, 'node.json');
  const want = dataFingerprint(spec);
  if (fresh) {
    for (const d of [paths.data, paths.commitlog, paths.savedCaches, paths.hints, paths.cdcRaw]) rmSync(d, { recursive: true, force: true });
  } else if (existsSync(file) && readFileSync(file, 'utf8').trim() !== want && existsSync(paths.data)) {
    throw new CassandraNodeError(
      `node ${spec.name} has data from a different layout (${readFileSync(file, 'utf8').trim()})`,
      `start it with --fresh (or run \`sipflow cassandra clean\`) to wipe ${paths.dir} and start over`,
    );
  }
  mkdirSync(paths.dir, { recursive: true });
  writeFileSync(file, want + '\n');
}

export interface StartNodeOptions {
  home: string;
  install: Installation;
  progress?: Progress;
  /** How long to wait for CQL after launching; default 240 s (2 busy cores). */
  timeoutMs?: number;
  /** Wipe the node's data first. */
  fresh?: boolean;
  jvm?: JvmOptions;
}

export interface StartNodeResult {
  pid: number;
  alreadyRunning: boolean;
  seconds: number;
  answer: CqlAnswer;
}

/** Waits for CQL on a launched JVM; rejects as soon as the JVM dies. */
async function waitForCql(spec: NodeSpec, paths: NodePaths, pid: number, timeoutMs: number, progress: Progress, started: number): Promise<CqlAnswer> {
  const deadline = started + timeoutMs;
  let lastReport = Date.now();
  let lastError = '';
  for (let i = 0; Date.now() < deadline && i < 100_000; i++) {
    if (!pidAlive(pid)) {
      throw new CassandraNodeError(
        `Cassandra node ${spec.name} (${spec.ip}) exited during start: ${failureSummary(paths)}`,
        `read ${paths.systemLog} and ${paths.stdoutLog}`,
      );
    }
    if (await tcpOpen(spec.ip, spec.cqlPort, 1000)) {
      try {
        return await cqlLocal(spec.ip, spec.cqlPort, spec.dc, 5000);
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    if (Date.now() - lastReport >= 5000) {
      lastReport = Date.now();
      const tail = lastLines(paths.systemLog, 1)[0]?.replace(/^(\w+)\s+\[[^\]]*\]\s+\S+\s+\S+\s+/, '$1 ').slice(0, 140) ?? '';
      progress(`  waiting for ${spec.name} (${spec.ip}:${spec.cqlPort}), ${Math.round((Date.now() - started) / 1000)} s${tail ? `: ${tail}` : ''}`);
    }
    await sleep(1000);
  }
  throw new CassandraNodeError(
    `Cassandra node ${spec.name} (${spec.ip}) did not answer CQL within ${Math.round(timeoutMs / 1000)} s${lastError ? ` (${lastError})` : ''}`,
    `read ${paths.systemLog}; on a busy machine try again with a longer --timeout`,
  );
}

/** Starts the node unless it runs; resolves once it answers CQL. Callers serialise with a lock. */
export async function startNode(spec: NodeSpec, options: StartNodeOptions): Promise<StartNodeResult> {
  const progress = options.progress ?? (() => {});
  const paths = nodePaths(options.home, spec.name);
  const timeoutMs = options.timeoutMs ?? 240_000;
  const started = Date.now();
  const existing = runningPid(paths);
  if (existing !== undefined) {
    progress(`${spec.name} (${spec.ip}) is already running, pid ${existing}`);
    try {
      const answer = await waitForCql(spec, paths, existing, timeoutMs, progress, started);
      return { pid: existing, alreadyRunning: true, seconds: (Date.now() - started) / 1000, answer };
    } catch (err) {
      // It died while we waited (killed from outside): launch it afresh below. Any other failure stands.
      if (pidAlive(existing)) throw err;
      progress(`${spec.name} (pid ${existing}) exited; starting it again`);
    }
  }
  if (await tcpOpen(spec.ip, spec.cqlPort, 500)) {
    throw new CassandraNodeError(
      `something that sipflow did not start already listens on ${spec.ip}:${spec.cqlPort}`,
      `stop that process (ss -ltnp 'sport = :${spec.cqlPort}') or set SIPFLOW_CASSANDRA_HOME to the folder that started it`,
    );
  }
  if (spec.netns !== undefined && !existsSync(join('/run/netns', spec.netns))) {
    throw new CassandraNodeError(`network namespace ${spec.netns} of node ${spec.name} does not exist`, `create it first (ip netns add ${spec.netns}) and give it ${spec.ip}`);
  }
  checkFingerprint(spec, paths, options.fresh ?? false);
  writeConf(spec, paths);
  rmSync(paths.pidFile, { force: true });
  const out = openSync(paths.stdoutLog, 'a');
  const java = javaBinary();
  const launch = launchCommand(spec, java, javaArgs(spec, paths, options.install.lib, options.jvm));
  progress(
    `starting ${spec.name}: Cassandra ${options.install.version} on ${spec.ip}${spec.netns !== undefined ? ` in namespace ${spec.netns}` : ''} (CQL ${spec.cqlPort}, storage ${spec.storagePort}), ${spec.dc}/${spec.rack}, token ${spec.initialToken}; log ${paths.systemLog}`,
  );
  let pid: number | undefined;
  try {
    const child = spawn(launch.command, launch.args, { cwd: paths.dir, detached: true, stdio: ['ignore', out, out] });
    pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) =>
        reject(
          new CassandraNodeError(
            `cannot run ${launch.command}: ${err.message}`,
            launch.command === java ? 'install a Java 17 runtime (apt-get install openjdk-17-jre-headless) or set JAVA_HOME' : 'install iproute2 (ip) and run as root',
          ),
        ),
      );
    });
    child.unref();
  } finally {
    closeSync(out);
  }
  // Atomic: a reader sees either no pid file or a complete one.
  writeFileSync(paths.pidFile + '.tmp', `${pid}\n`);
  renameSync(paths.pidFile + '.tmp', paths.pidFile);
  try {
    const answer = await waitForCql(spec, paths, pid, timeoutMs, progress, started);
    const seconds = (Date.now() - started) / 1000;
    progress(`${spec.name} is up: Cassandra ${answer.releaseVersion} answers CQL on ${spec.ip}:${spec.cqlPort} after ${seconds.toFixed(1)} s (pid ${pid})`);
    return { pid, alreadyRunning: false, seconds, answer };
  } catch (err) {
    // A half-started JVM we launched is ours to clean up, so the next start begins from a known state.
    await stopNode(spec, { home: options.home, progress: () => {} }).catch(() => {});
    throw err;
  }
}

export interface StopNodeOptions {
  home: string;
  progress?: Progress;
  /** Grace after SIGTERM before SIGKILL; default 30 s. */
  graceMs?: number;
}

/** Stops the node if this folder's pid file names a live JVM of it; true when one was stopped. */
export async function stopNode(spec: NodeSpec, options: StopNodeOptions): Promise<boolean> {
  const progress = options.progress ?? (() => {});
  const paths = nodePaths(options.home, spec.name);
  const pid = runningPid(paths);
  if (pid === undefined) {
    rmSync(paths.pidFile, { force: true });
    return false;
  }
  const started = Date.now();
  progress(`stopping ${spec.name} (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  const grace = options.graceMs ?? 30_000;
  while (pidAlive(pid) && Date.now() - started < grace) await sleep(200);
  if (pidAlive(pid)) {
    progress(`  ${spec.name} did not exit within ${grace / 1000} s; sending SIGKILL`);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  }
  rmSync(paths.pidFile, { force: true });
  progress(`${spec.name} stopped after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

export interface NodeStatus {
  spec: NodeSpec;
  pid?: number;
  running: boolean;
  cql: boolean;
  releaseVersion?: string;
  tokens?: string[];
  logFile: string;
  /** Whether the node has a data folder (it was started at least once and not cleaned). */
  hasData: boolean;
}

export async function nodeStatus(spec: NodeSpec, home: string): Promise<NodeStatus> {
  const paths = nodePaths(home, spec.name);
  const pid = runningPid(paths);
  let cql = false;
  let answer: CqlAnswer | undefined;
  if (await tcpOpen(spec.ip, spec.cqlPort, 500)) {
    try {
      answer = await cqlLocal(spec.ip, spec.cqlPort, spec.dc, 3000);
      cql = true;
    } catch {
      cql = false;
    }
  }
  let hasData = false;
  try {
    hasData = statSync(paths.data).isDirectory();
  } catch {
    hasData = false;
  }
  return {
    spec,
    ...(pid !== undefined ? { pid } : {}),
    running: pid !== undefined,
    cql,
    ...(answer ? { releaseVersion: answer.releaseVersion, tokens: answer.tokens } : {}),
    logFile: paths.systemLog,
    hasData,
  };
}

export function cleanNode(spec: NodeSpec, home: string): void {
  const paths = nodePaths(home, spec.name);
  if (runningPid(paths) !== undefined) {
    throw new CassandraNodeError(`node ${spec.name} is running`, 'stop it first: sipflow cassandra stop');
  }
  rmSync(paths.dir, { recursive: true, force: true });
}
