/**
 * Preloaded (`node --expose-gc --import=<this file>`) into the sipflow nodes of the idle-flow
 * scenario only: SIGUSR2 runs full garbage collections, so the memory read from /proc afterwards
 * is what the flows hold, not garbage left from registering them; then one line of V8's own
 * accounting goes to stderr, to tell live JavaScript objects from heap the process keeps but does
 * not use. Kamailio has no collector and needs no such step.
 *
 * One collection is not enough: V8 frees the memory behind dead Buffers and returns emptied heap
 * pages on background threads after the collection returns. Read at once, a node that registered
 * 10,000 flows 35 s earlier showed either ~1.1 or ~2.9 KiB per flow from run to run: the
 * difference was the 32-second transactions' response Buffers and their old-space pages, dead but
 * not yet released. So: collect, let the background work finish, collect again.
 * With SIPFLOW_BENCH_HEAP_SNAPSHOTS=<dir>, each reading also writes a V8 heap snapshot there, to
 * find out what a flow's memory holds.
 */
import { writeHeapSnapshot } from 'node:v8';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const PASSES = 3;
const PAUSE_MS = 300;
let readings = 0;

async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let first: NodeJS.MemoryUsage | undefined;
  for (let pass = 0; pass < PASSES; pass++) {
    gc?.();
    first ??= process.memoryUsage();
    await sleep(PAUSE_MS);
  }
  const dir = process.env.SIPFLOW_BENCH_HEAP_SNAPSHOTS;
  if (dir) writeHeapSnapshot(join(dir, `${process.pid}-${++readings}.heapsnapshot`));
  const m = process.memoryUsage();
  const line = {
    benchMemory: { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers },
    afterFirstCollection: { rss: first!.rss, heapTotal: first!.heapTotal, external: first!.external },
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

process.on('SIGUSR2', () => {
  void settle();
});
