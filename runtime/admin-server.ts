/**
 * The small HTTP server every node runs on its --metrics address: Prometheus metrics, liveness,
 * readiness and a JSON status document. It binds to loopback by default; bound anywhere else it
 * refuses to start without a bearer token, because /status reveals the cluster's shape.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { HostPort } from './host-port.js';

export interface AdminServerOptions {
  listen: HostPort;
  registry: Registry;
  /** Required when `listen.host` is not a loopback address. */
  token?: string;
  ready(): Promise<{ ready: boolean; reason?: string }>;
  status(): Promise<unknown> | unknown;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export class AdminServer {
  #server: Server | undefined;
  readonly #opts: AdminServerOptions;

  constructor(opts: AdminServerOptions) {
    if (!isLoopback(opts.listen.host) && !opts.token) {
      throw Object.assign(new Error(`metrics/status address ${opts.listen.host} is not loopback and no admin token is set`), {
        hint: 'set SIPFLOW_ADMIN_TOKEN in the environment, or bind --metrics to 127.0.0.1',
      });
    }
    this.#opts = opts;
  }

  async start(): Promise<HostPort> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${err.message}\n`);
      });
    });
    // A client that connects and says nothing (or trickles its request) must not hold a socket for ever.
    server.requestTimeout = 5000;
    server.headersTimeout = 5000;
    server.keepAliveTimeout = 5000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.listen.port, this.#opts.listen.host, () => resolve());
    });
    const addr = server.address();
    return { host: this.#opts.listen.host, port: typeof addr === 'object' && addr ? addr.port : this.#opts.listen.port };
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #authorized(req: IncomingMessage): boolean {
    const token = this.#opts.token;
    if (!token) return true;
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    const want = Buffer.from(token);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
    if (!this.#authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, 'text/plain', 'bearer token required\n');
    }
    switch (path) {
      case '/metrics':
        return send(res, 200, this.#opts.registry.contentType, await this.#opts.registry.metrics());
      case '/readyz': {
        const r = await this.#opts.ready();
        return send(res, r.ready ? 200 : 503, 'text/plain', r.ready ? 'ready\n' : `not ready: ${r.reason ?? 'unknown'}\n`);
      }
      case '/status':
        res.setHeader('access-control-allow-origin', '*');
        return send(res, 200, 'application/json', JSON.stringify(await this.#opts.status()));
      default:
        return send(res, 404, 'text/plain', 'not found\n');
    }
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
