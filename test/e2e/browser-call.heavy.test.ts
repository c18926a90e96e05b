/**
 * Two Chromium softphones registered through two different edges of a real `sipflow cluster`
 * (memory store), in a loopback-only network namespace: a call with audio both ways, hold and
 * resume by re-INVITE, hang-up from either side, and the cluster page showing it all.
 */
import t from 'tap';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { until } from '../helpers/browser.js';
import { mediaStats, SCREENSHOTS, snapshot, startWebCluster, text, type MediaView } from './fixtures/web-cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Audio is flowing into `page`: bytes keep arriving and the decoded level is above zero. */
async function audioFlowing(page: Page, who: string): Promise<MediaView> {
  const first = await until(`${who} receiving audio`, async () => {
    const s = await mediaStats(page);
    return s.bytesReceived > 1000 && s.audioLevel > 0 ? s : undefined;
  }, 10_000);
  await sleep(1000);
  const later = await mediaStats(page);
  if (later.bytesReceived <= first.bytesReceived) throw new Error(`${who}: bytesReceived stopped at ${later.bytesReceived}`);
  return later;
}

t.test('a call between two browsers on two edges', async (t) => {
  const c = await startWebCluster(t, { ns: 'sfweb1', base: 24100 });
  t.equal(c.edges.length, 2, 'the cluster runs two edges');

  const alice = await c.phone('alice', 0);
  const bob = await c.phone('bob', 1);

  await t.test('RFC 5626 / RFC 5627: each page registers over its own edge and learns a public GRUU', async (t) => {
    const a = await snapshot(alice);
    const b = await snapshot(bob);
    t.equal(a.edge, c.edges[0], 'alice holds her flow on edge 1');
    t.equal(b.edge, c.edges[1], 'bob holds his flow on edge 2');
    t.match(a.gruu, /^sip:alice@sipflow\.test;gr=urn:uuid:[0-9a-f-]{36}$/, 'alice pub-gruu');
    t.match(b.gruu, /^sip:bob@sipflow\.test;gr=urn:uuid:[0-9a-f-]{36}$/, 'bob pub-gruu');
    t.ok((a.flowTimer ?? 0) > 0, `the registrar sent a Flow-Timer (${a.flowTimer} s)`);
    t.equal(await text(alice, '#reg-state'), 'registered', 'the page says registered');
    t.match(await text(alice, '#gruu'), /;gr=urn:uuid:/, 'the page shows the GRUU');
    t.match(await text(bob, '#edge'), new RegExp(`${c.edges[1]!.replace(/[.:/]/g, '\\$&')} \\(edge 2 of 2\\)`), 'the page shows which edge holds the flow');
  });

  await t.test('the callee is offered the call and answers; audio flows both ways', async (t) => {
    await alice.fill('#target', 'bob');
    await alice.click('#call');
    await bob.waitForSelector('#incoming:not([hidden])', { timeout: 10_000 });
    t.match(await text(bob, '#incoming-from'), /sip:alice@sipflow\.test/, 'bob sees who calls');
    t.ok(await alice.isHidden('#incoming'), 'the caller gets no answer prompt');
    t.match(await text(alice, '#call-state'), /^(calling|ringing)$/, 'the caller sees the call going out');
    await bob.click('#answer');
    for (const [p, who] of [[alice, 'alice'], [bob, 'bob']] as const) {
      await until(`${who} established`, async () => (await text(p, '#call-state')) === 'established', 10_000);
    }
    const a = await audioFlowing(alice, 'alice');
    const b = await audioFlowing(bob, 'bob');
    t.ok(a.bytesReceived > 1000 && a.audioLevel > 0, `alice hears bob (bytesReceived ${a.bytesReceived}, audioLevel ${a.audioLevel.toFixed(3)})`);
    t.ok(b.bytesReceived > 1000 && b.audioLevel > 0, `bob hears alice (bytesReceived ${b.bytesReceived}, audioLevel ${b.audioLevel.toFixed(3)})`);
    t.equal(a.iceState, 'connected');
    t.equal(a.currentDirection, 'sendrecv');
    await until('the level meter to move', async () => Number(await text(alice, '#level-text')) > 0, 5000);
    t.match(await text(alice, '#duration'), /^\d+:\d\d$/, 'the call duration runs');
    await alice.screenshot({ path: join(SCREENSHOTS, 'softphone-call.png') });
  });

  await t.test('RFC 3264 §8.4: hold offers sendonly, the peer answers recvonly and stops sending; resume restores sendrecv', async (t) => {
    await alice.click('#hold');
    await until('alice on hold', async () => (await snapshot(alice)).call?.held === true, 10_000);
    await until('bob told he is held', async () => (await snapshot(bob)).call?.remoteHeld === true, 10_000);
    t.equal(await text(alice, '#hold'), 'Resume', 'the hold button turns into Resume');
    t.match(await text(alice, '#call-flags'), /on hold/);
    t.match(await text(bob, '#call-flags'), /held by peer/);
    const a1 = await mediaStats(alice);
    const b1 = await mediaStats(bob);
    t.equal(a1.currentDirection, 'sendonly', 'the holder negotiated sendonly');
    t.equal(b1.currentDirection, 'recvonly', 'the held side negotiated recvonly');
    await sleep(1500);
    const a2 = await mediaStats(alice);
    t.ok(a2.packetsReceived - a1.packetsReceived <= 5, `bob stopped sending to alice (${a2.packetsReceived - a1.packetsReceived} packets in 1.5 s)`);

    await alice.click('#hold');
    await until('alice resumed', async () => (await snapshot(alice)).call?.held === false, 10_000);
    await until('bob no longer held', async () => (await snapshot(bob)).call?.remoteHeld === false, 10_000);
    t.equal(await text(alice, '#hold'), 'Hold');
    t.equal((await mediaStats(alice)).currentDirection, 'sendrecv');
    t.equal((await mediaStats(bob)).currentDirection, 'sendrecv');
    const a3 = await audioFlowing(alice, 'alice after resume');
    t.ok(a3.packetsReceived > a2.packetsReceived + 10, 'media to alice flows again');
    await audioFlowing(bob, 'bob after resume');
  });

  await t.test('the callee hangs up: both pages show the call ended', async (t) => {
    await bob.click('#hangup');
    for (const p of [alice, bob]) await until('call ended', async () => (await text(p, '#call-state')) === 'ended', 10_000);
    t.equal(await text(alice, '#end-reason'), 'the other side hung up');
    t.equal(await text(bob, '#end-reason'), 'hung up here');
    t.ok(await alice.isDisabled('#hangup'), 'nothing left to hang up');
    t.ok(await alice.isEnabled('#call'), 'alice can call again');
  });

  await t.test('the caller hangs up a second call: both pages show the call ended', async (t) => {
    await bob.fill('#target', 'alice');
    await bob.click('#call');
    await alice.waitForSelector('#incoming:not([hidden])', { timeout: 10_000 });
    await alice.click('#answer');
    for (const p of [alice, bob]) await until('established', async () => (await text(p, '#call-state')) === 'established', 10_000);
    await audioFlowing(bob, 'bob');
    await bob.click('#hangup');
    for (const p of [alice, bob]) await until('call ended', async () => (await text(p, '#call-state')) === 'ended', 10_000);
    t.equal(await text(alice, '#end-reason'), 'the other side hung up');
    t.equal(await text(bob, '#end-reason'), 'hung up here');
    t.equal((await snapshot(alice)).call?.id, 2, 'a second call on the same page');
  });

  await t.test('RFC 3515 blind transfer: the transferee calls the REFER target and the transferor leaves', async (t) => {
    const carol = await c.phone('carol', 0);
    await alice.fill('#target', 'bob');
    await alice.click('#call');
    await bob.waitForSelector('#incoming:not([hidden])', { timeout: 10_000 });
    await bob.click('#answer');
    for (const p of [alice, bob]) await until('established', async () => (await text(p, '#call-state')) === 'established', 10_000);
    await alice.fill('#transfer-target', 'carol');
    await alice.click('#transfer');
    await carol.waitForSelector('#incoming:not([hidden])', { timeout: 10_000 });
    t.match(await text(carol, '#incoming-from'), /sip:bob@sipflow\.test/, 'carol is called by bob, the transferee');
    await carol.click('#answer');
    for (const p of [bob, carol]) await until('established', async () => (await text(p, '#call-state')) === 'established', 10_000);
    const b = await audioFlowing(bob, 'bob');
    const k = await audioFlowing(carol, 'carol');
    t.ok(b.audioLevel > 0 && k.audioLevel > 0, 'bob and carol hear each other');
    t.equal(await text(alice, '#call-state'), 'ended', 'alice left the call');
    t.equal(await text(alice, '#end-reason'), 'transferred to sip:carol@sipflow.test');
    t.match(await text(bob, '#peer'), /sip:carol@sipflow\.test/, "bob's page now shows carol");
    await carol.click('#hangup');
    for (const p of [bob, carol]) await until('ended', async () => (await text(p, '#call-state')) === 'ended', 10_000);
    await carol.close();
  });

  await t.test('the cluster page shows every node, the flows per edge and the memory-store placeholder', async (t) => {
    const page = await c.browser.openPage(new URL('cluster.html', c.demoUrl).href, 'cluster');
    await until('the totals', async () => (await text(page, '#total-flows')) === '2', 10_000);
    t.equal(await text(page, '#total-up'), '4/4', 'two cores and two edges answer /status');
    for (const edge of ['edge-1', 'edge-2']) {
      const card = await text(page, `#edges [data-node="${edge}"]`);
      t.match(card, /flows open\s*1/, `${edge} holds one flow`);
    }
    t.match(await text(page, '#cores'), /MemoryLocationStore/, 'the cores report their store');
    t.match(await text(page, '#ring'), /memory store/, 'the ring placeholder says there is no Cassandra');
    await page.screenshot({ path: join(SCREENSHOTS, 'cluster.png'), fullPage: true });
  });
});
