/**
 * Bounded fuzzing of a cluster in this process: 3,000 mutated messages (flipped bytes, truncated
 * and huge headers, wrong Content-Length, duplicated and missing mandatory headers, random
 * methods, CRLF injection, garbage names and URIs) over WebSocket to the edge, and 3,000 over UDP
 * straight to the core. Nothing crashes; every answer that comes back parses and is a well-formed
 * response (valid status line, Via, Call-ID and CSeq that parse); the transaction tables drain to
 * zero; the live heap ends near where it started; both nodes still serve.
 *
 * The seed is printed; FUZZ_SEED=<n> replays a run.
 * Ports: core 27250; edge ws 27251 / udp 27252; UDP fuzzer 27260, prober 27261; sinks 27298 (fuzzed Contacts),
 * 27299 (addresses injected into headers).
 */
import t, { type Test } from 'tap';
import v8 from 'node:v8';
import vm from 'node:vm';
import diagnostics from 'node:diagnostics_channel';
import { isUtf8 } from 'node:buffer';
import dgram from 'node:dgram';
import WebSocket from 'ws';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipMessage } from '../../sip/message/model.js';
import { udpUaAt } from '../helpers/netns.js';
import type { UdpUa } from '../helpers/udp-ua.js';
import { DOMAIN, HOST, sleep, startCore, startEdge, until } from './fixtures/cluster.js';
import { SDP, newCallId, udpRequest, wsRegister, wsRequest } from './fixtures/messages.js';
import { mutate, rng } from './fixtures/mutate.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const liveHeapMb = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
};

const P = { core: 27250, ws: 27251, udp: 27252, fuzzer: 27260, contactSink: 27298, injectedSink: 27299 };
const COUNT = 3000;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const TIMERS = { t1: 20, t2: 80, t4: 100, d: 300 };

/**
 * What comes back must parse; an answer must be a well-formed response. Requests come too: the core
 * is the home proxy of what the fuzz registered, and delivers requests for it to the flow the
 * REGISTER came from (RFC 5626), which is the fuzzer's socket.
 */
function malformedReply(data: Buffer): { bad?: string; request: boolean } {
  const r = parseMessage(data);
  if (!r.ok) return { bad: `does not parse: ${r.error.message}`, request: false };
  if (r.message.kind === 'request') return { request: true };
  const bad = checkResponse(r.message);
  return bad ? { bad, request: false } : { request: false };
}

/** Every transaction created in this process (core and edge), until it terminates: what leaked, if anything. */
const live = new Map<object, { kind: string; state: () => string; first: string }>();
diagnostics.subscribe('sipflow:transaction:created', (m) => {
  const tx = (m as { tx: { kind: string; state: string; request: SipMessage } }).tx;
  live.set(tx, { kind: tx.kind, state: () => tx.state, first: tx.request.toString().split('\r\n').slice(0, 8).join(' | ').slice(0, 400) });
});
diagnostics.subscribe('sipflow:transaction:state', (m) => {
  const e = m as { tx: object; to: string };
  if (e.to === 'terminated') live.delete(e.tx);
});

function checkResponse(m: SipMessage): string | undefined {
  if (m.kind !== 'response') return `not a response: ${m.method}`;
  if (!Number.isInteger(m.status) || m.status < 100 || m.status > 699) return `bad status ${m.status}`;
  if (/[\r\n]/.test(m.reason)) return 'reason phrase with a line break';
  try {
    if (!m.topVia) return 'no Via';
    if (!m.callId) return 'no Call-ID';
    if (!m.cseq.method || !Number.isInteger(m.cseq.seq)) return 'bad CSeq';
  } catch (err) {
    return `unreadable mandatory header: ${(err as Error).message}`;
  }
  return undefined;
}

async function sink(t: Test, port: number): Promise<UdpUa> {
  const u = await udpUaAt(HOST, port);
  t.teardown(() => u.close());
  return u;
}

