/**
 * The Node flags a sipflow node runs with, wherever it is launched (local cluster, systemd, Helm,
 * the benchmark): one list, so what is measured is what operators run.
 *
 * --max-semi-space-size=4 (MiB, default 16): under load V8 grows the young generation to 2×16 MiB
 * and keeps it committed when the load is gone. With 10,000 idle registered flows that was half of
 * the core's resident memory per flow (`npm run bench -- kamailio`, idle scenario: 4.8 → 2.2 KiB
 * PSS per flow on the core). The CPU per REGISTER did not change: what survives a scavenge is
 * mostly transactions waiting out Timer J/K, promoted with any young-generation size.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
