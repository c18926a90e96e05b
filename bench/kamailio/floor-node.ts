/**
 * The transport floor: what the sockets alone cost per REGISTER on this machine, with no SIP
 * processing at all. One process per role, started like the sipflow nodes and measured the same
 * way, so the comparison can say how much of sipflow's CPU per REGISTER is above what any program
 * built on the same sockets must pay.
 *
 *   echo  <wsPort>               uWebSockets.js; each frame answered at once ("SIP/2.0 200 OK" and
 *                                the request's own header lines): one hop, like Kamailio's.
 *   edge  <wsPort> <answerPort>  uWebSockets.js; each frame written to one TCP connection (writes of
 *                                one event-loop turn in one writev, as sipflow's edge does), and each
 *                                answer coming back sent to the flow its request came from (answers
 *                                come back in order, so a FIFO is the whole routing table).
 *   answer <tcpPort>             TCP; each framed request answered like `echo`, writes batched the same way.
 *
 * Requests must have Content-Length 0 (the load generator's REGISTER): framing is the empty line.
 */
import net from 'node:net';
import { uWS, type UwsWebSocket } from '../../edge/uws-runtime.js';
import { answerFor, batchedWriter, framer, listenAnswering } from './floor-answer.js';

function listenWs(port: number, onFrame: (ws: UwsWebSocket<unknown>, frame: Buffer) => void): void {
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
  app.listen('127.0.0.1', port, (ls) => {
    if (!ls) {
      process.stderr.write(`cannot listen on ${port}\n`);
      process.exit(1);
    }
    process.stdout.write('floor ready\n');
  });
}

function echo(wsPort: number): void {
  listenWs(wsPort, (ws, frame) => {
    ws.send(answerFor(frame), false);
  });
}

function edge(wsPort: number, answerPort: number): void {
  const socket = net.connect({ host: '127.0.0.1', port: answerPort });
  socket.setNoDelay(true);
  const write = batchedWriter(socket);
  const waiting: Array<UwsWebSocket<unknown>> = [];
  let head = 0;
  socket.on(
    'data',
    framer((answer) => {
      const ws = waiting[head];
      waiting[head++] = undefined as never;
      if (head > 4096 && head * 2 > waiting.length) {
        waiting.splice(0, head);
        head = 0;
      }
      // Outside a uWS callback: corked so the frame leaves in one syscall, as sipflow's flows send.
      ws?.cork(() => ws.send(answer, false));
    }),
  );
  socket.once('connect', () => {
    listenWs(wsPort, (ws, frame) => {
      waiting.push(ws);
      write(frame);
    });
  });
  socket.on('error', (err) => {
    process.stderr.write(`answer connection: ${err.message}\n`);
    process.exit(1);
  });
}

function answer(tcpPort: number): void {
  void listenAnswering(tcpPort).then(() => process.stdout.write('floor ready\n'));
}

const [role, a, b] = process.argv.slice(2);
if (role === 'echo') echo(Number(a));
else if (role === 'edge') edge(Number(a), Number(b));
else if (role === 'answer') answer(Number(a));
else {
  process.stderr.write('usage: floor-node echo <wsPort> | edge <wsPort> <answerPort> | answer <tcpPort>\n');
  process.exit(2);
}
