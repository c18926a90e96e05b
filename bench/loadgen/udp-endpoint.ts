/** A UDP socket of the load generator: one bound port shared by many UAs (desk phones behind one host). */
import dgram from 'node:dgram';
import type { Endpoint } from './ws-connection.js';

export class UdpEndpoint {
  onMessage: (data: Buffer, endpoint: UdpEndpoint) => void = () => {};
  readonly #socket: dgram.Socket;
  readonly host: string;
  readonly port: number;

  private constructor(socket: dgram.Socket, host: string, port: number) {
    this.#socket = socket;
    this.host = host;
    this.port = port;
    socket.on('message', (msg) => this.onMessage(msg, this));
    socket.on('error', () => {});
  }

  static bind(host: string, port: number): Promise<UdpEndpoint> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        // A burst of answers must not be dropped by the client's own receive buffer: a loss here
        // would be charged to the server as a timeout. The kernel caps this at rmem_max.
        try {
          socket.setRecvBufferSize(8 << 20);
          socket.setSendBufferSize(4 << 20);
        } catch {
          // keep the default
        }
        resolve(new UdpEndpoint(socket, host, socket.address().port));
      });
    });
  }

  send(message: string, to: Endpoint): void {
    this.#socket.send(message, to.port, to.host);
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }
}
