/**
 * The floor's WebSocket sides, on uWebSockets.js as sipflow's edges are: an echo (one hop, as
 * Kamailio) and an edge that hands each frame to a TCP answering server (bench/kamailio/
 * floor-answer.ts) and each answer back to the flow it belongs to. No SIP processing: what any
 * program on the same sockets must pay. Used by floor-node.ts (a process each, for the comparison)
 * and bench/edge/register-harness.ts (in process, next to a real EdgeNode).
 *
 * Requests must have Content-Length 0 (the load generator's REGISTER): framing is the empty line.
 */
import net from 'node:net';
import { uWS, type TemplatedApp, type us_listen_socket, type UwsWebSocket } from '../../edge/uws-runtime.js';
import { answerFor, batchedWriter, framer } from './floor-answer.js';

export interface FloorWs {
  /** The WebSocket port (the one asked for, or the one the system chose for 0). */
  port: number;
  close(): void;
}

async function listenWs(host: string, port: number, onFrame: (ws: UwsWebSocket<unknown>, frame: Buffer) => void): Promise<{ app: TemplatedApp; listenSocket: us_listen_socket; port: number }> {
  const app = uWS.App();
  app.ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 65535,
    idleTimeout: 0,
    upgrade: (res, req, context) => {
      res.upgrade({}, req.getHeader('sec-websocket-key'), 'sip', req.getHeader('sec-websocket-extensions'), context);
    },
    message: (ws, message) => onFrame(ws, Buffer.from(new Uint8Array(message))),
  });
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, port, (ls) => (ls ? resolve(ls) : reject(new Error(`floor: cannot listen on ${host}:${port} (in use?)`))));
  });
  return { app, listenSocket, port: uWS.us_socket_local_port(listenSocket as never) };
}

function closeWs(app: TemplatedApp, listenSocket: us_listen_socket): void {
  uWS.us_listen_socket_close(listenSocket);
  // Open WebSockets would keep the process (and a harness's round) alive; `close()` exists in this
  // uWS build but not in its types.
  (app as TemplatedApp & { close?: () => void }).close?.();
}

/** Each frame answered at once with "SIP/2.0 200 OK" and the request's header lines. */
export async function listenFloorEcho(port: number, host = '127.0.0.1'): Promise<FloorWs> {
  const ws = await listenWs(host, port, (socket, frame) => {
    socket.send(answerFor(frame), false);
  });
  return { port: ws.port, close: () => closeWs(ws.app, ws.listenSocket) };
}

/**
 * Each frame written to one TCP connection to `answering` (writes of one event-loop turn in one
 * writev, as sipflow's edge does), each answer sent to the flow its request came from: answers come
 * back in order, so a FIFO is the whole routing table.
 */
export async function listenFloorEdge(
  port: number,
  answering: { host: string; port: number },
  onConnectionError: (err: Error) => void,
  host = '127.0.0.1',
): Promise<FloorWs> {
  const socket = net.connect(answering);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const write = batchedWriter(socket);
  const waiting: Array<UwsWebSocket<unknown> | undefined> = [];
  let head = 0;
  socket.on(
    'data',
    framer((answer) => {
      const ws = waiting[head];
      waiting[head++] = undefined;
      if (head > 4096 && head * 2 > waiting.length) {
        waiting.splice(0, head);
        head = 0;
      }
      // Outside a uWS callback: corked so the frame leaves in one syscall, as sipflow's flows send.
      ws?.cork(() => ws.send(answer, false));
    }),
  );
  let closing = false;
  socket.on('error', (err) => {
    if (!closing) onConnectionError(err);
  });
  const ws = await listenWs(host, port, (flow, frame) => {
    waiting.push(flow);
    write(frame);
  });
  return {
    port: ws.port,
    close: () => {
      closing = true;
      closeWs(ws.app, ws.listenSocket);
      socket.destroy();
    },
  };
}