function bases(kind: 'ws' | 'udp'): string[] {
  const from = { host: HOST, port: P.fuzzer };
  const contact = `<sip:fuzz@${HOST}:${P.contactSink}>`;
  const req = (spec: Parameters<typeof udpRequest>[1]) => (kind === 'udp' ? udpRequest(from, spec) : wsRequest(spec));
  return [
    kind === 'ws' ? wsRegister('fuzzer') : req({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'fuzzer', to: `sip:fuzzer@${DOMAIN}`, contact, extra: ['Expires: 60'] }),
    req({ method: 'INVITE', uri: `sip:bob@${DOMAIN}`, fromDomain: 'outside.example', contact, body: SDP }),
    req({ method: 'OPTIONS', uri: `sip:${DOMAIN}` }),
    req({ method: 'MESSAGE', uri: `sip:fuzzer@${DOMAIN}`, fromDomain: 'outside.example', body: 'hello', contentType: 'text/plain' }),
    req({ method: 'SUBSCRIBE', uri: `sip:bob@${DOMAIN}`, fromDomain: 'outside.example', contact, extra: ['Event: presence', 'Expires: 60'] }),
    req({ method: 'INFO', uri: `sip:bob@${DOMAIN}`, fromDomain: 'outside.example', extra: ['Max-Breadth: 60'] }),
  ];
}

