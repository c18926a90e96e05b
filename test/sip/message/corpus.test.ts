/**
 * The message corpus: every file under test/fixtures/messages/{valid,invalid} is parsed and its
 * outcome compared with expected.json. Valid messages must also pass validateMessage(), survive
 * toBuffer() → parseMessage() with the same observable fields, and keep every header line.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseMessage, validateMessage } from '../../../sip/message/parser.js';
import { SipParseError } from '../../../sip/message/errors.js';
import type { SipMessage } from '../../../sip/message/model.js';
import type { Message } from '../../../sip/message/message.js';

// ---- manifest keys ------------------------------------------------------------------------------
// Each manifest key names one observable property of a parsed message; an unknown key fails the
// test, so a typo in the manifest cannot silently check nothing.

type Extract = (m: SipMessage) => unknown;

const obj = (m: Map<string, string | null>): Record<string, string | null> => Object.fromEntries(m);
const req = (m: SipMessage) => {
  if (m.kind !== 'request') throw new Error('not a request');
  return m;
};
const firstContact = (m: SipMessage) => {
  const c = m.contacts;
  if (c === '*' || c.length === 0) throw new Error('no contact');
  return c[0]!;
};

const EXTRACT: Record<string, Extract> = {
  kind: (m) => m.kind,
  method: (m) => req(m).method,
  uri: (m) => req(m).uriText,
  status: (m) => (m.kind === 'response' ? m.status : undefined),
  reason: (m) => (m.kind === 'response' ? m.reason : undefined),
  callId: (m) => m.callId,
  cseq: (m) => [m.cseq.seq, m.cseq.method],
  viaCount: (m) => m.vias.length,
  topBranch: (m) => m.topVia?.params.get('branch'),
  topViaHost: (m) => m.topVia?.host,
  topViaPort: (m) => m.topVia?.port,
  topViaTransport: (m) => m.topVia?.transport,
  topViaParams: (m) => obj(m.topVia!.params),
  topViaParamCount: (m) => m.topVia!.params.size,
  received: (m) => m.topVia?.params.get('received'),
  fromTag: (m) => m.from.params.get('tag') ?? null,
  toTag: (m) => m.to.params.get('tag') ?? null,
  fromDisplay: (m) => m.from.displayName,
  toDisplay: (m) => m.to.displayName,
  fromUser: (m) => m.from.uri.user,
  fromHost: (m) => m.from.uri.host,
  toUriParamCount: (m) => m.to.uri.params.size,
  contacts: (m) => (m.contacts === '*' ? '*' : m.contacts.length),
  contactParams: (m) => obj(firstContact(m).params),
  contactDisplay: (m) => firstContact(m).displayName,
  maxForwards: (m) => m.maxForwards ?? null,
  expires: (m) => (m as unknown as Message).expires,
  bodyLength: (m) => m.body.length,
  body: (m) => m.body.toString('utf8'),
  bodyBase64: (m) => m.body.toString('base64'),
  contentType: (m) => (m as unknown as Message).contentType,
  uriUser: (m) => req(m).uri.user,
  uriHost: (m) => req(m).uri.host,
  uriScheme: (m) => req(m).uri.scheme,
  uriOpaque: (m) => req(m).uri.opaque,
  uriPassword: (m) => req(m).uri.password,
  uriPort: (m) => req(m).uri.port,
  uriParams: (m) => obj(req(m).uri.params),
  routeCount: (m) => m.routes.length,
  topRouteHost: (m) => m.routes[0]?.uri.host,
  recordRouteCount: (m) => m.recordRoutes.length,
  pathCount: (m) => (m as unknown as Message).paths.length,
  referToHeaders: (m) => {
    const v = (m as unknown as Message).parsedValue('Refer-To') as { uri: { headers: Map<string, string> } }[];
    return Object.fromEntries(v[0]!.uri.headers);
  },
  names: (m) => m.headers.map((h) => h.name),
};

/** Keys whose expected value is an object of header name → expected, read per header. */
const PER_HEADER: Record<string, (m: SipMessage, name: string) => unknown> = {
  headers: (m, name) => m.get(name),
  values: (m, name) => m.values(name),
  headerLengths: (m, name) => m.get(name)?.length,
};

/** Keys compared as a subset (only the listed entries must match). */
const SUBSET = new Set(['contactParams']);

/** Manifest keys that describe the outcome rather than a message property. */
const OUTCOME_KEYS = new Set(['ok', 'code', 'stage', 'header', 'canReply']);

