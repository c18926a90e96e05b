/**
 * Bad input against one in-process core: a flood from one source is shed by the per-source rate
 * limit while another source is still served; garbage, truncated and oversized datagrams are
 * dropped and counted by cause; SIPVicious (svmap, svwar) scans it without learning which users
 * exist. After each, the node still answers.
 *
 * Ports (127.0.0.1): core 23400; flooder 23410; a well-behaved phone 23411; a prober 23412;
 * svmap 23420, svwar 23421.
 */
import t, { type Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreNode, type CoreNodeOptions } from '../../../core/core-node.js';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import { addSubscriber } from '../../../core/subscribers.js';
import { udpUaAt } from '../../helpers/netns.js';
import { branch, type UdpUa } from '../../helpers/udp-ua.js';
import { sipText } from '../../helpers/sip-text.js';

const HOST = '127.0.0.1';
const DOMAIN = 'example.com';
const SECRET = 'flood-peer-test-secret-0123456789';
const PORT = { core: 23400, flooder: 23410, phone: 23411, prober: 23412, svmap: 23420, svwar: 23421 };

async function startCore(t: Test, opts: Partial<CoreNodeOptions> = {}, store = new MemoryLocationStore()) {
  const node = new CoreNode({ udp: { host: HOST, port: PORT.core }, domain: DOMAIN, auth: false, secrets: [SECRET], ...opts }, { store });
  const addr = (await node.start()).udp;
  t.teardown(() => node.stop());
  return { node, addr };
}

async function ua(t: Test, port: number): Promise<UdpUa> {
  const u = await udpUaAt(HOST, port);
  t.teardown(() => u.close());
  return u;
}

function options(u: UdpUa, cid: string): string {
  return sipText([
    `OPTIONS sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${u.port};branch=${branch()};rport`,
    'Max-Forwards: 70',
    `To: <sip:${DOMAIN}>`,
    `From: <sip:probe@${DOMAIN}>;tag=p${u.port}`,
    `Call-ID: ${cid}`,
    'CSeq: 1 OPTIONS',
  ]);
}

async function stillServes(t: Test, addr: { host: string; port: number }, cid: string): Promise<void> {
  const p = await udpUaAt(HOST, PORT.prober);
  try {
    p.send(options(p, cid), addr);
    t.equal((await p.response(cid, 'OPTIONS', 200, 3000)).status, 200, 'the node still answers OPTIONS');
  } finally {
    p.close();
  }
}

/** Sum of a counter's samples whose labels match `labels` (all of them when omitted). */
async function counter(node: CoreNode, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = node.metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x)).reduce((s, v) => s + v.value, 0);
}

