/**
 * Floods against a running cluster: a core and an edge as their own processes (the built CLI), two
 * honest SIP.js users registering and calling each other through the edge the whole time, and one
 * attack after another: UDP floods of REGISTER/INVITE/OPTIONS from one IP spraying source ports,
 * a WebSocket that floods and an IP that opens many, oversized and fragmented frames, a trickled
 * upgrade, 10,000 half-open TCP connections, and SIPp at 2,000 calls a second. Each attack is shed
 * and counted (the nodes' own /metrics), the honest users see every cycle succeed, and the nodes'
 * resident memory at the end stays within a bound of where it started.
 *
 * Addresses: core udp 127.0.0.1:27100, metrics :27101; edge ws :27102, udp :27103, metrics :27104.
 * Honest users from 127.0.0.5; UDP flooder 127.0.0.7:27110-27125; WebSocket flooders 127.0.0.8 and
 * 127.0.0.9; frames 127.0.0.6; half-open 127.0.0.10; SIPp 127.0.0.11:27120 (control 27121, media
 * 27122-27125); prober 127.0.0.12:27130.
 */
import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import WebSocket from 'ws';
import type { RoleProcess } from '../helpers/processes.js';
import { udpUaAt } from '../helpers/netns.js';
import { SippProcess, describe as describeSipp } from '../helpers/sipp.js';
import { DOMAIN, SECRET, sleep, until } from './fixtures/cluster.js';
import { LegitClients } from './fixtures/legit-client.js';
import { newCallId, udpRequest, wsRequest, SDP } from './fixtures/messages.js';
import { ensureBuilt, fdCount, liveHeapMb, promValue, rssMb, scrape, startNode } from './fixtures/nodes.js';

const CORE = { host: '127.0.0.1', port: 27100 };
const PORTS = { coreMetrics: 27101, ws: 27102, edgeUdp: 27103, edgeMetrics: 27104 };
// core --rate-limit: per source (ip:port), messages a second. Low, so that what gets through is
// decided by the limiter and not by the kernel dropping what the socket buffer cannot hold.
const RATE = 20;
const EDGE_URL = `ws://127.0.0.1:${PORTS.ws}/`;

ensureBuilt();
const core: RoleProcess = await startNode(['core', '--udp', `${CORE.host}:${CORE.port}`, '--domain', DOMAIN, '--auth', 'off', '--secret', SECRET, '--metrics', `127.0.0.1:${PORTS.coreMetrics}`, '--rate-limit', String(RATE), '--trusted', `127.0.0.1:${PORTS.edgeUdp}`]);
const edge: RoleProcess = await startNode([
  'edge', '--ws', `127.0.0.1:${PORTS.ws}`, '--udp', `127.0.0.1:${PORTS.edgeUdp}`, '--core', `${CORE.host}:${CORE.port}`, '--metrics', `127.0.0.1:${PORTS.edgeMetrics}`, '--secret', SECRET,
  '--rate-per-flow', '50', '--rate-per-ip', '200', '--max-flows-per-ip', '30', '--max-message-size', '8192', '--handshake-timeout', '2000', '--probe-interval', '500',
]);
const corePid = core.child.pid!;
const edgePid = edge.child.pid!;
t.teardown(async () => {
  await edge.kill();
  await core.kill();
});
const coreMetrics = () => scrape(PORTS.coreMetrics);
const edgeMetrics = () => scrape(PORTS.edgeMetrics);
await until(async () => promValue(await edgeMetrics(), 'sipflow_edge_cores_healthy') === 1, 10_000);

const legit = await LegitClients.start(EDGE_URL, '127.0.0.5');
t.teardown(() => legit.close());
// Warm up (JIT, first allocations) before the memory baseline.
for (let i = 0; i < 3; i++) await legit.cycle();
const baseline = {
  core: rssMb(corePid),
  edge: rssMb(edgePid),
  edgeFds: fdCount(edgePid),
  coreHeap: await liveHeapMb(core, PORTS.coreMetrics, 'sipflow_core_'),
  edgeHeap: await liveHeapMb(edge, PORTS.edgeMetrics, 'sipflow_edge_'),
};
legit.loop(150);

