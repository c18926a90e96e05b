/**
 * RFC 5626 flow recovery in the browser, against a real `sipflow cluster` with three edges:
 * the edge holding a softphone's flow crashes (SIGKILL), then the next one hangs (SIGSTOP). Each
 * time the page moves to the next edge of its list, registers again with the same instance id
 * and reg-id, and is reachable there for a new call.
 */
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import { until } from '../helpers/browser.js';
import { mediaStats, pingFlow, snapshot, startWebCluster, text, type PhoneView } from './fixtures/web-cluster.js';

t.test('edges fail under registered browsers', async (t) => {
  const c = await startWebCluster(t, { ns: 'sfweb2', base: 24300, edges: 3 });
  t.equal(c.edges.length, 3, 'three edges');
  const edgePid = (i: number) => c.nodes.find((n) => n.role === 'edge' && n.address === c.edges[i])?.pid;
  const alice = await c.phone('alice', 0);
  const bob = await c.phone('bob', 1);
  const first = await snapshot(bob);
  t.equal(first.edge, c.edges[1], 'bob starts on edge 2');
  t.equal((await snapshot(alice)).edge, c.edges[0], 'alice is on edge 1');

  await t.test('RFC 5626 §4.5: when the WebSocket drops, the page registers again through the next edge', async (t) => {
    const pid = edgePid(1);
    t.ok(pid, `edge 2 runs as pid ${pid}`);
    process.kill(pid!, 'SIGKILL');
    const after = await movedOff(bob, c.edges[1]!, 20_000);
    t.equal(after.edge, c.edges[2], 'bob now holds his flow on edge 3, the next in his list');
    t.equal(after.recoveries, 1, 'the page counted one recovery');
    t.equal(after.gruu, first.gruu, 'same instance id, so the same public GRUU');
    t.match(await text(bob, '#edge'), /\(edge 3 of 3\)/, 'the page shows the new edge');
    t.equal(await text(bob, '#reg-state'), 'registered');
    const a = await snapshot(alice);
    t.equal(a.registration, 'registered', 'alice, on a surviving edge, was not disturbed');
    t.equal(a.recoveries, 0);
  });

  await t.test('the re-registered page receives a new call over its new flow, with audio', async (t) => {
    await call(t, alice, bob);
  });

  await t.test('RFC 5626 §4.4.1: an edge that stops answering CRLF pings is a failed flow; the page moves on', async (t) => {
    const pid = edgePid(2);
    t.ok(pid, `edge 3 runs as pid ${pid}`);
    t.type(await pingFlow(bob), 'number', 'a healthy edge answers the ping');
    process.kill(pid!, 'SIGSTOP');
    t.teardown(() => {
      try {
        process.kill(pid!, 'SIGCONT');
      } catch {
        /* gone */
      }
    });
    const started = Date.now();
    const ping = await pingFlow(bob);
    t.match(String(ping), /flow closed before the pong/, 'the ping is never answered');
    const after = await movedOff(bob, c.edges[2]!, 20_000);
    const took = Date.now() - started;
    t.ok(took >= 9_000 && took < 16_000, `detected after the 10 s pong timeout (${took} ms)`);
    t.equal(after.edge, c.edges[0], 'bob moved on to edge 1, the next after edge 3 in his list');
    t.equal(after.recoveries, 2);
    process.kill(pid!, 'SIGCONT');
  });

  await t.test('after two moves the binding still points at the live flow: a call reaches the page', async (t) => {
    await call(t, alice, bob);
  });

  await t.test('the cluster page shows the dead edge down and both flows on edge 1', async (t) => {
    const page = await c.browser.openPage(new URL('cluster.html', c.demoUrl).href, 'cluster');
    await until('status of every node', async () => (await text(page, '#total-up')) === '4/5', 10_000);
    t.match(await text(page, '#edges [data-node="edge-2"]'), /down/, 'edge 2 (killed) is shown down');
    t.match(await text(page, '#edges [data-node="edge-1"]'), /flows open\s*2/, 'edge 1 holds both flows');
  });
});

async function movedOff(page: Page, edge: string, timeoutMs: number): Promise<PhoneView> {
  return until(`registered again on an edge other than ${edge}`, async () => {
    const s = await snapshot(page);
    return s.registration === 'registered' && s.edge !== edge ? s : undefined;
  }, timeoutMs, 100);
}

async function call(t: Test, from: Page, to: Page): Promise<void> {
  await from.fill('#target', 'bob');
  await from.click('#call');
  await to.waitForSelector('#incoming:not([hidden])', { timeout: 10_000 });
  await to.click('#answer');
  for (const p of [from, to]) await until('established', async () => (await text(p, '#call-state')) === 'established', 10_000);
  const s = await until('audio at the re-registered page', async () => {
    const m = await mediaStats(to);
    return m.bytesReceived > 1000 && m.audioLevel > 0 ? m : undefined;
  }, 10_000);
  t.ok(s.bytesReceived > 1000, `bob receives audio (${s.bytesReceived} bytes, audioLevel ${s.audioLevel.toFixed(3)})`);
  await from.click('#hangup');
  for (const p of [from, to]) await until('ended', async () => (await text(p, '#call-state')) === 'ended', 10_000);
  t.equal(await text(to, '#end-reason'), 'the other side hung up');
}
