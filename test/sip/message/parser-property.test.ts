/**
 * Property tests: the parser never throws whatever bytes arrive, everything it accepts can be
 * serialised and parsed again to the same thing, and generated valid messages round-trip.
 */
import t from 'tap';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseMessage, validateMessage } from '../../../sip/message/parser.js';
import { SipParseError } from '../../../sip/message/errors.js';
import { createRequest } from '../../../sip/message/factory.js';
import type { SipMessage } from '../../../sip/message/model.js';
import { formatUri, parseUri, type SipUri } from '../../../sip/grammar/uri.js';
import { formatNameAddr, parseNameAddr, type NameAddr } from '../../../sip/grammar/name-addr.js';
import { formatVia, parseVia, type Via } from '../../../sip/grammar/via.js';
import type { Message } from '../../../sip/message/message.js';

const NUM_RUNS = 2000;

const dir = fileURLToPath(new URL('../../fixtures/messages/valid/', import.meta.url));
const seeds: Buffer[] = readdirSync(dir).sort().map((f) => {
  const raw = readFileSync(join(dir, f));
  return f.endsWith('.b64') ? Buffer.from(raw.toString('ascii').replace(/\s+/g, ''), 'base64') : raw;
});

/** Touches every lazy accessor; only SipParseError may come out of them. */
function touchAll(m: SipMessage): void {
  const accessors: (() => unknown)[] = [
    () => m.vias, () => m.topVia, () => m.from, () => m.to, () => m.callId, () => m.cseq, () => m.maxForwards,
    () => m.contacts, () => m.routes, () => m.recordRoutes, () => (m.kind === 'request' ? m.uri : undefined),
    ...m.headers.map((h) => () => (m as unknown as Message).parsedValue(h.name)),
  ];
  for (const a of accessors) {
    try {
      a();
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
  }
  const v = validateMessage(m);
  if (v !== undefined && v.code === 'INTERNAL') throw new Error('validateMessage hit an internal error');
}

/** The property every input must satisfy. */
function wellBehaved(data: Buffer): boolean {
  const r = parseMessage(data);
  if (!r.ok) {
    if (!(r.error instanceof SipParseError)) return false;
    if (r.error.code === 'INTERNAL') throw new Error(`internal error for ${JSON.stringify(data.toString('latin1'))}`);
    return true;
  }
  touchAll(r.message);
  // Whatever was accepted serialises, and the result parses to the same header lines and body.
  const again = parseMessage(r.message.toBuffer());
  if (!again.ok) throw new Error(`re-parse failed (${again.error.code}) for ${JSON.stringify(data.toString('latin1'))}`);
  const lines = (m: SipMessage) => m.headers.filter((h) => !/^(content-length|l)$/i.test(h.name)).map((h) => h.name + ':' + h.value).join('\n');
  if (lines(again.message) !== lines(r.message)) throw new Error('headers changed on re-parse');
  if (!again.message.body.equals(r.message.body)) throw new Error('body changed on re-parse');
  return true;
}

t.test('random bytes never make parseMessage throw', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => wellBehaved(Buffer.from(bytes))), { numRuns: NUM_RUNS });
  t.pass(`${NUM_RUNS} runs`);
});

t.test('random SIP-looking text never makes parseMessage throw', async (t) => {
  const piece = fc.constantFrom(
    'INVITE ', 'SIP/2.0', ' ', '\r\n', '\n', ':', ';', ',', '<', '>', '"', '\\', 'sip:', 'a@b', 'Via: ', 'SIP/2.0/UDP h',
    'To: ', 'From: ', 'Call-ID: ', 'CSeq: 1 INVITE', 'Content-Length: ', '0', '5', '\t', 'tag=', 'branch=z9hG4bK', '[::1]', '%', '\0', 'é',
  );
  fc.assert(fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => wellBehaved(Buffer.from(pieces.join('')))), { numRuns: NUM_RUNS });
  t.pass(`${NUM_RUNS} runs`);
});

