/**
 * The load generator against an in-process sipflow cluster (one core, two edges) at tiny load, and
 * against a fake WebSocket server that answers wrongly: a response is a success only when it
 * parses and matches its transaction (top Via branch, Call-ID, CSeq) on the flow its request used.
 */
import t, { type Test } from 'tap';
import { WebSocketServer } from 'ws';
import { CoreNode } from '../../../core/core-node.js';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import { EdgeNode } from '../../../edge/edge-node.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { LoadGenerator, mergeResults, splitPlan, type LoadPlan } from '../../../bench/loadgen/load-generator.js';

const HOST = '127.0.0.1';
const SECRET = 'loadgen-test-secret-0123456789';
const DOMAIN = 'bench.test';
// Ports of this test (the bench's range, apart from the comparison runner's own).
const PORT = { core: 26560, edge1: { udp: 26580, ws: 26581 }, edge2: { udp: 26582, ws: 26583 }, fake: 26590, loadgen: [26600, 26601] };

async function cluster(t: Tap) {
  const core = new CoreNode(
    { udp: { host: HOST, port: PORT.core }, domain: DOMAIN, auth: false, secrets: [SECRET], rateLimit: 1_000_000, trustedSources: [HOST] },
    { store: new MemoryLocationStore() },
  );
  await core.start();
  const edges: EdgeNode[] = [];
  t.teardown(async () => {
    for (const e of edges) await e.stop();
    await core.stop();
  });
  for (const e of [PORT.edge1, PORT.edge2]) {
    const edge = new EdgeNode({
      ws: { host: HOST, port: e.ws },
      udp: { host: HOST, port: e.udp },
      cores: [{ host: HOST, port: PORT.core }],
      secrets: [SECRET],
      maxFlowsPerIp: 0,
      ratePerFlow: 0,
      ratePerIp: 0,
    });
    edges.push(edge);
    await edge.start();
  }
  return { core, edges, ws: [PORT.edge1, PORT.edge2].map((e) => ({ host: HOST, port: e.ws })) };
}
type Tap = Test;

async function run(t: Tap, plan: LoadPlan) {
  const load = LoadGenerator.create(plan);
  t.teardown(() => load.close());
  const setup = await load.prepare();
  const result = plan.mode === 'idle' ? undefined : await load.run();
  return { load, setup, result };
}

t.test('REGISTER closed loop over WebSocket through two edges and a core: every 200 OK parsed and matched', async (t) => {
  const c = await cluster(t);
  const { setup, result } = await run(t, { mode: 'register', transport: 'ws', targets: c.ws, count: 4, durationMs: 400, domain: DOMAIN });
  t.equal(setup.ops, 4, 'each UA registered once during setup');
  t.equal(setup.errors, 0, `no setup error ${setup.errorSamples.join('; ')}`);
  t.ok(result!.ops >= 8, `UAs kept refreshing (${result!.ops} REGISTERs in 400 ms)`);
  t.equal(result!.errors, 0, `no error ${result!.errorSamples.join('; ')}`);
  t.equal(result!.latency.n, result!.ops, 'one latency sample per counted REGISTER');
  t.ok(result!.latency.p50 > 0 && result!.latency.p99 >= result!.latency.p50, 'p50 ≤ p99');
  t.equal(result!.sent, result!.received, 'every REGISTER got exactly one answer');
  t.equal(result!.openConnections, 4);
});

t.test('WS↔WS calls across two edges: INVITE, 180, 200, ACK at the callee, BYE and its 200', async (t) => {
  const c = await cluster(t);
  const { setup, result } = await run(t, { mode: 'calls', transport: 'ws', targets: c.ws, count: 2, durationMs: 600, domain: DOMAIN });
  t.equal(setup.ops, 4, 'callers and callees registered');
  t.ok(result!.ops >= 2, `calls completed (${result!.ops})`);
  t.equal(result!.errors, 0, `no error ${result!.errorSamples.join('; ')}`);
  t.equal(result!.latency.n, result!.ops, 'one setup-latency sample per completed call');
});

