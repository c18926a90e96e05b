/**
 * A lock file created with O_EXCL, holding the owner's pid. Two test files (two processes) asking
 * for Cassandra at the same moment must not both launch a JVM: the second waits here, then finds
 * the node running. A lock left by a dead process (crash, SIGKILL) is taken over.
 */
import { mkdirSync, openSync, closeSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else, which still means alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export class LockTimeoutError extends Error {
  readonly code = 'SIPFLOW_LOCK_TIMEOUT';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'LockTimeoutError';
  }
}

/**
 * Runs `body` holding the lock at `path`. Waits at most `timeoutMs` for another live owner; calls
 * `onWait` once when it has to wait so a person at a terminal knows why nothing happens.
 */
/** Callers inside this process queue here first: the file only arbitrates between processes. */
const inProcess = new Map<string, Promise<void>>();

export async function withFileLock<T>(
  path: string,
  options: { timeoutMs: number; onWait?: (ownerPid: number | undefined) => void },
  body: () => Promise<T>,
): Promise<T> {
  const previous = inProcess.get(path);
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = (previous ?? Promise.resolve()).then(() => mine);
  inProcess.set(path, chained);
  try {
    if (previous) {
      options.onWait?.(process.pid);
      await previous;
    }
    return await holdFile(path, options, body);
  } finally {
    release();
    if (inProcess.get(path) === chained) inProcess.delete(path);
  }
}

async function holdFile<T>(
  path: string,
  options: { timeoutMs: number; onWait?: (ownerPid: number | undefined) => void },
  body: () => Promise<T>,
): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + options.timeoutMs;
  let told = false;
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(path)) break;
    const owner = ownerOf(path);
    // Owner dead, or our own pid left by an earlier process that had it (we queue in-process, so
    // it is not us), or the file is empty/garbled after a crash mid-write: take it over. The
    // unlink+create pair can race with another taker, but only one of them wins the O_EXCL create.
    if (owner === undefined ? attempt > 4 : owner === process.pid || !pidAlive(owner)) {
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new LockTimeoutError(
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for lock ${path} held by pid ${owner ?? '?'}`,
        `wait for that process to finish, or remove ${path} if pid ${owner ?? '?'} is not a sipflow process`,
      );
    }
    if (!told) {
      told = true;
      options.onWait?.(owner);
    }
    await sleep(250);
  }
  try {
    return await body();
  } finally {
    if (ownerOf(path) === process.pid) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  }
}
