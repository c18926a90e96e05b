/**
 * The floor's answering side: each request framed from a TCP stream is answered with
 * "SIP/2.0 200 OK" and the request's own header lines, writes of one event-loop turn batched as
 * sipflow's TcpConnection batches them. No SIP processing: what a TCP peer costs with nothing to do.
 * Used by floor-node.ts (a process of its own) and the core and edge harnesses (in process).
 *
 * Requests must have Content-Length 0 (the load generator's REGISTER): framing is the empty line.
 */
import net from 'node:net';

const STATUS = Buffer.from('SIP/2.0 200 OK\r\n', 'latin1');
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** "SIP/2.0 200 OK" followed by every header line of the request: enough for the load generator to match it. */
export function answerFor(request: Buffer): Buffer {
  const eol = request.indexOf('\r\n');
  return Buffer.concat([STATUS, request.subarray(eol + 2)]);
}

/** Writes of one event-loop turn leave in one writev (what sipflow's TcpConnection does). */
export function batchedWriter(socket: net.Socket): (data: Buffer) => void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  return (data) => {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    socket.write(data);
  };
}

/** Splits a TCP stream into Content-Length-0 messages. */
export function framer(onMessage: (message: Buffer) => void): (chunk: Buffer) => void {
  let held: Buffer | undefined;
  return (chunk) => {
    let buf = held ? Buffer.concat([held, chunk]) : chunk;
    for (;;) {
      const end = buf.indexOf(HEAD_END);
      if (end < 0) break;
      onMessage(buf.subarray(0, end + 4));
      buf = buf.subarray(end + 4);
    }
    held = buf.length > 0 ? Buffer.from(buf) : undefined;
  };
}

/** A TCP server answering every request on every connection; resolves once it listens. */
export async function listenAnswering(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const write = batchedWriter(socket);
    socket.on('data', framer((request) => write(answerFor(request))));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
