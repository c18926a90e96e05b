/**
 * Parser benchmark: parse and serialise a SIP.js-style REGISTER over WebSocket (~700 bytes) and a
 * WebRTC INVITE with SDP. Single-threaded, so the figures are messages/s per core.
 *
 *   lazy      parseMessage + the headers a proxy touches (Via, To, From, Call-ID, CSeq,
 *             Max-Forwards, Contact)
 *   full      parseMessage + the parsed value of every header and the Request-URI
 *   serialize toBuffer() of a parsed message
 *   relay     parse, lazy touch, add a Via, decrement Max-Forwards, toBuffer(): a proxy hop
 *
 * Rates are per CPU-second of this process (see measure()), so they stay meaningful on a shared
 * machine; the wall-clock rates are printed next to them.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/parser/parser-bench.js
 * Goal: >= 200,000 lazy parses/s of the REGISTER.
 */
import { pathToFileURL } from 'node:url';
import { parseMessage } from '../../sip/message/parser.js';
import type { Request, Response } from '../../sip/message/message.js';

type Parsed = Request | Response;
import { addVia, decrementMaxForwards } from '../../sip/message/proxy-helpers.js';

function crlf(lines: string[]): string {
  return lines.join('\r\n');
}

export const REGISTER_WS = Buffer.from(crlf([
  'REGISTER sip:example.com SIP/2.0',
  'Via: SIP/2.0/WSS 8c1lq3ns0v2e.invalid;branch=z9hG4bK5297481',
  'Max-Forwards: 70',
  'To: <sip:alice@example.com>',
  'From: "Alice" <sip:alice@example.com>;tag=ek9s2pqgvd',
  'Call-ID: 3t8c0kuvhd7mrhb5tfk8',
  'CSeq: 2 REGISTER',
  'Authorization: Digest username="alice", realm="example.com", nonce="Zb7x1GAAAAC3pZ", uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", qop=auth, cnonce="k4l8fj2mq", nc=00000001',
  'Contact: <sip:q8r5t1ab@8c1lq3ns0v2e.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance="<urn:uuid:4b0b9b3c-8d57-4b5a-9f1b-5f0f1e1b2a3c>";expires=600',
  'Expires: 600',
  'Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER',
  'Supported: path, gruu, outbound',
  'User-Agent: SIP.js/0.21.2',
  'Content-Length: 0',
  '',
  '',
]));

const SDP = crlf([
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS 9a8b7c6d',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1467250027 1 udp 2122260223 192.0.2.10 50140 typ host generation 0 network-id 1',
  'a=candidate:1853887674 1 udp 1686052607 198.51.100.7 50140 typ srflx raddr 192.0.2.10 rport 50140 generation 0',
  'a=ice-ufrag:e7Jq',
  'a=ice-pwd:Sl1pW0cS9nBvDk2L4d4xQf3e',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=sendrecv',
  'a=msid:9a8b7c6d 1f2e3d4c',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:2963425190 cname:Yq3k2V9dM0Lp8Rzc',
  '',
]);

export const INVITE_WS = Buffer.from(crlf([
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/WSS 8c1lq3ns0v2e.invalid;branch=z9hG4bK8812301',
  'To: <sip:bob@example.com>',
  'From: "Alice" <sip:alice@example.com>;tag=4p0a8mcn1t',
  'CSeq: 1 INVITE',
  'Call-ID: dq1l3k5v7hv9m0gg2rjb',
  'Max-Forwards: 70',
  'Contact: <sip:q8r5t1ab@8c1lq3ns0v2e.invalid;transport=ws;ob>',
  'Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER',
  'Supported: outbound',
  'User-Agent: SIP.js/0.21.2',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
]));

let sink = 0;

function lazyTouch(m: Parsed): void {
  sink += m.vias.length + m.to.params.size + m.from.params.size + m.callId.length + m.cseq.seq + (m.maxForwards ?? 0);
  const c = m.contacts;
  sink += c === '*' ? 1 : c.length;
}

