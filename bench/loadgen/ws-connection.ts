/**
 * A SIP-over-WebSocket client connection as a browser opens it (RFC 7118 §4: subprotocol `sip`),
 * on a raw TCP socket with a hand-written RFC 6455 upgrade and framing. The `ws` package would do,
 * but in a benchmark whose client shares two cores with the servers, every microsecond the client
 * spends is taken from the server being measured: this keeps the client to one write per SIP
 * message and one frame scan per read.
 *
 * Client frames are masked with a fresh random key, as RFC 6455 §5.3 requires of clients; server
 * frames arrive unmasked. Pings are answered; a close frame closes the connection.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

export interface Endpoint {
  host: string;
  port: number;
}

export interface WsConnectOptions {
  /** Local address to connect from (spreads many connections over 127.0.0.x). */
  localAddress?: string;
  /** Give up on the TCP connect plus upgrade after this long. Default 10 s. */
  timeoutMs?: number;
  /** Path of the upgrade request. Default '/'. */
  path?: string;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** A SIP message above this is a bug in the server under test, not a load to carry. */
const MAX_FRAME = 1 << 20;

/** Masking keys are drawn from a pool refilled 16 KiB at a time: one randomBytes call per 4,096 frames. */
let keyPool = randomBytes(16384);
let keyAt = 0;
function nextMaskKey(): number {
  if (keyAt + 4 > keyPool.length) {
    keyPool = randomBytes(16384);
    keyAt = 0;
  }
  const k = keyPool.readUInt32BE(keyAt);
  keyAt += 4;
  return k;
}

/** One client frame: FIN, opcode, mask bit and key, masked payload, in one buffer (one write). */
export function encodeClientFrame(opcode: number, payload: Buffer | string): Buffer {
  const len = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const head = len < 126 ? 6 : len < 65536 ? 8 : 14;
  const out = Buffer.allocUnsafe(head + len);
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const key = nextMaskKey();
  out.writeUInt32BE(key >>> 0, head - 4);
  if (typeof payload === 'string') out.write(payload, head, 'utf8');
  else payload.copy(out, head);
  const k0 = (key >>> 24) & 0xff;
  const k1 = (key >>> 16) & 0xff;
  const k2 = (key >>> 8) & 0xff;
  const k3 = key & 0xff;
  let i = head;
  const end = head + len;
  for (; i + 3 < end; i += 4) {
    out[i] ^= k0;
    out[i + 1] ^= k1;
    out[i + 2] ^= k2;
    out[i + 3] ^= k3;
  }
  for (let j = 0; i < end; i++, j++) out[i] ^= j === 0 ? k0 : j === 1 ? k1 : k2;
  return out;
}

export type WsMessageHandler = (data: Buffer, conn: WsConnection) => void;

export class WsConnection {
  /** Set before traffic arrives; one handler for every message of this connection. */
  onMessage: WsMessageHandler = () => {};
  /** Called once when the connection ends for any reason after it opened. */
  onClose: (conn: WsConnection, reason: string) => void = () => {};
  /** Free slot for the owner (the UA using this connection). */
  owner: unknown;
  readonly #socket: net.Socket;
  #pending: Buffer | undefined;
  #fragments: Buffer[] | undefined;
  #closed = false;