t.test('mutated corpus messages never make parseMessage throw', async (t) => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('insertText' as const), at: fc.nat(), text: fc.constantFrom('\r\n', ' ', ',', ';', '"', '<', '>', ':', '\r\n ', '%', '\0', '\r\n\r\n') }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('dupLine' as const), at: fc.nat() }),
  );
  const apply = (buf: Buffer, m: fc.RecordValue<Record<string, unknown>> & { kind: string; at: number }): Buffer => {
    const at = buf.length === 0 ? 0 : m.at % buf.length;
    switch (m.kind) {
      case 'flip': {
        const copy = Buffer.from(buf);
        if (copy.length > 0) copy[at] = m.byte as number;
        return copy;
      }
      case 'insert':
        return Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes as Uint8Array), buf.subarray(at)]);
      case 'insertText':
        return Buffer.concat([buf.subarray(0, at), Buffer.from(m.text as string), buf.subarray(at)]);
      case 'delete':
        return Buffer.concat([buf.subarray(0, at), buf.subarray(at + (m.length as number))]);
      case 'truncate':
        return buf.subarray(0, at);
      default: {
        const start = buf.lastIndexOf(10, at) + 1;
        const end = buf.indexOf(10, at);
        if (end < 0) return buf;
        return Buffer.concat([buf.subarray(0, end + 1), buf.subarray(start, end + 1), buf.subarray(end + 1)]);
      }
    }
  };
  fc.assert(
    fc.property(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, mutations) => {
      let buf = seeds[i]!;
      for (const m of mutations) buf = apply(buf, m as never);
      return wellBehaved(buf);
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass(`${NUM_RUNS} runs`);
});

// ---- generators of valid parts -----------------------------------------------------------------

const alnum = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split(''));
const word = (min: number, max: number) => fc.array(alnum, { minLength: min, maxLength: max }).map((a) => a.join(''));
const token = fc.array(fc.constantFrom(...'abcXYZ019-.!%*_+`\'~'.split('')), { minLength: 1, maxLength: 10 }).map((a) => a.join(''));
const label = fc.tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'.split('')), word(0, 8)).map(([a, b]) => (a + b).toLowerCase());
const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc.array(fc.nat(0xffff).map((n) => n.toString(16)), { minLength: 8, maxLength: 8 }).map((p) => `[${p.join(':')}]`);
const host = fc.oneof(hostname, ipv4, ipv6);
const port = fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined });
const userText = fc.string({ minLength: 1, maxLength: 12, unit: fc.oneof(alnum, fc.constantFrom(' ', '@', ':', ';', '?', '%', 'é', '/', '&', '=', '<', '>', '"')) });
const uriParamName = fc.array(fc.constantFrom(...'abcxyz09-_.!~*\'()'.split('')), { minLength: 1, maxLength: 8 }).map((a) => a.join('').toLowerCase());
const uriParamValue = fc.option(fc.array(fc.constantFrom(...'abcXYZ09-_.!~*\'()[]/:&+$'.split('')), { minLength: 1, maxLength: 8 }).map((a) => a.join('')), { nil: null });
const uriParams = fc.uniqueArray(fc.tuple(uriParamName, uriParamValue), { maxLength: 4, selector: ([n]) => n });
const uriHeaders = fc.uniqueArray(fc.tuple(word(1, 6), fc.string({ maxLength: 10 })), { maxLength: 3, selector: ([n]) => n });

const sipUri: fc.Arbitrary<SipUri> = fc.record({
  scheme: fc.constantFrom('sip', 'sips'), user: fc.option(userText, { nil: undefined }), host, port, params: uriParams, headers: uriHeaders,
}).map((r) => {
  const u: SipUri = { scheme: r.scheme, host: r.host, params: new Map(r.params), headers: new Map(r.headers) };
  if (r.user !== undefined) u.user = r.user;
  if (r.port !== undefined) u.port = r.port;
  return u;
});