/** Runs an attack and checks the honest users got through every cycle meanwhile. */
async function duringLegit(t: Test, what: string, attack: () => Promise<void>): Promise<void> {
  const from = legit.results.length;
  await attack();
  // At least one whole cycle after the attack too (the users are not merely waiting it out).
  await until(() => legit.results.length >= from + 2, 20_000);
  const s = legit.summary(from);
  t.ok(s.total >= 2, `the honest users kept cycling during ${what} (${s.total} register+call cycles)`);
  t.equal(s.failed, 0, `every one of them succeeded (worst ${s.worstMs} ms)${s.errors.length ? `: ${s.errors.join('; ')}` : ''}`);
}

t.test('UDP floods of REGISTER, INVITE and OPTIONS from one IP spraying 16 source ports are shed per source and per IP', async (t) => {
  await duringLegit(t, 'the UDP floods', async () => {
    const sockets: dgram.Socket[] = [];
    // Every request the core admits gets a final answer: the attacker's count of answered Call-IDs
    // is what got through (the honest users' REGISTERs and INVITEs arrive through the edge meanwhile).
    const answered = new Set<string>();
    for (let i = 0; i < 16; i++) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(27110 + i, '127.0.0.7', () => r()));
      s.on('message', (d) => {
        const text = d.toString('latin1');
        if (/^SIP\/2\.0 [2-6]/.test(text)) answered.add(/\r\nCall-ID: *([^\r]+)/i.exec(text)?.[1] ?? '');
      });
      sockets.push(s);
    }
    t.teardown(() => sockets.forEach((s) => s.close()));
    for (const method of ['REGISTER', 'INVITE', 'OPTIONS'] as const) {
      const before = await coreMetrics();
      answered.clear();
      const started = performance.now();
      let sent = 0;
      for (let n = 0; n < 1000; n++) {
        for (const [i, s] of sockets.entries()) {
          const from = { host: '127.0.0.7', port: 27110 + i };
          const text =
            method === 'REGISTER'
              ? udpRequest(from, { method, uri: `sip:${DOMAIN}`, from: `flood${i}x${n}`, to: `sip:flood${i}x${n}@${DOMAIN}`, contact: `<sip:f@127.0.0.7:${from.port}>`, extra: ['Expires: 60'] })
              : method === 'INVITE'
                ? udpRequest(from, { method, uri: `sip:nobody@${DOMAIN}`, fromDomain: 'evil.example', contact: `<sip:f@127.0.0.7:${from.port}>`, body: SDP })
                : udpRequest(from, { method, uri: `sip:${DOMAIN}` });
          s.send(text, CORE.port, CORE.host);
          sent++;
        }
        if (n % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      // Done when the shedding stops and the answers stop coming.
      let last = -1;
      await until(async () => {
        const now = promValue(await coreMetrics(), 'sipflow_core_rate_limited_total') + answered.size;
        const settled = now === last;
        last = now;
        return settled;
      }, 20_000, 500);
      const seconds = (performance.now() - started) / 1000;
      const after = await coreMetrics();
      const shed = promValue(after, 'sipflow_core_rate_limited_total') - promValue(before, 'sipflow_core_rate_limited_total');
      const admitted = answered.size;
      // Per source: a burst of 2 x RATE, then RATE a second. Per IP, all its ports together: four sources' worth.
      const perIp = 4 * (2 * RATE + RATE * seconds) + 30;
      t.ok(shed >= 0.8 * (shed + admitted), `${method}: of the ${shed + admitted} that reached the core (${sent} sent), most were shed (sipflow_core_rate_limited_total +${shed})`);
      t.ok(admitted <= perIp, `${method}: the IP got at most its budget through (${admitted} ≤ ${Math.round(perIp)} in ${seconds.toFixed(1)} s), whatever its number of ports`);
      t.ok(admitted >= RATE, `${method}: and some of it was served (${admitted})`);
    }
  });
});