t.test('UDP REGISTER and calls straight to the core', async (t) => {
  await cluster(t);
  const reg = await run(t, { mode: 'register', transport: 'udp', targets: [{ host: HOST, port: PORT.core }], count: 2, durationMs: 300, domain: DOMAIN, udpPorts: [PORT.loadgen[0]!] });
  t.ok(reg.result!.ops > 0 && reg.result!.errors === 0, `REGISTER over UDP (${reg.result!.ops}, ${reg.result!.errorSamples.join('; ')})`);
  await reg.load.close();
  const calls = await run(t, { mode: 'calls', transport: 'udp', targets: [{ host: HOST, port: PORT.core }], count: 1, durationMs: 400, domain: DOMAIN, udpPorts: [PORT.loadgen[1]!] });
  t.ok(calls.result!.ops > 0 && calls.result!.errors === 0, `calls over UDP (${calls.result!.ops}, ${calls.result!.errorSamples.join('; ')})`);
});

t.test('idle flows stay open and registered', async (t) => {
  const c = await cluster(t);
  const { setup } = await run(t, { mode: 'idle', transport: 'ws', targets: c.ws, count: 6, durationMs: 0, domain: DOMAIN });
  t.equal(setup.ops, 6);
  t.equal(setup.openConnections, 6);
  t.equal(c.edges[0]!.flowCount + c.edges[1]!.flowCount, 6, 'the edges hold the six flows');
});

t.test('idle flows split over child processes, each with its own open-file limit: every part registers and holds its flows', async (t) => {
  const c = await cluster(t);
  const load = LoadGenerator.create({ mode: 'idle', transport: 'ws', targets: c.ws, count: 9, durationMs: 0, domain: DOMAIN }, { workers: 3, processes: true });
  let closed = false;
  t.teardown(() => (closed ? undefined : load.close()));
  const setup = await load.prepare();
  t.equal(setup.ops, 9, `nine flows registered across three processes ${setup.errorSamples.join('; ')}`);
  t.equal(setup.errors, 0);
  t.equal(setup.openConnections, 9, 'each process reports the flows it holds');
  t.equal(c.edges[0]!.flowCount + c.edges[1]!.flowCount, 9, 'the edges hold all nine flows');
  const started = Date.now();
  await load.close();
  closed = true;
  t.ok(Date.now() - started < 5000, 'the processes ended by themselves on close, not by the kill after 5 s');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && c.edges[0]!.flowCount + c.edges[1]!.flowCount > 0) await new Promise((r) => setTimeout(r, 50));
  t.equal(c.edges[0]!.flowCount + c.edges[1]!.flowCount, 0, 'the flows closed with their processes');
});

t.test('a closed-loop REGISTER run over two child processes merges both parts', async (t) => {
  const c = await cluster(t);
  const load = LoadGenerator.create({ mode: 'register', transport: 'ws', targets: c.ws, count: 4, durationMs: 400, domain: DOMAIN }, { workers: 2, processes: true });
  t.teardown(() => load.close());
  const setup = await load.prepare();
  t.equal(setup.ops, 4);
  const r = await load.run();
  t.equal(r.errors, 0, r.errorSamples.join('; '));
  t.ok(r.ops >= 8, `REGISTERs counted from both processes (${r.ops})`);
  t.equal(r.latency.n, r.ops, 'latency samples came back from both processes (advanced serialization of the Float64Array)');
});

/** A WebSocket "registrar" that answers every REGISTER through `answer`. */
async function fakeServer(t: Tap, answer: (request: string) => string[]): Promise<{ host: string; port: number }> {
  const wss = new WebSocketServer({ host: HOST, port: PORT.fake, handleProtocols: () => 'sip' });
  await new Promise((r) => wss.once('listening', r));
  t.teardown(() => new Promise<void>((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => r());
  }));
  wss.on('connection', (ws) => ws.on('message', (d) => {
    for (const out of answer(String(d))) ws.send(out);
  }));
  return { host: HOST, port: PORT.fake };
}

