/**
 * What the comparison reads from /proc: CPU time (utime + stime) and memory (PSS from
 * smaps_rollup, RSS from status) of a set of server processes, and the whole machine's busy time
 * so a report can say how loaded the machine was while it measured.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat times (almost always 100). */
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used; 0 when it is gone. */
export function cpuSeconds(pid: number | 'self'): number {
  const f = statFields(pid);
  if (!f) return 0;
  // After ')': state(0) ppid(1) ... utime(11) stime(12).
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
}

export function totalCpuSeconds(pids: readonly number[]): number {
  let s = 0;
  for (const pid of pids) s += cpuSeconds(pid);
  return s;
}

/** Every live descendant of `root` (children, grandchildren...), root excluded. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f) parent.set(Number(name), Number(f[1]));
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [pid, pp] of parent) {
      if (pp === p) {
        out.push(pid);
        walk(pid);
      }
    }
  };
  walk(root);
  return out;
}

function kbField(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

export interface Memory {
  /** Proportional set size, KiB: shared pages split between the processes sharing them. */
  pssKiB: number;
  /** Resident set size, KiB: shared pages counted in every process (an overestimate for Kamailio's children). */
  rssKiB: number;
}

export function memoryOf(pids: readonly number[]): Memory {
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    try {
      pss += kbField(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
      rss += kbField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
    } catch {
      // gone
    }
  }
  return { pssKiB: pss, rssKiB: rss };
}

/** Busy and total CPU seconds of the whole machine since boot (all cores), from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / ticksPerSecond(), total: total / ticksPerSecond() };
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

/** Soft and hard `ulimit -n` of this process. */
export function nofileLimits(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.match(/\d+|unlimited/g) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  return { soft: soft ?? 1024, hard: hard ?? 1024 };
}

/**
 * Datagrams the kernel dropped because a UDP socket's receive buffer was full (machine-wide, from
 * /proc/net/snmp): inside a cluster whose hops are UDP, each one costs a retransmission timer.
 */
export function udpReceiveBufferErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
  } catch {
    return 0;
  }
}
