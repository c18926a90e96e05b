/** SIGHUP on an edge: a new core list from the config file applies without dropping open flows. */
import t from 'tap';
import WebSocket from 'ws';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRole } from '../helpers/processes.js';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';

const SECRET = 'edge-sighup-test-secret-0123456789';

t.test('an edge pointed at a dead core becomes ready after SIGHUP names a live one; flows stay open', async (t) => {
  const core = new CoreNode({ udp: { host: '127.0.0.1', port: 25341 }, domain: 'example.com', auth: false, secrets: [SECRET] }, { store: new MemoryLocationStore() });
  await core.start();
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-edge-hup-'));
  const file = join(dir, 'sipflow.yaml');
  const config = (coreAddr: string) => `edge:\n  ws: 127.0.0.1:25345\n  udp: 127.0.0.1:25347\n  metrics: 127.0.0.1:25349\n  core: ${coreAddr}\n  secret: ${SECRET}\n  probeInterval: 200\n`;
  writeFileSync(file, config('127.0.0.1:25343'));
  const edge = await startRole(['--config', file, 'edge']);
  t.teardown(async () => {
    await edge.kill();
    await core.stop();
  });
  const readyz = async () => (await fetch('http://127.0.0.1:25349/readyz')).status;
  await new Promise((r) => setTimeout(r, 800));
  t.equal(await readyz(), 503, 'no healthy core yet');
  const ws = new WebSocket('ws://127.0.0.1:25345/', 'sip');
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let closed = false;
  ws.on('close', () => (closed = true));
  writeFileSync(file, config('127.0.0.1:25341'));
  edge.child.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (await readyz()) !== 200) await new Promise((r) => setTimeout(r, 100));
  t.equal(await readyz(), 200, 'ready once the new core answers OPTIONS');
  t.ok(edge.lines.some((l) => /configuration reloaded/.test(l)), 'reload logged');
  t.notOk(closed, 'the open WebSocket flow was not dropped');
  ws.close();
});
