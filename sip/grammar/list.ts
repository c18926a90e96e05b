/**
 * Splitting list header values on top-level commas (RFC 3261 §7.3.1): a comma inside a
 * quoted-string or between '<' and '>' belongs to the element, not to the list.
 */

/**
 * Index of the first comma of s at or after start that is outside quotes and angle brackets,
 * or -1 when there is none.
 */
export function findTopLevelComma(s: string, start = 0): number {
  let angle = false;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < s.length) {
        const d = s.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
    } else if (c === 0x3c /* < */) {
      angle = true;
    } else if (c === 0x3e /* > */) {
      angle = false;
    } else if (c === 0x2c /* , */ && !angle) {
      return i;
    }
  }
  return -1;
}

/** Elements of a list header value, trimmed; empty elements (",," or a trailing comma) are dropped. */
export function splitList(value: string, out: string[] = []): string[] {
  let start = 0;
  for (;;) {
    const comma = findTopLevelComma(value, start);
    const piece = (comma < 0 ? value.slice(start) : value.slice(start, comma)).trim();
    if (piece.length > 0) out.push(piece);
    if (comma < 0) return out;
    start = comma + 1;
  }
}
