/**
 * Random bytes from one pooled buffer, refilled from the CSPRNG a page at a time. Tags, branches
 * and IVs are a few bytes each and wanted thousands of times a second; a crypto call per value
 * (one buffer allocation and one trip into OpenSSL each) cost more than what it produced.
 */
import { randomFillSync } from 'node:crypto';

const POOL = Buffer.alloc(4096);
let poolPos = POOL.length;

/** One random byte. */
export function randomByte(): number {
  if (poolPos >= POOL.length) {
    randomFillSync(POOL);
    poolPos = 0;
  }
  return POOL[poolPos++]!;
}

/** n fresh random bytes (a copy: the caller owns it). */
export function randomBytesPooled(n: number): Buffer {
  if (n > POOL.length) return randomFillSync(Buffer.allocUnsafe(n));
  return randomFillPooled(Buffer.allocUnsafe(n), 0, n);
}

/** Writes n fresh random bytes into `out` at `at` and returns `out`; n at most the pool's size. */
export function randomFillPooled<T extends Uint8Array>(out: T, at: number, n: number): T {
  if (n > POOL.length) throw new RangeError(`at most ${POOL.length} pooled random bytes at once, not ${n}`);
  if (poolPos + n > POOL.length) {
    randomFillSync(POOL);
    poolPos = 0;
  }
  // A byte loop: Buffer#copy of a dozen bytes costs more in its argument checks than the copy.
  for (let i = 0; i < n; i++) out[at + i] = POOL[poolPos + i]!;
  // Used bytes are never handed out twice.
  poolPos += n;
  return out;
}
