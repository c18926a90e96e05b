/** The load generator's hand-written WebSocket client (RFC 6455) against the `ws` server. */
import t, { type Test } from 'tap';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeClientFrame, WsConnection } from '../../../bench/loadgen/ws-connection.js';

const HOST = '127.0.0.1';
const PORT = 26591;

function unmask(frame: Buffer): { fin: boolean; opcode: number; masked: boolean; payload: Buffer } {
  let len = frame[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    len = frame.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    len = Number(frame.readBigUInt64BE(2));
    at = 10;
  }
  const key = frame.subarray(at, at + 4);
  const payload = Buffer.from(frame.subarray(at + 4, at + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3]!;
  return { fin: (frame[0]! & 0x80) !== 0, opcode: frame[0]! & 0x0f, masked: (frame[1]! & 0x80) !== 0, payload };
}

t.test('RFC 6455 §5.3: client frames are masked, and unmasking gives the payload back at every length encoding', async (t) => {
  for (const size of [0, 1, 3, 125, 126, 1000, 65535, 65536]) {
    const text = 'x'.repeat(size);
    const f = unmask(encodeClientFrame(0x1, text));
    t.ok(f.fin && f.masked && f.opcode === 1, `FIN, mask bit, text opcode (${size} bytes)`);
    t.equal(f.payload.toString(), text, `payload of ${size} bytes survives masking`);
  }
  const a = encodeClientFrame(0x1, 'same');
  const b = encodeClientFrame(0x1, 'same');
  t.not(a.subarray(2, 6).toString('hex'), b.subarray(2, 6).toString('hex'), 'a fresh masking key per frame');
});

async function server(t: Test, protocol: string | false, onConnection: (ws: WebSocket) => void) {
  const wss = new WebSocketServer({ host: HOST, port: PORT, handleProtocols: () => protocol });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', onConnection);
  t.teardown(() => new Promise<void>((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => r());
  }));
}

t.test('RFC 7118 §4: the upgrade asks for subprotocol sip; messages go both ways; fragments are joined; pings answered', async (t) => {
  let pong = false;
  const received: string[] = [];
  await server(t, 'sip', (ws) => {
    ws.on('message', (d) => {
      received.push(String(d));
      ws.send('first half, ', { fin: false });
      ws.send('second half', { fin: true });
      ws.ping('are you there');
    });
    ws.on('pong', (d) => (pong = String(d) === 'are you there'));
  });
  const conn = await WsConnection.open({ host: HOST, port: PORT });
  t.teardown(() => conn.reset());
  const got = new Promise<string>((resolve) => (conn.onMessage = (d) => resolve(d.toString())));
  conn.send('OPTIONS sip:x SIP/2.0\r\n\r\n');
  t.equal(await got, 'first half, second half', 'a fragmented message arrives whole');
  t.same(received, ['OPTIONS sip:x SIP/2.0\r\n\r\n'], 'the server read the masked frame');
  const end = Date.now() + 2000;
  while (!pong && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  t.ok(pong, 'the ping was answered with its payload');
});

t.test('a server that does not choose the sip subprotocol is refused', async (t) => {
  await server(t, false, () => {});
  await t.rejects(WsConnection.open({ host: HOST, port: PORT }), /subprotocol/);
});
