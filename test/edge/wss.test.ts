import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNameAddr } from '../../sip/grammar/name-addr.js';
import { EdgeNode } from '../../edge/edge-node.js';
import { startEdge } from './fixtures/edge-fixture.js';
import { SipWsClient, invite, register } from './fixtures/sip-ws-client.js';

function selfSigned(t: { teardown(fn: () => void): void }): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-wss-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  return { certFile, keyFile };
}

t.test('WSS with a certificate and key file: REGISTER and INVITE over TLS, Record-Route says transport=wss', async (t) => {
  const pair = selfSigned(t);
  const fx = await startEdge(t, { wss: { host: '127.0.0.1', port: 0, ...pair } });
  t.ok(fx.addr.wss && fx.addr.wss.port > 0, 'wss listener up');
  const client = await SipWsClient.connect(`wss://127.0.0.1:${fx.addr.wss!.port}/`, { rejectUnauthorized: false });
  t.teardown(() => client.close());
  t.equal(client.ws.protocol, 'sip');
  client.send(register());
  const ok = await client.waitForSip(/^SIP\/2.0 200/);
  t.ok(ok.get('Path'));
  const reg = await fx.core.waitForRequest('REGISTER');
  const token = parseNameAddr(reg.values('Path')[0]!).uri.user!;
  const decoded = fx.codec.decode(token);
  t.equal(decoded.ok && decoded.ref.transport, 'wss', 'the token names a wss flow');

  client.send(invite({ callId: 'wss-call' }));
  const inv = await fx.core.waitForRequest('INVITE');
  const wsSide = inv.recordRoutes[1]!;
  t.equal(wsSide.uri.params.get('transport'), 'wss');
  t.equal(wsSide.uri.port, fx.addr.wss!.port, 'the WS-side Record-Route names the wss port');
  t.equal(fx.edge.flowCount, 1);
});

t.test('plain ws and wss side by side; an unreadable key file fails start with a clear error', async (t) => {
  const pair = selfSigned(t);
  const fx = await startEdge(t, { wss: { host: '127.0.0.1', port: 0, ...pair } });
  const plain = await fx.connect();
  plain.send(register());
  await plain.waitForSip(/^SIP\/2.0 200/);
  const bad = new EdgeNode({ ws: { host: '127.0.0.1', port: 0 }, wss: { host: '127.0.0.1', port: 0, certFile: pair.certFile, keyFile: '/nonexistent/key.pem' }, cores: [fx.core.address] });
  await t.rejects(bad.start(), /key file \/nonexistent\/key.pem/);
});
