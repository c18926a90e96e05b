/**
 * The cheapest core that lets a benchmark register through an edge: a UDP socket answering
 * REGISTER (echoing Path and Contact) and OPTIONS with 200 OK, statelessly. Nothing else.
 */
import dgram from 'node:dgram';
import { createResponse } from '../../sip/message/factory.js';
import { parseMessage } from '../../sip/message/parser.js';

export class BenchCore {
  readonly #socket: dgram.Socket;
  registers = 0;

  private constructor(socket: dgram.Socket) {
    this.#socket = socket;
    socket.on('message', (data, rinfo) => {
      const r = parseMessage(data);
      if (!r.ok || r.message.kind !== 'request') return;
      const req = r.message;
      if (req.method !== 'REGISTER' && req.method !== 'OPTIONS') return;
      const headers: Array<[string, string]> = [];
      if (req.method === 'REGISTER') {
        this.registers++;
        for (const p of req.getAll('Path')) headers.push(['Path', p]);
        const contact = req.get('Contact');
        if (contact !== undefined) headers.push(['Contact', contact]);
      }
      socket.send(createResponse(req, 200, undefined, { toTag: true, headers }).toBuffer(), rinfo.port, rinfo.address);
    });
  }

  static async start(host = '127.0.0.1'): Promise<BenchCore> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    socket.setRecvBufferSize(4 * 1024 * 1024);
    return new BenchCore(socket);
  }

  get address(): { host: string; port: number } {
    const a = this.#socket.address();
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}
