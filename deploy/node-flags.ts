/**
 * The Node flags a sipflow node runs with, wherever it is launched (local cluster, systemd, Helm,
 * the benchmark): one list, so what is measured is what operators run.
 *
 * --max-semi-space-size=16 (MiB): V8's young generation. It was 4 for a while: with transactions
 * that kept several KiB each for 32 s, a young generation grown to 2×16 MiB under load stayed
 * committed and was half of the core's memory per idle flow. Once waiting transactions held
 * ~1–2 KiB and the idle reading waited for V8 to release what it freed, the trade reversed
 * (`npm run bench -- kamailio`, same code): 4 MiB gave 242–257 µs per REGISTER over WS and 0.7 KiB
 * PSS per idle flow, 16 MiB gave 206 µs and 1.4 KiB (goal measure 1.9 → 2.0 KiB): fewer scavenges,
 * and in-flight transactions die young instead of being promoted. Set explicitly so the choice
 * is visible and does not move with V8's defaults.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
