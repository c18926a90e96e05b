/**
 * Reads V8 .cpuprofile files (from `node --cpu-prof`) and ranks functions by self time: the time
 * sampled while the function itself was on top of the stack, summed over every call site.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTimeRow {
  /** `function (file:line)`, with the file relative to the repository when it is one of ours. */
  name: string;
  selfMs: number;
  /** Share of all sampled time, idle included. */
  share: number;
  /** Share of the sampled time that was not (idle) / (program) / (garbage collector). */
  busyShare: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Sampled time not idle. */
  busyMs: number;
  gcMs: number;
  top: SelfTimeRow[];
}

function label(node: ProfileNode, root: string): string {
  const f = node.callFrame;
  const fn = f.functionName || '(anonymous)';
  if (!f.url) return fn;
  let file = f.url.replace(/^file:\/\//, '');
  if (file.startsWith(root)) file = file.slice(root.length).replace(/^\//, '');
  else file = file.replace(/^.*\/node_modules\//, '');
  return `${fn} (${file}:${f.lineNumber + 1})`;
}

/** Self time per function of one or more profiles (of the same program), largest first. */
export function summarizeProfiles(files: string[], root: string, topN = 15): ProfileSummary {
  const self = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
    for (let i = 0; i < samples.length; i++) {
      const dt = Math.max(0, deltas[i + 1] ?? 0);
      const node = byId.get(samples[i]!);
      if (!node) continue;
      totalUs += dt;
      const fn = node.callFrame.functionName;
      if (fn === '(idle)') {
        idleUs += dt;
        continue;
      }
      if (fn === '(garbage collector)') gcUs += dt;
      const key = label(node, root);
      self.set(key, (self.get(key) ?? 0) + dt);
    }
  }
  const busyUs = totalUs - idleUs;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([name, us]) => ({ name, selfMs: us / 1000, share: totalUs ? us / totalUs : 0, busyShare: busyUs ? us / busyUs : 0 }));
  return { totalMs: totalUs / 1000, busyMs: busyUs / 1000, gcMs: gcUs / 1000, top };
}
