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
  if (poolPos + n > POOL.length) {
    randomFillSync(POOL);
    poolPos = 0;
  }
  const out = Buffer.allocUnsafe(n);
  POOL.copy(out, 0, poolPos, poolPos + n);
  // Used bytes are never handed out twice.
  poolPos += n;
  return out;
}
