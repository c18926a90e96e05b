import t, { type Test } from 'tap';
import http from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultWebRoot, startWebServer, type WebServer } from '../../../deploy/cluster/web-server.js';

// Ports from this suite's range (24900-24909), never ephemeral ones.
const HOST = '127.0.0.1';

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, timeout: 3000, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function fakeDist(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sfweb-dist-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>softphone</title>');
  writeFileSync(join(dir, 'app.js'), 'console.log("app")');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'style.css'), 'body{}');
  return dir;
}

async function statusServer(port: number, body: unknown): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    if (req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => s.listen(port, HOST, () => r()));
  return s;
}

async function start(t: Test, root: string, port: number): Promise<WebServer> {
  const web = await startWebServer({
    host: HOST,
    port,
    root,
    domain: 'sipflow.test',
    edges: ['ws://127.0.0.1:8081', 'ws://127.0.0.1:8082'],
    nodes: [
      { name: 'core-1', role: 'core', address: 'udp:127.0.0.1:5060', status: `http://${HOST}:24902/status` },
      { name: 'edge-1', role: 'edge', address: 'ws://127.0.0.1:8081', status: `http://${HOST}:24903/status` },
      { name: 'rtpengine', role: 'rtpengine', address: 'ng:127.0.0.1:22222' },
      { name: 'cassandra-1', role: 'cassandra', address: '127.0.0.2:9042' },
    ],
    statusTimeoutMs: 500,
  });
  t.teardown(() => web.close());
  return web;
}

t.test('it serves the built pages, with content types, and / as index.html', async (t) => {
  const root = fakeDist();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const web = await start(t, root, 24900);
  t.equal(web.url, `http://${HOST}:24900/`);
  t.equal(web.missingDist, false);
  const index = await get(web.url);
  t.equal(index.status, 200);
  t.match(index.type, /^text\/html/);
  t.match(index.body, /softphone/);
  const js = await get(`${web.url}app.js`);
  t.match(js.type, /^text\/javascript/);
  t.equal((await get(`${web.url}sub/style.css`)).type, 'text/css; charset=utf-8');
  t.equal((await get(`${web.url}nothing.js`)).status, 404);
  t.equal((await get(`${web.url}app.js`, 'POST')).status, 405, 'read-only');
});

t.test('a path that climbs out of web-demo/dist is refused', async (t) => {
  const root = fakeDist();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const web = await start(t, root, 24900);
  const r = await get(`${web.url}%2e%2e%2f%2e%2e%2fetc%2fpasswd`);
  t.equal(r.status, 403);
  t.notMatch(r.body, /root:/);
});

t.test('/config.json tells the pages the domain, the edges in order, and which nodes have a status', async (t) => {
  const root = fakeDist();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const web = await start(t, root, 24900);
  const r = await get(`${web.url}config.json`);
  t.equal(r.status, 200);
  const c = JSON.parse(r.body);
  t.equal(c.domain, 'sipflow.test');
  t.same(c.edges, ['ws://127.0.0.1:8081', 'ws://127.0.0.1:8082']);
  t.same(c.cores, [{ name: 'core-1', address: 'udp:127.0.0.1:5060', status: `http://${HOST}:24902/status` }]);
  t.same(c.cassandra, [{ name: 'cassandra-1', address: '127.0.0.2:9042' }]);
  t.same(c.nodes.map((n: { name: string; hasStatus: boolean }) => [n.name, n.hasStatus]), [['core-1', true], ['edge-1', true], ['rtpengine', false], ['cassandra-1', false]]);
});

t.test('/api/status proxies a known node, and only known nodes', async (t) => {
  const root = fakeDist();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const core = await statusServer(24902, { role: 'core', inviteContexts: 3 });
  t.teardown(() => new Promise<void>((r) => core.close(() => r())));
  const web = await start(t, root, 24900);
  const ok = await get(`${web.url}api/status?node=core-1`);
  t.equal(ok.status, 200);
  t.same(JSON.parse(ok.body), { role: 'core', inviteContexts: 3 });
  const unknown = await get(`${web.url}api/status?node=http://example.com/`);
  t.equal(unknown.status, 404, 'not an open proxy');
  t.same(JSON.parse(unknown.body).nodes, ['core-1', 'edge-1']);
  const down = await get(`${web.url}api/status?node=edge-1`);
  t.equal(down.status, 502, 'a node that does not answer is a 502 with the reason');
  t.match(JSON.parse(down.body).error, /^edge-1: /);
});

t.test('without web-demo/dist the pages say how to build it, and the API still works', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'sfweb-empty-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const web = await start(t, join(empty, 'dist'), 24901);
  t.equal(web.missingDist, true);
  const r = await get(web.url);
  t.equal(r.status, 503);
  t.match(r.body, /run npm run build:web/);
  t.equal((await get(`${web.url}config.json`)).status, 200);
});

t.test('the default root is web-demo/dist of this checkout', async (t) => {
  t.match(defaultWebRoot(), /[/\\]web-demo[/\\]dist$/);
});