t.comment(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} replays this run)`);

t.test(`${COUNT} mutated messages over WebSocket to the edge and ${COUNT} over UDP to the core: no crash, well-formed answers, tables drained, heap bounded`, async (t) => {
  const core = await startCore(t, P.core, { rateLimit: 100_000, trustedSources: [`${HOST}:${P.udp}`], timers: TIMERS, timerCMs: 2000 });
  const edge = await startEdge(t, { ws: P.ws, udp: P.udp }, [core.addr], { ratePerFlow: 0, ratePerIp: 0, timers: TIMERS, timerC: 2000, handshakeTimeout: 0, probeInterval: 120_000 });
  // (One health probe at start, then none during the run: the tables can be seen empty at the end.)
  const contactSink = await sink(t, P.contactSink);
  const injectedSink = await sink(t, P.injectedSink);
  const r = rng(SEED);
  const before = liveHeapMb();

  // ---- WebSocket → edge ----------------------------------------------------------------------
  const wsBad: string[] = [];
  let wsReplies = 0;
  let wsRequests = 0;
  let reconnects = 0;
  const connect = async (): Promise<WebSocket> => {
    const ws = new WebSocket(`ws://${HOST}:${P.ws}/`, 'sip');
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => {
      if (data.length <= 4 && /^(\r\n)+$/.test(data.toString())) return;
      const parsed = parseMessage(data);
      if (!parsed.ok) return void wsBad.push(`unparsable frame from the edge: ${parsed.error.message}`);
      if (parsed.message.kind === 'request') {
        wsRequests++; // a request for a binding the fuzz created; never answered, the edge times it out
        return;
      }
      wsReplies++;
      const bad = checkResponse(parsed.message);
      if (bad) wsBad.push(`${bad}: ${data.toString('latin1').slice(0, 200)}`);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return ws;
  };
  let ws = await connect();
  const wsBases = bases('ws');
  for (let i = 0; i < COUNT; i++) {
    if (ws.readyState !== WebSocket.OPEN) {
      reconnects++;
      ws = await connect();
    }
    const { text } = mutate(wsBases[i % wsBases.length]!, r, /^$/);
    const data = Buffer.from(text, 'latin1');
    ws.send(data, { binary: !isUtf8(data) });
    if (i % 20 === 19) await sleep(5);
  }
  await sleep(1000);
  ws.close();

  // ---- UDP → core ----------------------------------------------------------------------------
  const udpBad: string[] = [];
  let udpReplies = 0;
  let udpRequests = 0;
  // A raw socket, not a UdpUa: an answer that does not parse must be seen, not dropped.
  const fuzzer = dgram.createSocket('udp4');
  await new Promise<void>((res) => fuzzer.bind(P.fuzzer, HOST, () => res()));
  t.teardown(() => fuzzer.close());
  const received: Buffer[] = [];
  fuzzer.on('message', (d) => received.push(d));
  const udpBases = bases('udp');
  for (let i = 0; i < COUNT; i++) {
    // The top Via and Contact stay intact: answers come back here, bindings point at our sink.
    const { text } = mutate(udpBases[i % udpBases.length]!, r, /^(via|v|contact|m)\s*:/i);
    fuzzer.send(Buffer.from(text, 'latin1'), P.core, HOST);
    if (i % 20 === 19) await sleep(5);
  }
  await sleep(1000);
  for (const d of received) {
    const { bad, request } = malformedReply(d);
    if (request) udpRequests++;
    else udpReplies++;
    if (bad) udpBad.push(`${bad}: ${d.toString('latin1').slice(0, 200)}`);
  }

  t.comment(`edge: ${wsReplies} answers, ${wsRequests} requests delivered to the fuzzer, ${reconnects} reconnects; core: ${udpReplies} answers, ${udpRequests} requests delivered to the fuzzer`);
  t.same(wsBad.slice(0, 5), [], `every frame the edge sent back parses and every answer is well-formed (${wsBad.length} bad)`);
  t.same(udpBad.slice(0, 5), [], `every datagram the core sent back is a well-formed response (${udpBad.length} bad)`);
  t.ok(wsReplies >= COUNT * 0.1, `the edge answered a good part of the WebSocket fuzz (${wsReplies} of ${COUNT})`);
  t.ok(udpReplies >= COUNT * 0.3, `the core answered a good part of the UDP fuzz (${udpReplies} of ${COUNT})`);
  t.equal(injectedSink.received.length, 0, 'nothing was sent to an address injected into a header');
  t.ok(contactSink.received.every((m) => m.kind === 'request'), 'what reached the fuzzed Contacts is requests for bindings the fuzz registered (no stray answers)');

  // ---- afterwards ------------------------------------------------------------------------------
  const drained = await until(() => {
    const c = core.node.transactionCount;
    const e = edge.edge.transactions;
    return c.client + c.server + e.client + e.server === 0;
  }, 15_000, 100);
  const leftovers = [...live.values()].map((x) => `${x.kind} ${x.state()}: ${x.first}`);
  t.ok(drained, `transaction tables back to 0 (core ${JSON.stringify(core.node.transactionCount)}, edge ${JSON.stringify(edge.edge.transactions)})${leftovers.length ? `; left: ${leftovers.slice(0, 5).join(' || ')}` : ''}`);
  const status = (await core.node.status()) as { inviteContexts: number };
  t.equal(status.inviteContexts, 0, 'no INVITE response context left at the core');
  t.equal((edge.edge.status() as { pendingForwardings: number }).pendingForwardings, 0, 'no forwarding left at the edge');
  t.ok(await until(() => edge.edge.flowCount === 0, 3000), 'no flow left at the edge');

  // Still serving, both of them.
  const probe = await sink(t, P.fuzzer + 1);
  const callId = newCallId('after-fuzz');
  probe.send(udpRequest({ host: HOST, port: P.fuzzer + 1 }, { method: 'OPTIONS', uri: `sip:${DOMAIN}`, callId }), core.addr);
  t.equal((await probe.response(callId, 'OPTIONS', 200, 3000)).status, 200, 'the core still answers OPTIONS');
  const browser = await connect();
  const regCall = newCallId('reg-after');
  const ok = new Promise<string>((resolve) => browser.on('message', (d: Buffer) => d.toString().includes(regCall) && resolve(d.toString().split('\r\n')[0]!)));
  browser.send(wsRegister('after', { callId: regCall }));
  t.equal(await Promise.race([ok, sleep(5000).then(() => 'timeout')]), 'SIP/2.0 200 OK', 'a REGISTER through the edge still succeeds');
  browser.close();

  await sleep(300);
  const after = liveHeapMb();
  t.ok(after < before + 40, `live heap ${before.toFixed(0)} → ${after.toFixed(0)} MB (bound +40 MB)`);
});
