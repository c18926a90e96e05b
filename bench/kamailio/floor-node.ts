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
 *                                answer coming back sent to the flow its request came from.
 *   answer <tcpPort>             TCP; each framed request answered like `echo`, writes batched the same way.
 *
 * The roles themselves are in floor-ws.ts and floor-answer.ts (the in-process harnesses use them too).
 * Requests must have Content-Length 0 (the load generator's REGISTER): framing is the empty line.
 */
import { listenAnswering } from './floor-answer.js';
import { listenFloorEcho, listenFloorEdge } from './floor-ws.js';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const ready = (): void => {
  process.stdout.write('floor ready\n');
};

const [role, a, b] = process.argv.slice(2);
if (role === 'echo') {
  listenFloorEcho(Number(a)).then(ready, (err: Error) => fail(err.message));
} else if (role === 'edge') {
  listenFloorEdge(Number(a), { host: '127.0.0.1', port: Number(b) }, (err) => fail(`answer connection: ${err.message}`)).then(ready, (err: Error) =>
    fail(`floor edge: ${err.message}`),
  );
} else if (role === 'answer') {
  listenAnswering(Number(a)).then(ready, (err: Error) => fail(err.message));
} else {
  process.stderr.write('usage: floor-node echo <wsPort> | edge <wsPort> <answerPort> | answer <tcpPort>\n');
  process.exit(2);
}
