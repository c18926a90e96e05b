/**
 * The web demo's HTTP server: the built softphone and cluster pages (web-demo/dist), /config.json
 * telling the pages where the edges are, and /api/status?node=NAME, a proxy to each node's /status
 * so the cluster page reads every node from one origin (no CORS on the nodes' admin servers).
 *
 * The proxy only knows the nodes it was given: it is not an open relay to arbitrary URLs.
 */
import http from 'node:http';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface WebNode {
  name: string;
  role: 'core' | 'edge' | 'cassandra' | 'rtpengine';
  /** What the page shows: ws://..., udp:..., ip:port. */
  address: string;
  /** http://host:port/status, when the node serves one. */
  status?: string;
}

export interface WebServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  domain: string;
  /** WebSocket URLs of the edges, the softphone's failover order. */
  edges: string[];
  nodes: WebNode[];
  /** Defaults to web-demo/dist of this checkout. */
  root?: string;
  /** Per-node /status fetch limit, ms. */
  statusTimeoutMs?: number;
}

export interface WebServer {
  /** http://host:port/ */
  readonly url: string;
  readonly port: number;
  /** True when web-demo/dist was not built: pages answer 503 saying how to build them. */
  readonly missingDist: boolean;
  readonly root: string;
  close(): Promise<void>;
}

export const MISSING_DIST = 'web-demo/dist is missing: run npm run build:web (the softphone and cluster pages are built with esbuild)';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** web-demo/dist of this checkout, whether we run from sources (deploy/cluster) or from dist/deploy/cluster. */
export function defaultWebRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'web-demo'))) return join(dir, 'web-demo', 'dist');
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../web-demo/dist');
}

/** The public part of the cluster description the pages read. */
export function demoConfig(o: Pick<WebServerOptions, 'domain' | 'edges' | 'nodes'>): Record<string, unknown> {
  return {
    domain: o.domain,
    edges: o.edges,
    cores: o.nodes.filter((n) => n.role === 'core').map((n) => ({ name: n.name, address: n.address, ...(n.status ? { status: n.status } : {}) })),
    cassandra: o.nodes.filter((n) => n.role === 'cassandra').map((n) => ({ name: n.name, address: n.address })),
    nodes: o.nodes.map((n) => ({ name: n.name, role: n.role, address: n.address, hasStatus: !!n.status })),
  };
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const root = resolve(o.root ?? defaultWebRoot());
  const missingDist = !existsSync(join(root, 'index.html'));
  const configBody = JSON.stringify(demoConfig(o), null, 2) + '\n';
  const byName = new Map(o.nodes.filter((n) => n.status).map((n) => [n.name, n]));
  const timeout = o.statusTimeoutMs ?? 1500;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: Error) => send(res, 500, 'text/plain; charset=utf-8', `error: ${err.message}\n`));
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/config.json') return send(res, 200, TYPES['.json']!, configBody);
    if (url.pathname === '/api/status') {
      const name = url.searchParams.get('node') ?? '';
      const node = byName.get(name);
      if (!node) return send(res, 404, 'application/json', JSON.stringify({ error: `unknown node ${JSON.stringify(name)}`, nodes: [...byName.keys()] }) + '\n');
      const r = await fetchText(node.status!, timeout);
      if (!r.ok) return send(res, 502, 'application/json', JSON.stringify({ error: `${node.name}: ${r.error}` }) + '\n');
      return send(res, r.status === 200 ? 200 : 502, 'application/json', r.body);
    }
    if (missingDist) return send(res, 503, 'text/plain; charset=utf-8', `${MISSING_DIST}\n`);
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep)) return send(res, 403, 'text/plain; charset=utf-8', 'forbidden\n');
    if (!existsSync(file) || !statSync(file).isFile()) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port, o.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}/`,
    port,
    missingDist,
    root,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** GET with a hard time limit; the admin servers are on loopback, a slow one is a down one. */
function fetchText(url: string, timeoutMs: number): Promise<{ ok: true; status: number; body: string } | { ok: false; error: string }> {
  return new Promise((done) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1 << 20) req.destroy(new Error('status larger than 1 MiB'));
        else chunks.push(c);
      });
      res.on('end', () => done({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => done({ ok: false, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => done({ ok: false, error: err.message }));
  });
}