const genValue = fc.oneof(token, fc.string({ maxLength: 12 }).map((s) => '"' + s.replace(/[\\"]/g, (c) => '\\' + c).replace(/[\r\n\0]/g, '') + '"'));
const headerParams = fc.uniqueArray(fc.tuple(token.map((s) => s.toLowerCase()), fc.option(genValue, { nil: null })), { maxLength: 4, selector: ([n]) => n });
const displayName = fc.option(fc.string({ maxLength: 16 }).map((s) => s.replace(/[\r\n\0]/g, '')), { nil: undefined });

const nameAddr: fc.Arbitrary<NameAddr> = fc.record({ displayName, uri: sipUri, params: headerParams }).map((r) => {
  const na: NameAddr = { uri: r.uri, params: new Map(r.params) };
  if (r.displayName !== undefined) na.displayName = r.displayName;
  return na;
});

const via: fc.Arbitrary<Via> = fc.record({
  transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP'), host, port,
  branch: word(1, 12), extra: headerParams,
}).map((r) => {
  const v: Via = { protocol: 'SIP/2.0', transport: r.transport, host: r.host, params: new Map([['branch', 'z9hG4bK' + r.branch] as [string, string | null], ...r.extra.filter(([n]) => n !== 'branch')]) };
  if (r.port !== undefined) v.port = r.port;
  return v;
});

t.test('grammar round trip: parse(format(x)) equals x for URIs, name-addrs and Vias', async (t) => {
  fc.assert(fc.property(sipUri, (u) => {
    t.strictSame(parseUri(formatUri(u)), u);
    return true;
  }), { numRuns: 500 });
  fc.assert(fc.property(nameAddr, (na) => {
    t.strictSame(parseNameAddr(formatNameAddr(na)), na);
    return true;
  }), { numRuns: 500 });
  fc.assert(fc.property(via, (v) => {
    t.strictSame(parseVia(formatVia(v)), [v]);
    return true;
  }), { numRuns: 500 });
});

t.test('generated valid messages survive serialise → parse with every field intact', async (t) => {
  const unknownHeader = fc.tuple(
    token.filter((n) => !['v', 'f', 't', 'i', 'm', 'l', 'c', 'k', 's', 'e', 'o', 'r', 'b', 'x', 'u', 'y', 'a', 'j', 'd'].includes(n.toLowerCase())).map((n) => 'X-' + n),
    fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n\0]/g, '').trim()),
  );
  const message = fc.record({
    method: fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'MESSAGE', 'BYE', 'NEWMETHOD'),
    uri: sipUri, vias: fc.array(via, { minLength: 1, maxLength: 3 }), from: nameAddr, to: nameAddr,
    callId: word(1, 30), seq: fc.nat(0x7fffffff), maxForwards: fc.option(fc.nat(255), { nil: undefined }),
    contacts: fc.array(nameAddr, { maxLength: 3 }), extra: fc.array(unknownHeader, { maxLength: 4 }),
    body: fc.uint8Array({ maxLength: 200 }),
  });
  fc.assert(fc.property(message, (g) => {
    const headers: [string, string][] = [
      ...g.vias.map((v) => ['Via', formatVia(v)] as [string, string]),
      ['From', formatNameAddr(g.from)], ['To', formatNameAddr(g.to)], ['Call-ID', g.callId], ['CSeq', `${g.seq} ${g.method}`],
    ];
    if (g.maxForwards !== undefined) headers.push(['Max-Forwards', String(g.maxForwards)]);
    if (g.contacts.length > 0) headers.push(['Contact', g.contacts.map(formatNameAddr).join(', ')]);
    headers.push(...g.extra);
    const req = createRequest({ method: g.method, uri: g.uri, headers, body: Buffer.from(g.body) });
    const r = parseMessage(req.toBuffer());
    if (!r.ok) throw r.error;
    const m = r.message;
    if (m.kind !== 'request') return false;
    t.equal(validateMessage(m), undefined);
    t.equal(m.method, g.method);
    t.strictSame(m.uri, g.uri);
    t.strictSame(m.vias, g.vias);
    t.strictSame(m.from, g.from);
    t.strictSame(m.to, g.to);
    t.equal(m.callId, g.callId);
    t.strictSame(m.cseq, { seq: g.seq, method: g.method });
    t.equal(m.maxForwards, g.maxForwards);
    t.strictSame(m.contacts, g.contacts);
    for (const [name, value] of g.extra) t.ok(m.getAll(name).includes(value), name);
    t.ok(m.body.equals(Buffer.from(g.body)));
    t.ok(m.toBuffer().equals(req.toBuffer()), 'byte for byte');
    return true;
  }), { numRuns: 300 });
});
