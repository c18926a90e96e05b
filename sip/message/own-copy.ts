/**
 * A flat copy of a string that shares no memory with what it came from. Values read from a message
 * are V8 slices of the whole message text, so anything kept long (a binding for an hour, a cache
 * key) that holds one keeps the entire message alive with it. Strings under 13 characters are
 * copied by V8 when sliced already.
 */
export function ownCopy(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}