/** The observed value of every property the expectation names (names excluded when skipNames). */
function observe(m: SipMessage, expected: Record<string, unknown>, skip: ReadonlySet<string> = new Set()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, want] of Object.entries(expected)) {
    if (OUTCOME_KEYS.has(key) || skip.has(key)) continue;
    if (key in PER_HEADER) {
      const per: Record<string, unknown> = {};
      for (const name of Object.keys(want as object)) per[name] = PER_HEADER[key]!(m, name);
      out[key] = per;
    } else if (key in EXTRACT) {
      let v = EXTRACT[key]!(m);
      if (SUBSET.has(key) && v && typeof v === 'object') {
        v = Object.fromEntries(Object.keys(want as object).map((k) => [k, (v as Record<string, unknown>)[k]]));
      }
      out[key] = v;
    } else {
      out[key] = `unknown manifest key ${key}`;
    }
  }
  return out;
}

/** The expected values, outcome keys removed. */
function wanted(expected: Record<string, unknown>, skip: ReadonlySet<string> = new Set()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, want] of Object.entries(expected)) {
    if (!OUTCOME_KEYS.has(key) && !skip.has(key)) out[key] = want;
  }
  return out;
}

// ---- the corpus ---------------------------------------------------------------------------------

const dir = fileURLToPath(new URL('../../fixtures/messages/', import.meta.url));
const manifest = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, Record<string, unknown>>;

function load(path: string): Buffer {
  const raw = readFileSync(join(dir, path));
  return path.endsWith('.b64') ? Buffer.from(raw.toString('ascii').replace(/\s+/g, ''), 'base64') : raw;
}

const files = ['valid', 'invalid'].flatMap((d) => readdirSync(join(dir, d)).map((f) => `${d}/${f}`)).sort();

t.test('the corpus holds at least 60 messages, each listed in the manifest and vice versa', async (t) => {
  t.ok(files.length >= 60, `${files.length} files`);
  t.strictSame(files, Object.keys(manifest).sort());
  t.ok(files.filter((f) => f.startsWith('valid/')).length >= 30);
  t.ok(files.filter((f) => f.startsWith('invalid/')).length >= 25);
});

t.test('text fixtures are stored with CRLF line endings, except the bare-LF one', async (t) => {
  for (const f of files) {
    if (f.endsWith('.b64') || f.includes('bare-lf')) continue;
    const bytes = load(f);
    const head = bytes.subarray(0, Math.max(0, bytes.indexOf('\r\n\r\n')));
    t.notOk(/[^\r]\n/.test(head.toString('latin1')), `${f}: every LF in the header section follows a CR`);
  }
});

for (const file of files) {
  const expected = manifest[file]!;
  t.test(file, async (t) => {
    const bytes = load(file);
    const result = parseMessage(bytes);
    if (expected.ok === true) {
      if (!result.ok) {
        t.fail(`parse failed: ${result.error.code} ${result.error.message}`);
        return;
      }
      const msg = result.message;
      t.equal(validateMessage(msg), undefined, 'passes validateMessage');
      t.strictSame(observe(msg, expected), wanted(expected), 'fields match the manifest');

      // Round trip: serialise, parse again, same fields and the same header lines.
      const again = parseMessage(msg.toBuffer());
      t.ok(again.ok, 're-parses after toBuffer()');
      if (!again.ok) return;
      const skip = new Set(['names']);
      t.strictSame(observe(again.message, expected, skip), wanted(expected, skip), 'fields survive the round trip');
      const lines = (m: typeof msg) => m.headers.filter((h) => !/^(content-length|l)$/i.test(h.name)).map((h) => [h.name, h.value]);
      t.strictSame(lines(again.message), lines(msg), 'header names and values survive unchanged');
      t.ok(again.message.body.equals(msg.body), 'body survives');
      t.equal((again.message as unknown as Message).contentLength, msg.body.length, 'Content-Length matches the body');
      return;
    }

    t.equal(result.ok && expected.stage === 'parse', false, 'parse does not accept it');
    let error: SipParseError | undefined;
    let canReply: boolean | undefined;
    if (expected.stage === 'parse') {
      if (result.ok) return;
      error = result.error;
      canReply = result.partial?.canReply;
    } else {
      t.ok(result.ok, 'parses lazily');
      if (!result.ok) return;
      const strict = parseMessage(bytes, undefined, { validate: true });
      t.equal(strict.ok, false, 'fails with { validate: true }');
      if (strict.ok) return;
      error = strict.error;
      canReply = strict.partial?.canReply;
      t.same(validateMessage(result.message)?.code, expected.code, 'validateMessage reports the same');
    }
    t.type(error, SipParseError);
    t.equal(error.code, expected.code, 'error code');
    t.ok(error.message.length > 0 && !/[\r\n]/.test(error.message), 'reason phrase is one line');
    if (expected.header !== undefined) t.equal(error.header, expected.header, 'header named');
    if (expected.canReply !== undefined) t.equal(canReply ?? false, expected.canReply, 'canReply');
  });
}
