/**
 * The operator's window into an edge: /metrics (Prometheus text), /healthz (the process runs),
 * /readyz (it can do its job: at least one healthy core) and /status (JSON for people and the
 * cluster launcher). Plain node:http on its own address, never on the WebSocket port, so it stays
 * reachable when the WebSocket side is flooded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface StatusSource {
  ready(): boolean;
  status(): Record<string, unknown>;
}

export class StatusServer {
  readonly #server: http.Server;

  private constructor(server: http.Server) {
    this.#server = server;
  }

  static async listen(host: string, port: number, registry: Registry, source: StatusSource): Promise<StatusServer> {
    const server = http.createServer((req, res) => {
      void handle(req, res, registry, source);
    });
    // A scraper that connects and says nothing must not hold a socket for ever.
    server.requestTimeout = 5000;
    server.headersTimeout = 5000;
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new StatusServer(server);
  }

  get address(): { host: string; port: number } {
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, registry: Registry, source: StatusSource): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, 'text/plain', 'method not allowed\n');
    } else if (path === '/metrics') {
      reply(res, 200, registry.contentType, await registry.metrics());
    } else if (path === '/healthz') {
      reply(res, 200, 'text/plain', 'ok\n');
    } else if (path === '/readyz') {
      const ready = source.ready();
      reply(res, ready ? 200 : 503, 'text/plain', ready ? 'ready\n' : 'not ready: no healthy core\n');
    } else if (path === '/status') {
      reply(res, 200, 'application/json', JSON.stringify(source.status()) + '\n');
    } else {
      reply(res, 404, 'text/plain', 'not found\n');
    }
  } catch (err) {
    reply(res, 500, 'text/plain', `error: ${(err as Error).message}\n`);
  }
}

function reply(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
