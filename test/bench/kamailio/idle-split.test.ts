/**
 * Idle flows past one process's `ulimit -n`: how the comparison splits them over load processes,
 * edges and Kamailio instances, the instances' own ports and config, and the memory goal checked at
 * every count of flows. The last test starts two real Kamailio instances side by side.
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flowsPerProcess, goals, idleSourceAddresses, idleSplit, kamailioShmMb, MAX_IDLE_SPLIT, type Row } from '../../../bench/kamailio/compare.js';
import { ensureKamailio, KAMAILIO_CFG, kamailioConfigFor, kamailioPorts, MAX_KAMAILIO_INSTANCES, PORTS, startKamailio } from '../../../bench/kamailio/servers.js';

t.test('flows per process leave room for the descriptors a process needs besides its flows', async (t) => {
  t.equal(flowsPerProcess(20_000), 19_000);
  t.equal(flowsPerProcess(1_048_576), 1_047_576);
  t.equal(flowsPerProcess(500), 1, 'never zero');
});

t.test('a count of flows one process can hold is not split; more goes over as many processes as needed', async (t) => {
  t.equal(idleSplit(10_000, 19_000), 1);
  t.equal(idleSplit(19_000, 19_000), 1, 'exactly one process worth');
  t.equal(idleSplit(19_001, 19_000), 2);
  t.equal(idleSplit(50_000, 19_000), 3, '50,000 under a hard limit of 20,000: three a side');
  t.equal(idleSplit(76_000, 19_000), 4);
  t.equal(idleSplit(76_001, 19_000), undefined, `past ${MAX_IDLE_SPLIT} processes it is skipped`);
  t.equal(idleSplit(5, 0), undefined, 'a nonsense share of zero does not divide by zero into a split');
});

t.test("Kamailio's shared memory grows with the flows one instance holds, never below the usual 1024 MB", async (t) => {
  t.equal(kamailioShmMb(10), 1024);
  t.equal(kamailioShmMb(10_000), 1024, '10,000 flows × 88 KiB = 859 MB fits the default');
  t.equal(kamailioShmMb(16_667), 1536, '50,000 over three instances: 1,432 MB, rounded up to 256 MB steps');
  t.equal(kamailioShmMb(50_000), 4352);
});

t.test('source addresses: at least three, and no more than 8,000 flows per address', async (t) => {
  t.same(idleSourceAddresses(10), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  t.same(idleSourceAddresses(10_000), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  const many = idleSourceAddresses(50_000);
  t.equal(many.length, 7);
  t.equal(many.at(-1), '127.0.0.7');
  t.ok(idleSourceAddresses(100_000).every((a) => /^127\.0\.0\.\d+$/.test(a)), 'loopback only');
});

t.test('every Kamailio instance has ports of its own, apart from each other and from the other servers', async (t) => {
  t.same(kamailioPorts(0), { udp: PORTS.kamailio.udp, ws: [...PORTS.kamailio.ws] }, 'the first is kamailio.cfg as written');
  const all = Array.from({ length: MAX_KAMAILIO_INSTANCES }, (_, i) => kamailioPorts(i)).flatMap((p) => [p.udp, ...p.ws]);
  const others = [PORTS.core, PORTS.core2, ...PORTS.edges.flatMap((e) => [e.ws, e.udp]), ...PORTS.loadgen];
  t.equal(new Set(all).size, all.length, 'no two instances share a port');
  t.same(all.filter((p) => others.includes(p)), [], 'none is an edge, core or load-generator port');
  t.throws(() => kamailioPorts(MAX_KAMAILIO_INSTANCES), /0 to/);
  t.throws(() => kamailioPorts(-1), /0 to/);
});

t.test("an instance's config is kamailio.cfg with only its listen lines moved", async (t) => {
  const cfg = readFileSync(KAMAILIO_CFG, 'utf8');
  const second = kamailioConfigFor(1, cfg);
  const p = kamailioPorts(1);
  t.match(second, `listen=udp:127.0.0.1:${p.udp}\n`);
  t.match(second, `listen=tcp:127.0.0.1:${p.ws[0]}\n`);
  t.match(second, `listen=tcp:127.0.0.1:${p.ws[1]}\n`);
  t.notMatch(second, /listen=\w+:127\.0\.0\.1:2609\d/, 'none of the first instance ports is left');
  const changed = cfg.split('\n').filter((l, i) => second.split('\n')[i] !== l);
  t.same(changed, ['listen=udp:127.0.0.1:26090', 'listen=tcp:127.0.0.1:26091', 'listen=tcp:127.0.0.1:26092'], 'nothing else changed');
  t.equal(kamailioConfigFor(0, cfg), cfg);
  t.throws(() => kamailioConfigFor(1, cfg.replace('listen=tcp:127.0.0.1:26092', 'listen=tcp:127.0.0.1:27000')), /lacks listen=tcp:127\.0\.0\.1:26092/);
});

t.test('the memory goal is checked at every count of flows measured, and says n/a when none was', async (t) => {
  const memory = (flows: number, sipflow: number, kamailio: number): Row => ({
    label: `Idle registered WS flows ×${flows}: memory per flow for the goal (larger of PSS and live heap)`,
    sipflow,
    kamailio,
    unit: 'KiB',
    better: 'lower',
  });
  const g = goals([memory(10_000, 2.3, 71.6), memory(50_000, 6, 71.4)]);
  const mem = g.filter((x) => x.goal.startsWith('memory per idle'));
  t.equal(mem.length, 2);
  t.match(mem[0]!.goal, /×10000 flows/);
  t.equal(mem[0]!.met, true, '2.3 vs 71.6 KiB is under 1/16');
  t.match(mem[1]!.goal, /×50000 flows/);
  t.equal(mem[1]!.met, false, '6 vs 71.4 KiB is over 1/16');
  const none = goals([]).filter((x) => x.goal.startsWith('memory per idle'));
  t.equal(none.length, 1);
  t.equal(none[0]!.met, undefined);
  t.equal(none[0]!.measured, 'n/a');
});

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

t.test('two real Kamailio instances run side by side on their own ports and stop by pid', async (t) => {
  ensureKamailio((line) => t.comment(line));
  const dir = mkdtempSync(join(tmpdir(), 'kamailio-instances-'));
  const set = await startKamailio({ logDir: dir, instances: 2, shmMb: 64 });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : set.stop()));
  const ports = [kamailioPorts(0), kamailioPorts(1)];
  t.same(set.ws.map((e) => e.port), ports.flatMap((p) => p.ws), 'four WebSocket listeners, two per instance');
  for (const p of ports.flatMap((x) => x.ws)) t.ok(await listening(p), `something listens on ${p}`);
  t.ok(set.pids.length >= 2 * 4, `both process trees counted (${set.pids.length} pids)`);
  await set.stop();
  stopped = true;
  const alive = set.pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  t.same(alive, [], 'every Kamailio process is gone');
  for (const p of ports.flatMap((x) => x.ws)) t.notOk(await listening(p), `${p} is free again`);
});
