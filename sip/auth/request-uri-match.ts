/**
 * Does the Digest `uri` parameter name the Request-URI?
 *
 * RFC 2617 §3.2.2.5: "The authenticating server must assure that the resource designated by the
 * 'uri' directive is the same as the resource specified in the Request-Line; if they are not,
 * the server SHOULD return a 400 Bad Request error." The digest itself is computed over the
 * `uri` string as sent, so this check only stops credentials computed for one target from being
 * presented with another.
 *
 * We compare strings after a simple normalisation, not the full RFC 3261 §19.1.4 equivalence:
 *   - surrounding whitespace and a surrounding <...> are dropped;
 *   - the scheme and (for sip/sips) the host and port are lower-cased;
 *   - %-escapes of unreserved characters in the user part are decoded, other escapes upper-cased
 *     ("characters other than those in the reserved set are equivalent to their encoding");
 *   - URI parameters are lower-cased and sorted (order is not significant, §19.1.4);
 *   - ?headers and non-sip schemes are compared as written (after the scheme).
 * Deliberately NOT equal: a port present on one side and absent on the other, a `transport`
 * present on one side only, a different user. Consequence for the cluster: anything between
 * the client and the verifying node must not rewrite the Request-URI of authenticated requests
 * (an edge that adds `;transport=` or swaps the host would turn every REGISTER into 400).
 */

const UNRESERVED = /[A-Za-z0-9\-_.!~*'()]/;

export function normaliseDigestUri(uri: string): string {
  let u = uri.trim();
  if (u.startsWith('<') && u.endsWith('>')) u = u.slice(1, -1).trim();
  const colon = u.indexOf(':');
  if (colon <= 0) return u;
  const scheme = u.slice(0, colon).toLowerCase();
  let rest = u.slice(colon + 1);
  if (scheme !== 'sip' && scheme !== 'sips') return `${scheme}:${rest}`;

  // '@' may appear only as the userinfo delimiter: the user and password escape it, and
  // neither parameters nor headers admit it unescaped (RFC 3261 §25.1).
  let userinfo = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    userinfo = normaliseEscapes(rest.slice(0, at)) + '@';
    rest = rest.slice(at + 1);
  }
  let headers = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    headers = rest.slice(q);
    rest = rest.slice(0, q);
  }
  const [hostport = '', ...params] = rest.split(';');
  const sortedParams = params
    .filter((p) => p.length > 0)
    .map((p) => normaliseEscapes(p).toLowerCase())
    .sort();
  const paramText = sortedParams.length > 0 ? ';' + sortedParams.join(';') : '';
  return `${scheme}:${userinfo}${hostport.toLowerCase()}${paramText}${headers}`.trim();
}

function normaliseEscapes(s: string): string {
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : '%' + hex.toUpperCase();
  });
}

export function digestUriMatches(digestUri: string, requestUri: string): boolean {
  return normaliseDigestUri(digestUri) === normaliseDigestUri(requestUri);
}