t.test('a flood of 5,000 OPTIONS from one source is shed by the rate limit (200/s) while another source still registers', async (t) => {
  const { node, addr } = await startCore(t, { rateLimit: 200 });
  const flooder = await ua(t, PORT.flooder);
  const phone = await ua(t, PORT.phone);

  const started = performance.now();
  for (let i = 0; i < 5000; i++) flooder.send(options(flooder, `flood-${i}`), addr);
  // Meanwhile a phone refreshes its registration every 50 ms for one second.
  const statuses: number[] = [];
  for (let i = 1; i <= 20; i++) {
    phone.send(
      sipText([
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP ${HOST}:${PORT.phone};branch=${branch()};rport`,
        'Max-Forwards: 70',
        `To: <sip:good@${DOMAIN}>`,
        `From: <sip:good@${DOMAIN}>;tag=g`,
        'Call-ID: good-phone',
        `CSeq: ${i} REGISTER`,
        `Contact: <sip:good@${HOST}:${PORT.phone}>`,
        'Expires: 300',
      ]),
      addr,
    );
    const r = await phone.wait((m) => m.kind === 'response' && m.callId === 'good-phone' && m.cseq.seq === i, 2000, `answer to REGISTER ${i}`);
    statuses.push(r.kind === 'response' ? r.status : 0);
    await new Promise((res) => setTimeout(res, 50));
  }
  const elapsed = (performance.now() - started) / 1000;
  t.same(statuses, Array(20).fill(200), 'every REGISTER of the other source got 200 during the flood');

  const shed = await counter(node, 'sipflow_core_rate_limited_total');
  const answered = flooder.received.filter((m) => m.kind === 'response' && m.status === 200).length;
  // Bucket: 400 at once (burst = 2 x rate), then 200/s.
  t.ok(shed >= 4000, `most of the flood was shed: sipflow_core_rate_limited_total = ${shed}`);
  t.ok(answered <= 400 + 200 * elapsed + 20, `the flooder got at most its budget answered (${answered} in ${elapsed.toFixed(1)} s)`);
  t.ok(answered >= 300, `and its budget was served (${answered})`);
  await stillServes(t, addr, 'after-flood');
});

t.test('garbage, truncated and oversized datagrams are dropped and counted by cause; the node keeps serving', async (t) => {
  const { node, addr } = await startCore(t, { maxMessageBytes: 4096 });
  const bad = await ua(t, PORT.flooder);
  const head = (cl: number) => [
    `INVITE sip:x@${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${PORT.flooder};branch=${branch()};rport`,
    'Max-Forwards: 70',
    `To: <sip:x@${DOMAIN}>`,
    `From: <sip:y@${DOMAIN}>;tag=1`,
    'Call-ID: truncated-body',
    'CSeq: 1 INVITE',
    `Content-Length: ${cl}`,
  ];
  const datagrams: [string, Buffer][] = [
    ['text that is not SIP', Buffer.from('hello, is this SIP?\r\n\r\n')],
    ['binary junk', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03])],
    ['headers cut off before the blank line', Buffer.from(head(0).slice(0, 4).join('\r\n') + '\r\nTo: <sip:x@exa')],
    ['body shorter than Content-Length', Buffer.from(head(500).join('\r\n') + '\r\n\r\nv=0\r\n')],
    ['an OPTIONS larger than maxMessageBytes (4096)', Buffer.from(options(bad, 'too-big').replace('Max-Forwards: 70', `Max-Forwards: 70\r\nX-Padding: ${'x'.repeat(6000)}`))],
    ['a 60 kB datagram of one letter', Buffer.alloc(60_000, 0x41)],
  ];
  const before = await counter(node, 'sipflow_core_messages_dropped_total');
  for (const [, d] of datagrams) bad.sendRaw(d, addr);
  await stillServes(t, addr, 'after-garbage');
  const dropped = (await counter(node, 'sipflow_core_messages_dropped_total')) - before;
  t.equal(dropped, datagrams.length, `each of the ${datagrams.length} bad datagrams was dropped and counted once`);
  const text = await node.metrics.registry.getSingleMetricAsString('sipflow_core_messages_dropped_total');
  t.match(text, /cause="parse-too_large"\} 2/, 'two too large');
  t.match(text, /cause="parse-truncated"\} [2-9]/, 'truncated ones counted as such (with the binary junk, which has no header end either)');
  t.match(text, /cause="parse-bad_start_line"\} 1/, 'the text that is not SIP');
  const answer = bad.received.find((m) => m.kind === 'response' && m.callId === 'truncated-body');
  t.equal(answer?.kind === 'response' ? answer.status : undefined, 400, 'an INVITE whose body was cut short gets 400 (its headers were readable)');
  t.notOk(bad.received.some((m) => m.kind === 'response' && m.callId === 'too-big'), 'nothing is answered to the oversized message');
});

t.test('SIPVicious: svmap finds the core, svwar cannot tell which users exist, the core keeps serving', async (t) => {
  const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  t.ok(have('svmap') && have('svwar'), 'sipvicious is installed (apt-get install sipvicious; scripts/test.mjs installs it)');
  if (!have('svmap')) return;
  const store = new MemoryLocationStore();
  await addSubscriber(store, '101', DOMAIN, 'pw-101');
  await addSubscriber(store, '105', DOMAIN, 'pw-105');
  const { addr } = await startCore(t, { auth: true }, store);
  const home = mkdtempSync(join(tmpdir(), 'sipflow-sipvicious-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  // -x: our address, so the tools never probe the network for "their IP"; -b/-P: our socket.
  // Asynchronously: the core runs in this process and must keep answering meanwhile.
  const run = (cmd: string, args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(cmd, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, HOME: home } }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });

  const map = await run('svmap', ['-x', HOST, '-b', HOST, '-P', String(PORT.svmap), '-p', String(addr.port), HOST]);
  t.equal(map.status, 0, `svmap exits 0 ${map.stderr.slice(-300)}`);
  t.match(map.stdout, new RegExp(`${HOST}:${addr.port}`), 'svmap finds the core');

  const war = await run('svwar', ['-x', HOST, '-b', HOST, '-P', String(PORT.svwar), '-p', String(addr.port), '-e', '100-110', '-m', 'REGISTER', HOST]);
  const out = war.stdout + war.stderr;
  t.match(out, /replied with an authentication request for an unknown extension/, 'svwar sees the same challenge for unknown users as for real ones, and gives up');
  t.notMatch(out, /\|\s*10[15]\s*\|/, 'and does not list the provisioned users 101 and 105');
  await stillServes(t, addr, 'after-sipvicious');
});
