/**
 * Preloaded (`node --expose-gc --import=<this file>`) into the sipflow nodes of the idle-flow
 * scenario only: SIGUSR2 runs a full garbage collection, so the memory read from /proc afterwards
 * is what the flows hold, not garbage left from registering them; then one line of V8's own
 * accounting goes to stderr, to tell live JavaScript objects from heap the process keeps but does
 * not use. Kamailio has no collector and needs no such step.
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`${JSON.stringify({ benchMemory: { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers } })}\n`);
});