function okFor(request: string, change: (h: { via: string; callId: string; cseq: string }) => void = () => {}): string {
  const r = parseMessage(request);
  if (!r.ok || r.message.kind !== 'request') throw new Error('not a request');
  const h = { via: r.message.getAll('Via')[0]!, callId: r.message.callId, cseq: r.message.get('CSeq')! };
  change(h);
  return `SIP/2.0 200 OK\r\nVia: ${h.via}\r\nFrom: ${r.message.get('From')}\r\nTo: ${r.message.get('To')};tag=x\r\nCall-ID: ${h.callId}\r\nCSeq: ${h.cseq}\r\nContent-Length: 0\r\n\r\n`;
}

const cases: Array<[string, (req: string) => string[], RegExp]> = [
  ['a 200 OK naming another branch', (req) => [okFor(req, (h) => (h.via = h.via.replace(/branch=[^;]+/, 'branch=z9hG4bKnotours')))], /matching no open transaction/],
  ['a 200 OK with the right branch but another Call-ID', (req) => [okFor(req, (h) => (h.callId = 'someone-else'))], /another Call-ID or CSeq/],
  ['a 200 OK with the right branch but another CSeq number', (req) => [okFor(req, (h) => (h.cseq = '999 REGISTER'))], /another Call-ID or CSeq/],
  ['something that does not parse as SIP', () => ['SIP/2.0 200 OK\r\nthis is not a header\r\n\r\n'], /unparsable/],
  ['a 404 instead of a 2xx', (req) => [okFor(req).replace('200 OK', '404 Not Found')], /REGISTER answered 404/],
];
for (const [what, answer, error] of cases) {
  t.test(`an answer is an error, not a success, when it is ${what}`, async (t) => {
    const target = await fakeServer(t, answer);
    const load = LoadGenerator.create({ mode: 'register', transport: 'ws', targets: [target], count: 1, durationMs: 200, domain: DOMAIN, transactionTimeoutMs: 300, setupTimeoutMs: 3000 });
    t.teardown(() => load.close());
    const setup = await load.prepare();
    t.equal(setup.ops, 0, 'nothing counted as registered');
    t.ok(setup.errors >= 1, 'counted as an error');
    t.match(Object.keys(setup.failures).join('\n'), error);
  });
}

t.test('a matching answer from the same fake server is counted, so the failures above are the matching', async (t) => {
  const target = await fakeServer(t, (req) => [okFor(req)]);
  const { setup, result } = await run(t, { mode: 'register', transport: 'ws', targets: [target], count: 1, durationMs: 200, domain: DOMAIN });
  t.equal(setup.ops, 1);
  t.ok(result!.ops > 0);
  t.equal(result!.errors, 0, result!.errorSamples.join('; '));
});

t.test('plans split over workers into disjoint UAs and ports; results merge', async (t) => {
  const plan: LoadPlan = { mode: 'register', transport: 'udp', targets: [{ host: HOST, port: 1 }], count: 5, durationMs: 1, domain: DOMAIN, udpPorts: [1, 2, 3], concurrency: 10 };
  const parts = splitPlan(plan, 2);
  t.same(parts.map((p) => p.count), [3, 2]);
  t.same(parts.map((p) => p.idOffset), [0, 3]);
  t.same(parts.map((p) => p.udpPorts), [[1], [2, 3]]);
  t.same(splitPlan({ ...plan, count: 1 }, 2).length, 1, 'never more parts than UAs');
  const merged = mergeResults([
    { ops: 10, failures: { a: 1 }, warnings: { w: 1 }, errorSamples: ['a'], duplicates: 0, retransmits: 0, elapsedMs: 1000, latency: new Float64Array([1, 2]), sent: 10, received: 10, openConnections: 0 },
    { ops: 30, failures: { a: 2, b: 1 }, warnings: { w: 2 }, errorSamples: ['b'], duplicates: 1, retransmits: 2, elapsedMs: 2000, latency: new Float64Array([3, 4]), sent: 30, received: 31, openConnections: 0 },
  ]);
  t.equal(merged.ops, 40);
  t.equal(merged.rate, 20, 'rate over the longest part');
  t.same(merged.failures, { a: 3, b: 1 });
  t.equal(merged.errors, 4);
  t.equal(merged.retransmits, 2);
  t.same(merged.warnings, { w: 3 });
  t.equal(merged.latency.n, 4);
  t.equal(merged.latency.p50, 2);
  t.equal(merged.latency.max, 4);
});