t.test('a WebSocket that floods is dropped then closed; the many WebSockets of one IP share one budget', async (t) => {
  await duringLegit(t, 'the WebSocket floods', async () => {
    const before = await edgeMetrics();
    const flooder = new WebSocket(EDGE_URL, 'sip', { localAddress: '127.0.0.8' });
    await new Promise((r, j) => flooder.once('open', r).once('error', j));
    let answers = 0;
    flooder.on('message', () => answers++);
    const closed = new Promise<number>((r) => flooder.once('close', (code) => r(code)));
    flooder.on('error', () => undefined);
    for (let i = 0; i < 2000 && flooder.readyState === WebSocket.OPEN; i++) {
      flooder.send(wsRequest({ method: 'OPTIONS', uri: `sip:${DOMAIN}` }));
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    const code = await Promise.race([closed, sleep(10_000).then(() => -1)]);
    t.not(code, -1, `the flooding WebSocket was closed by the edge (code ${code})`);
    t.ok(answers <= 150, `it got at most about its burst answered (${answers} of 2000)`);

    // 20 WebSockets from one IP, 100 messages each: the IP budget (200/s) is shared.
    const crowd: WebSocket[] = [];
    for (let i = 0; i < 20; i++) {
      const ws = new WebSocket(EDGE_URL, 'sip', { localAddress: '127.0.0.9' });
      ws.on('error', () => undefined);
      await new Promise((r) => ws.once('open', r).once('error', r));
      crowd.push(ws);
    }
    let crowdAnswers = 0;
    const started = performance.now();
    for (const ws of crowd) ws.on('message', () => crowdAnswers++);
    for (let n = 0; n < 40; n++) {
      for (const ws of crowd) if (ws.readyState === WebSocket.OPEN) ws.send(wsRequest({ method: 'OPTIONS', uri: `sip:${DOMAIN}` }));
      await sleep(5);
    }
    await sleep(1500);
    const seconds = (performance.now() - started) / 1000;
    for (const ws of crowd) ws.terminate();
    t.ok(crowdAnswers <= 200 + 200 * seconds + 20, `20 connections of one IP got at most the IP's budget answered (${crowdAnswers} of 800 in ${seconds.toFixed(1)} s)`);
    const after = await edgeMetrics();
    const drops = promValue(after, 'sipflow_edge_refusals_total', { cause: 'rate-limit' }) - promValue(before, 'sipflow_edge_refusals_total', { cause: 'rate-limit' });
    t.ok(drops >= (800 - crowdAnswers) * 0.8, `the drops are counted as rate-limit refusals (+${drops})`);
    t.ok(promValue(after, 'sipflow_edge_flows_closed_total', { reason: 'flood' }) - promValue(before, 'sipflow_edge_flows_closed_total', { reason: 'flood' }) >= 1, 'and the closed flooder as a flood close');
  });
});

t.test('a frame over the size limit, whole or built from continuation frames, closes the connection and is counted', async (t) => {
  await duringLegit(t, 'the oversized frames', async () => {
    const before = await edgeMetrics();
    const open = async () => {
      const ws = new WebSocket(EDGE_URL, 'sip', { localAddress: '127.0.0.6' });
      ws.on('error', () => undefined);
      await new Promise((r) => ws.once('open', r));
      return { ws, closed: new Promise<number>((r) => ws.once('close', (code) => r(code))) };
    };
    const whole = await open();
    whole.ws.send(wsRequest({ method: 'OPTIONS', uri: `sip:${DOMAIN}`, extra: [`X-Pad: ${'a'.repeat(9000)}`] }));
    t.ok([1006, 1009].includes(await whole.closed), 'one 9 kB frame (limit 8 kB): closed');

    // RFC 6455 §5.4: a message may be fragmented; the limit applies to the whole message.
    const frag = await open();
    const msg = wsRequest({ method: 'OPTIONS', uri: `sip:${DOMAIN}`, extra: [`X-Pad: ${'b'.repeat(20_000)}`] });
    for (let off = 0; off < msg.length; off += 1000) frag.ws.send(msg.slice(off, off + 1000), { fin: off + 1000 >= msg.length });
    t.ok([1006, 1009].includes(await frag.closed), 'a 20 kB message in 1 kB continuation frames, each under the limit: closed');

    // Continuation frames that stay under the limit in total are a normal message.
    const small = await open();
    const ok = wsRequest({ method: 'OPTIONS', uri: `sip:${DOMAIN}`, callId: 'frag-ok' });
    let answered = false;
    small.ws.on('message', (d) => (answered ||= d.toString().includes('frag-ok')));
    for (let off = 0; off < ok.length; off += 100) small.ws.send(ok.slice(off, off + 100), { fin: off + 100 >= ok.length });
    t.ok(await until(() => answered, 5000), 'a small message in 100-byte fragments is reassembled and answered');
    small.ws.close();
    const after = await edgeMetrics();
    t.equal(promValue(after, 'sipflow_edge_refusals_total', { cause: 'oversize' }) - promValue(before, 'sipflow_edge_refusals_total', { cause: 'oversize' }), 2, 'both oversize closes counted');
  });
});

t.test('slow handshakes: an upgrade trickled one byte per 200 ms is cut off, and a WebSocket that never speaks is closed after the handshake timeout', async (t) => {
  await duringLegit(t, 'the slow handshakes', async () => {
    const request = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${PORTS.ws}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n`;
    const trickles = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const s = net.connect({ port: PORTS.ws, host: '127.0.0.1', localAddress: '127.0.0.6' });
        s.on('error', () => undefined);
        let sent = 0;
        let reply = '';
        s.on('data', (d) => (reply += d.toString()));
        const started = Date.now();
        const closedAt = new Promise<number>((r) => s.once('close', () => r(Date.now() - started)));
        const timer = setInterval(() => {
          if (sent < request.length && !s.destroyed) s.write(request[sent++]!);
        }, 200);
        const ms = await Promise.race([closedAt, sleep(30_000).then(() => -1)]);
        clearInterval(timer);
        s.destroy();
        return { ms, sent, reply };
      }),
    );
    const worst = Math.max(...trickles.map((x) => x.ms));
    t.ok(trickles.every((x) => x.ms > 0 && x.ms < 16_000), `all 20 trickled upgrades were closed by the edge within 16 s (worst ${worst} ms)`);
    t.ok(trickles.every((x) => x.sent < request.length && x.reply === ''), `before they completed (at most ${Math.max(...trickles.map((x) => x.sent))} of ${request.length} bytes) and without an upgrade`);

    const before = await edgeMetrics();
    const mute = new WebSocket(EDGE_URL, 'sip', { localAddress: '127.0.0.6' });
    mute.on('error', () => undefined);
    await new Promise((r) => mute.once('open', r));
    const started = Date.now();
    const code = await Promise.race([new Promise<number>((r) => mute.once('close', (c) => r(c))), sleep(8000).then(() => -1)]);
    t.not(code, -1, `an upgraded WebSocket that sends nothing is closed (${Date.now() - started} ms, handshake timeout 2000 ms)`);
    const after = await edgeMetrics();
    t.equal(promValue(after, 'sipflow_edge_flows_closed_total', { reason: 'handshake-timeout' }) - promValue(before, 'sipflow_edge_flows_closed_total', { reason: 'handshake-timeout' }), 1, 'counted as a handshake-timeout close');
  });
});

t.test('10,000 half-open connections (TCP connect, no upgrade) are all closed by the edge, which keeps serving and gives its sockets back', async (t) => {
  let peakFds = 0;
  let peakRss = 0;
  await duringLegit(t, 'the 10,000 half-open connections', async () => {
    const sockets: net.Socket[] = [];
    let closedByEdge = 0;
    const started = Date.now();
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 500 }, () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ port: PORTS.ws, host: '127.0.0.1', localAddress: '127.0.0.10' });
            s.on('error', () => undefined);
            s.once('connect', () => resolve());
            s.once('close', () => {
              closedByEdge++;
              resolve();
            });
            sockets.push(s);
          }),
        ),
      );
      peakFds = Math.max(peakFds, fdCount(edgePid));
    }
    const opened = Date.now() - started;
    peakRss = rssMb(edgePid);
    t.ok(sockets.length === 10_000, `10,000 connections opened in ${opened} ms (edge fds peaked at ${peakFds})`);
    const allClosed = await until(() => closedByEdge === 10_000, 25_000, 200);
    t.ok(allClosed, `the edge closed all of them on its own (${closedByEdge}) within ${Math.round((Date.now() - started) / 1000)} s`);
    for (const s of sockets) s.destroy();
  });
  t.ok(await until(() => fdCount(edgePid) <= baseline.edgeFds + 50, 10_000), `the edge's open descriptors are back near where they started (${fdCount(edgePid)} vs ${baseline.edgeFds})`);
  t.ok(peakRss < baseline.edge + 300, `edge memory during the attack stayed bounded (${peakRss.toFixed(0)} MB, baseline ${baseline.edge.toFixed(0)} MB)`);
});

t.test('SIPp at 2,000 calls a second (20,000 INVITEs) against the core: shed by the rate limit while another source keeps getting answers', async (t) => {
  await duringLegit(t, 'the SIPp flood', async () => {
    const before = await coreMetrics();
    const prober = await udpUaAt('127.0.0.12', 27130);
    t.teardown(() => prober.close());
    const sipp = SippProcess.start({ scenario: 'uac', local: { host: '127.0.0.11', port: 27120 }, controlPort: 27121, mediaPort: 27122, remote: CORE, service: 'nobody', calls: 20_000, rate: 2000, limit: 20_000, timeoutS: 25 });
    t.teardown(() => sipp.dispose());
    const probes: number[] = [];
    const deadline = Date.now() + 30_000;
    let done = false;
    void sipp.done.then(() => (done = true));
    while (!done && Date.now() < deadline) {
      const callId = newCallId('probe');
      prober.send(udpRequest({ host: '127.0.0.12', port: 27130 }, { method: 'OPTIONS', uri: `sip:${DOMAIN}`, callId }), CORE);
      probes.push(await prober.response(callId, 'OPTIONS', 200, 3000).then((r) => r.status, () => 0));
      await sleep(200);
    }
    const result = await sipp.done;
    const after = await coreMetrics();
    const shed = promValue(after, 'sipflow_core_rate_limited_total') - promValue(before, 'sipflow_core_rate_limited_total');
    t.ok(shed >= 10_000, `most of SIPp's INVITEs (and their retransmissions) were shed: +${shed} (${describeSipp(result).slice(0, 160)})`);
    t.ok(probes.length >= 10, `the prober asked ${probes.length} times during the flood`);
    t.same(probes.filter((s) => s !== 200), [], 'and the core answered it 200 every time');
  });
});

t.test('after all of it the nodes are still serving and their memory is bounded', async (t) => {
  await legit.stop();
  t.ok((await legit.cycle()).ok, 'one more register + call cycle succeeds');
  // Transactions the floods left (UDP: Timers H and J, 64 x T1 = 32 s) have to end first.
  // What stays: the edge's health probes (an OPTIONS each 500 ms, each server transaction held 32 s
  // by Timer J) keep about 64 alive. Anything the floods left would be on top of that.
  const drained = await until(async () => {
    const m = await coreMetrics();
    return promValue(m, 'sipflow_core_transactions', { type: 'client' }) === 0 && promValue(m, 'sipflow_core_transactions', { type: 'server' }) <= 80;
  }, 45_000, 1000);
  const left = await coreMetrics();
  t.ok(drained, `the core transaction table drained (client ${promValue(left, 'sipflow_core_transactions', { type: 'client' })}, server ${promValue(left, 'sipflow_core_transactions', { type: 'server' })})`);
  const end = {
    coreHeap: await liveHeapMb(core, PORTS.coreMetrics, 'sipflow_core_'),
    edgeHeap: await liveHeapMb(edge, PORTS.edgeMetrics, 'sipflow_edge_'),
    core: rssMb(corePid),
    edge: rssMb(edgePid),
  };
  t.ok(end.coreHeap < baseline.coreHeap + 30, `core live heap ${baseline.coreHeap.toFixed(0)} → ${end.coreHeap.toFixed(0)} MB (bound +30 MB)`);
  t.ok(end.edgeHeap < baseline.edgeHeap + 30, `edge live heap ${baseline.edgeHeap.toFixed(0)} → ${end.edgeHeap.toFixed(0)} MB (bound +30 MB)`);
  t.ok(end.core < 1024, `core RSS ${baseline.core.toFixed(0)} → ${end.core.toFixed(0)} MB (bound 1 GB: V8 keeps what it grew to)`);
  t.ok(end.edge < baseline.edge + 150, `edge RSS ${baseline.edge.toFixed(0)} → ${end.edge.toFixed(0)} MB (bound +150 MB)`);
  const summary = legit.summary();
  t.equal(summary.failed, 0, `the honest users: ${summary.total} cycles, none failed`);
});
