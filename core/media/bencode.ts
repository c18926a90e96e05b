/**
 * Bencode, the encoding of rtpengine's ng control protocol. Dictionary keys are sorted by their
 * raw bytes and strings are length-prefixed in bytes (not UTF-16 units), as the format requires.
 */
export type BValue = string | number | Buffer | BValue[] | { [key: string]: BValue | undefined };

export function bencode(value: BValue): Buffer {
  const parts: Buffer[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(v: BValue, out: Buffer[]): void {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`bencode integers only, got ${v}`);
    out.push(Buffer.from(`i${v}e`));
  } else if (typeof v === 'string' || Buffer.isBuffer(v)) {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    out.push(Buffer.from(`${b.length}:`), b);
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l'));
    for (const item of v) write(item, out);
    out.push(Buffer.from('e'));
  } else {
    out.push(Buffer.from('d'));
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const k of keys) {
      write(k, out);
      write(v[k]!, out);
    }
    out.push(Buffer.from('e'));
  }
}

export class BencodeError extends Error {}

/** Decodes one value; strings come back as UTF-8 text (ng replies carry SDP and words). */
export function bdecode(data: Buffer): BValue {
  const [value, end] = read(data, 0, 0);
  if (end !== data.length) throw new BencodeError(`trailing bytes at ${end}`);
  return value;
}

function read(d: Buffer, i: number, depth: number): [BValue, number] {
  if (depth > 32) throw new BencodeError('nesting too deep');
  const c = d[i];
  if (c === undefined) throw new BencodeError('truncated');
  if (c === 0x69 /* i */) {
    const end = d.indexOf(0x65, i);
    if (end < 0) throw new BencodeError('unterminated integer');
    const n = Number(d.toString('latin1', i + 1, end));
    if (!Number.isInteger(n)) throw new BencodeError('bad integer');
    return [n, end + 1];
  }
  if (c === 0x6c /* l */) {
    const list: BValue[] = [];
    let j = i + 1;
    while (d[j] !== 0x65) {
      if (j >= d.length) throw new BencodeError('unterminated list');
      const [v, next] = read(d, j, depth + 1);
      list.push(v);
      j = next;
    }
    return [list, j + 1];
  }
  if (c === 0x64 /* d */) {
    const dict: Record<string, BValue> = {};
    let j = i + 1;
    while (d[j] !== 0x65) {
      if (j >= d.length) throw new BencodeError('unterminated dictionary');
      const [k, afterKey] = read(d, j, depth + 1);
      if (typeof k !== 'string') throw new BencodeError('dictionary key is not a string');
      const [v, next] = read(d, afterKey, depth + 1);
      dict[k] = v;
      j = next;
    }
    return [dict, j + 1];
  }
  if (c >= 0x30 && c <= 0x39) {
    const colon = d.indexOf(0x3a, i);
    if (colon < 0) throw new BencodeError('bad string length');
    const len = Number(d.toString('latin1', i, colon));
    const start = colon + 1;
    if (!Number.isInteger(len) || start + len > d.length) throw new BencodeError('string runs past the end');
    return [d.toString('utf8', start, start + len), start + len];
  }
  throw new BencodeError(`unexpected byte 0x${c.toString(16)} at ${i}`);
}