function fullTouch(m: Parsed): void {
  if (m.kind === 'request') sink += m.uri.host.length;
  for (const h of m.headers) {
    const v = m.parsedValue(h.name);
    sink += v === undefined ? 0 : 1;
  }
  sink += m.body.length;
}

function parseOrThrow(b: Buffer): Parsed {
  const r = parseMessage(b);
  if (!r.ok) throw r.error;
  return r.message as Parsed;
}

/**
 * Runs fn in batches until durationMs of wall time has passed. Returns operations per second of
 * CPU time used by this process (user + system, from process.cpuUsage()): on a machine shared
 * with other work that is the per-core figure, where wall-clock rates would count the time the
 * scheduler gave to others. GC threads' CPU time is included, which is fair: it is parser cost.
 */
function measure(fn: () => void, durationMs: number): { perCpuSecond: number; perWallSecond: number } {
  const batch = 500;
  const wallStart = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const limit = BigInt(Math.round(durationMs * 1e6));
  let ops = 0;
  let elapsed = 0n;
  // Bounded by time (and, as a guard, by count).
  while (elapsed < limit && ops < 1e9) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = process.hrtime.bigint() - wallStart;
  }
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { perCpuSecond: ops / cpuSeconds, perWallSecond: ops / (Number(elapsed) / 1e9) };
}

export interface ParserBenchOptions {
  /** Measured time per case; default 2000 ms. */
  durationMs?: number;
  /** Warm-up time per case; default 300 ms. */
  warmupMs?: number;
  /** Do not print the table. */
  quiet?: boolean;
}

export async function runParserBench(options: ParserBenchOptions = {}): Promise<Record<string, number>> {
  const durationMs = options.durationMs ?? 2000;
  const warmupMs = options.warmupMs ?? 300;
  const results: Record<string, number> = {};
  const wall: Record<string, number> = {};
  const inputs: [string, Buffer][] = [['register', REGISTER_WS], ['invite', INVITE_WS]];
  for (const [name, bytes] of inputs) {
    const parsed = parseOrThrow(bytes);
    const cases: [string, () => void][] = [
      ['lazy', () => lazyTouch(parseOrThrow(bytes))],
      ['full', () => fullTouch(parseOrThrow(bytes))],
      ['serialize', () => { sink += parsed.toBuffer().length; }],
      ['relay', () => {
        const m = parseOrThrow(bytes);
        lazyTouch(m);
        addVia(m, { transport: 'UDP', host: '10.0.0.1', port: 5060, branch: 'z9hG4bKrelay1', rport: true });
        decrementMaxForwards(m);
        sink += m.toBuffer().length;
      }],
    ];
    for (const [label, fn] of cases) {
      measure(fn, warmupMs);
      const m = measure(fn, durationMs);
      results[`${name}.${label}`] = Math.round(m.perCpuSecond);
      wall[`${name}.${label}`] = Math.round(m.perWallSecond);
      // Let other work (timers, a tap runner) breathe between cases.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (sink === -1) console.log(sink);
  lastWallRates = wall;
  if (options.quiet !== true) printTable(results, wall);
  return results;
}

function printTable(results: Record<string, number>, wall: Record<string, number>): void {
  console.log(`REGISTER ${REGISTER_WS.length} bytes, INVITE ${INVITE_WS.length} bytes`);
  console.log(`${'case'.padEnd(20)} ${'msg/s per core'.padStart(15)} ${'msg/s wall'.padStart(12)}`);
  for (const [k, v] of Object.entries(results)) {
    console.log(`${k.padEnd(20)} ${v.toLocaleString('en-US').padStart(15)} ${(wall[k] ?? 0).toLocaleString('en-US').padStart(12)}`);
  }
}

/** Wall-clock rates of the last run (lower than the per-CPU ones when the machine is busy). */
export let lastWallRates: Record<string, number> = {};

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) await runParserBench();