  private constructor(socket: net.Socket, leftover: Buffer | undefined) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => this.#ended('socket closed'));
    socket.on('error', () => this.#ended('socket error'));
    if (leftover && leftover.length > 0) queueMicrotask(() => this.#onData(leftover));
  }

  /** TCP connect, upgrade to WebSocket with subprotocol `sip`, verify the server's answer. */
  static open(target: Endpoint, options: WsConnectOptions = {}): Promise<WsConnection> {
    const key = randomBytes(16).toString('base64');
    const expectAccept = createHash('sha1').update(key + GUID).digest('base64');
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
      socket.setNoDelay(true);
      let head: Buffer = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new Error(`WebSocket upgrade to ${target.host}:${target.port} timed out`)), options.timeoutMs ?? 10_000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => {});
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.once('close', () => fail(new Error('connection closed during the WebSocket upgrade')));
      socket.once('connect', () => {
        socket.write(
          `GET ${options.path ?? '/'} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\nOrigin: http://bench.invalid\r\n\r\n`,
        );
      });
      const onHead = (chunk: Buffer): void => {
        head = head.length ? Buffer.concat([head, chunk]) : chunk;
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 8192) fail(new Error('upgrade response too long'));
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
        if (status !== '101') return fail(new Error(`upgrade refused: ${text.split('\r\n')[0]}`));
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
        if (accept !== expectAccept) return fail(new Error('upgrade answer has a wrong Sec-WebSocket-Accept'));
        const proto = /\r\nsec-websocket-protocol:\s*([^\r]+)/i.exec(text)?.[1]?.trim();
        if (proto?.toLowerCase() !== 'sip') return fail(new Error(`server chose subprotocol ${proto ?? '(none)'}, not sip`));
        clearTimeout(timer);
        socket.removeAllListeners();
        resolve(new WsConnection(socket, head.subarray(end + 4)));
      };
      socket.on('data', onHead);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** One SIP message = one text frame (RFC 7118 §5.1). */
  send(message: string | Buffer): void {
    if (this.#closed) return;
    this.#socket.write(encodeClientFrame(OP_TEXT, message));
  }

  /** A clean close: close frame, then FIN. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.end(encodeClientFrame(OP_CLOSE, Buffer.from([0x03, 0xe8])));
  }

  /**
   * Abort with a TCP reset: no TIME_WAIT left behind, so thousands of idle flows can be torn
   * down and opened again from the same source addresses within one benchmark run.
   */
  reset(): void {
    this.#closed = true;
    this.#socket.removeAllListeners();
    this.#socket.on('error', () => {});
    this.#socket.resetAndDestroy();
  }

  #ended(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.onClose(this, reason);
  }

  #onData(chunk: Buffer): void {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    let at = 0;
    while (buf.length - at >= 2) {
      const b0 = buf[at]!;
      const b1 = buf[at + 1]!;
      let len = b1 & 0x7f;
      let off = at + 2;
      if (len === 126) {
        if (buf.length - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        off = at + 4;
      } else if (len === 127) {
        if (buf.length - at < 10) break;
        len = Number(buf.readBigUInt64BE(at + 2));
        off = at + 10;
      }
      if (len > MAX_FRAME) return this.#ended(`frame of ${len} bytes`);
      const masked = (b1 & 0x80) !== 0;
      const payloadAt = off + (masked ? 4 : 0);
      if (buf.length < payloadAt + len) break;
      let payload = buf.subarray(payloadAt, payloadAt + len);
      if (masked) {
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] ^= buf[off + (i & 3)]!;
      }
      at = payloadAt + len;
      this.#frame(b0 & 0x0f, (b0 & 0x80) !== 0, payload);
      if (this.#closed) return;
    }
    if (at < buf.length) this.#pending = at === 0 ? buf : Buffer.from(buf.subarray(at));
  }

  #frame(opcode: number, fin: boolean, payload: Buffer): void {
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (fin) this.onMessage(payload, this);
        else this.#fragments = [Buffer.from(payload)];
        return;
      case OP_CONTINUATION:
        if (!this.#fragments) return this.#ended('continuation frame without a start');
        this.#fragments.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.#fragments);
          this.#fragments = undefined;
          this.onMessage(whole, this);
        }
        return;
      case OP_PING:
        this.#socket.write(encodeClientFrame(OP_PONG, Buffer.from(payload)));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE:
        if (!this.#closed) this.#socket.end(encodeClientFrame(OP_CLOSE, Buffer.from(payload.subarray(0, 2))));
        return this.#ended('closed by the server');
      default:
        return this.#ended(`unknown opcode ${opcode}`);
    }
  }
}
