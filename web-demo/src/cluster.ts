/**
 * The cluster page: every node's /status (through the web server's /api/status proxy) every 2 s,
 * the totals that matter for a demo, and the Cassandra ring the cores' driver sees.
 */
import { loadConfig, type DemoConfig, type NodeRef } from './config.js';
import { byDatacenter, ownership, ringArcs, tokenPosition, type RingHost } from './ring-geometry.js';

const POLL_MS = 2000;
const COLORS = ['#1769aa', '#1f8a4c', '#b7791f', '#8e44ad', '#c0392b', '#16a085', '#d35400', '#2c3e50'];

type Status = Record<string, unknown>;
interface Polled {
  node: NodeRef;
  status?: Status;
  error?: string;
}

const $ = (id: string): HTMLElement => document.getElementById(id)!;

async function fetchStatus(node: NodeRef): Promise<Polled> {
  if (!node.hasStatus) return { node };
  try {
    const res = await fetch(`/api/status?node=${encodeURIComponent(node.name)}`, { cache: 'no-store', signal: AbortSignal.timeout(1800) });
    if (!res.ok) return { node, error: `HTTP ${res.status}: ${(await res.text()).trim().slice(0, 120)}` };
    return { node, status: (await res.json()) as Status };
  } catch (err) {
    return { node, error: (err as Error).message };
  }
}

async function poll(config: DemoConfig): Promise<void> {
  const results = await Promise.all(config.nodes.map(fetchStatus));
  renderTotals(results);
  renderNodes($('edges'), results.filter((r) => r.node.role === 'edge'), edgeFacts);
  renderNodes($('cores'), results.filter((r) => r.node.role === 'core' || r.node.role === 'rtpengine'), coreFacts);
  renderStore(config, results.filter((r) => r.node.role === 'core'));
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function renderTotals(results: Polled[]): void {
  const edges = results.filter((r) => r.node.role === 'edge');
  const cores = results.filter((r) => r.node.role === 'core');
  const flows = edges.reduce((n, r) => n + num(r.status?.flowsOpen), 0);
  const calls = cores.reduce((n, r) => n + num(r.status?.inviteContexts), 0);
  const tx = cores.reduce((n, r) => {
    const t = r.status?.transactions as { client?: number; server?: number } | undefined;
    return n + num(t?.client) + num(t?.server);
  }, 0);
  const up = results.filter((r) => r.status).length;
  const polled = results.filter((r) => r.node.hasStatus).length;
  $('totals').innerHTML = '';
  for (const [label, value, id] of [
    ['browser flows (registered WebSockets)', flows, 'total-flows'],
    ['INVITEs in progress at the cores', calls, 'total-calls'],
    ['core transactions', tx, 'total-tx'],
    ['nodes answering', `${up}/${polled}`, 'total-up'],
  ] as const) {
    const d = document.createElement('div');
    d.innerHTML = `<b id="${id}"></b>`;
    d.querySelector('b')!.textContent = String(value);
    d.append(label);
    $('totals').append(d);
  }
}

function renderNodes(container: HTMLElement, results: Polled[], facts: (s: Status) => [string, string][]): void {
  container.innerHTML = '';
  for (const r of results) {
    const card = document.createElement('div');
    card.className = 'node';
    card.dataset.node = r.node.name;
    const state = !r.node.hasStatus ? 'n/a' : r.status ? String(r.status.state ?? 'up') : 'down';
    const h = document.createElement('h3');
    h.innerHTML = `<span></span><span class="badge"></span>`;
    h.children[0]!.textContent = r.node.name;
    const badge = h.children[1] as HTMLElement;
    badge.textContent = state;
    badge.dataset.state = state === 'running' || state === 'up' ? 'up' : state === 'n/a' ? '' : state === 'down' ? 'down' : 'degraded';
    card.append(h);
    const dl = document.createElement('dl');
    dl.className = 'facts';
    const rows: [string, string][] = [['address', r.node.address], ...(r.status ? facts(r.status) : r.error ? [['error', r.error] as [string, string]] : [])];
    for (const [k, v] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dl.append(dt, dd);
    }
    card.append(dl);
    container.append(card);
  }
}

function edgeFacts(s: Status): [string, string][] {
  const cores = (s.cores as { core: string; state: string }[] | undefined) ?? [];
  return [
    ['flows open', String(num(s.flowsOpen))],
    ['pending forwards', String(num(s.pendingForwardings))],
    ['cores seen', cores.map((c) => `${c.core} ${c.state}`).join(', ') || '–'],
    ['uptime', `${num(s.uptime)} s`],
    ['uWS', String(s.uws ?? '–')],
  ];
}

function coreFacts(s: Status): [string, string][] {
  const t = s.transactions as { client?: number; server?: number } | undefined;
  const store = s.store as { kind?: string } | undefined;
  return [
    ['node', String(s.node ?? '–')],
    ['INVITEs in progress', String(num(s.inviteContexts))],
    ['transactions', `${num(t?.server)} server / ${num(t?.client)} client`],
    ['store', String(store?.kind ?? '–')],
    ['uptime', `${num(s.uptimeSeconds ?? s.uptime)} s`],
  ];
}

function renderStore(config: DemoConfig, cores: Polled[]): void {
  const withRing = cores.find((r) => Array.isArray((r.status?.store as { ring?: unknown } | undefined)?.ring));
  const kind = cores.map((r) => (r.status?.store as { kind?: string } | undefined)?.kind).find(Boolean);
  $('store-kind').textContent = kind ? `${kind}${withRing ? ` · ring as seen by ${withRing.node.name}` : ''}` : '';
  const svg = $('ring');
  const legend = $('ring-legend');
  const hosts = ((withRing?.status?.store as { ring?: RingHost[] } | undefined)?.ring ?? []).filter((h) => Array.isArray(h.tokens));
  svg.innerHTML = '';
  legend.innerHTML = '';
  if (hosts.length === 0) {
    svg.innerHTML = `<circle r="120" fill="none" stroke="#c8d0d8" stroke-width="26" stroke-dasharray="6 6"/>
      <text text-anchor="middle" y="-6" font-size="13" fill="#6b7785">${kind === 'MemoryLocationStore' ? 'memory store' : 'no ring reported'}</text>
      <text text-anchor="middle" y="14" font-size="11" fill="#6b7785">${kind === 'MemoryLocationStore' ? 'no Cassandra in this cluster' : 'waiting for a core with Cassandra'}</text>`;
  } else {
    drawRing(svg, hosts);
    const dcs = byDatacenter(hosts);
    let i = 0;
    for (const [dc, members] of dcs) {
      const share = ownership(members);
      for (const h of members) {
        const li = document.createElement('li');
        li.innerHTML = `<span class="swatch"></span><span></span>`;
        (li.firstElementChild as HTMLElement).style.background = COLORS[i++ % COLORS.length]!;
        li.lastElementChild!.textContent = `${h.address} · ${dc}/${h.rack ?? '?'} · ${h.up === false ? 'DOWN' : 'up'} · ${h.tokens.length} token${h.tokens.length === 1 ? '' : 's'} · owns ${((share.get(h.address) ?? 0) * 100).toFixed(1)}% of ${dc}`;
        legend.append(li);
      }
    }
  }
  // Cassandra nodes the launcher started, with their state from the ring when a core reports it.
  const cass = $('cassandra');
  cass.innerHTML = '';
  for (const c of config.cassandra) {
    const host = hosts.find((h) => h.address.split(':')[0] === c.address.split(':')[0]);
    const d = document.createElement('div');
    d.className = 'node';
    d.innerHTML = `<h3><span></span><span class="badge"></span></h3><div class="muted"></div>`;
    d.querySelector('h3 span')!.textContent = c.name;
    const badge = d.querySelector('.badge') as HTMLElement;
    badge.textContent = host ? (host.up === false ? 'down' : 'up') : 'unknown';
    badge.dataset.state = host ? (host.up === false ? 'down' : 'up') : '';
    d.querySelector('.muted')!.textContent = c.address;
    cass.append(d);
  }
}

/** One concentric ring per datacenter (outermost first), each node's ranges in its colour. */
function drawRing(svg: HTMLElement, hosts: RingHost[]): void {
  const color = new Map(hosts.map((h, i) => [h.address, COLORS[i % COLORS.length]!]));
  const dcs = [...byDatacenter(hosts)];
  const width = Math.min(30, 90 / dcs.length - 6);
  const parts: string[] = [];
  dcs.forEach(([dc, members], k) => {
    const R = 150 - k * (width + 8);
    for (const a of ringArcs(members)) {
      const down = members.find((m) => m.address === a.owner)?.up === false;
      parts.push(`<path d="${donutSegment(a.start, a.end, R, R - width)}" fill="${color.get(a.owner)}" fill-opacity="${down ? 0.25 : 1}" stroke="#fff" stroke-width="0.8"><title>${a.owner} (${dc})</title></path>`);
    }
    // Each token as a tick at the outer edge of its ring: where the node's range ends.
    for (const h of members) for (const t of h.tokens) parts.push(tick(t, R, R - width));
    parts.push(`<text x="0" y="${-(R - width / 2) + 4}" text-anchor="middle" font-size="11" fill="#fff" font-weight="600">${dc}</text>`);
  });
  parts.push(`<text text-anchor="middle" y="-4" font-size="14" fill="#1d2733">${hosts.length} node${hosts.length === 1 ? '' : 's'}</text>`);
  parts.push(`<text text-anchor="middle" y="14" font-size="11" fill="#6b7785">${dcs.length} datacenter${dcs.length === 1 ? '' : 's'}</text>`);
  svg.innerHTML = parts.join('');
}

function tick(token: string, R: number, r: number): string {
  const f = tokenPosition(token);
  const t = 2 * Math.PI * f - Math.PI / 2;
  const at = (rad: number) => `${(rad * Math.cos(t)).toFixed(2)} ${(rad * Math.sin(t)).toFixed(2)}`;
  return `<path d="M ${at(r - 3)} L ${at(R + 3)}" stroke="#1d2733" stroke-width="1.5"/>`;
}

/** SVG path of a ring segment from fraction a to b (0 = top, clockwise). */
function donutSegment(a: number, b: number, R: number, r: number): string {
  const span = Math.min(b - a, 0.999999);
  const p = (f: number, rad: number) => {
    const t = 2 * Math.PI * f - Math.PI / 2;
    return `${(rad * Math.cos(t)).toFixed(2)} ${(rad * Math.sin(t)).toFixed(2)}`;
  };
  const large = span > 0.5 ? 1 : 0;
  const end = a + span;
  return `M ${p(a, R)} A ${R} ${R} 0 ${large} 1 ${p(end, R)} L ${p(end, r)} A ${r} ${r} 0 ${large} 0 ${p(a, r)} Z`;
}

async function main(): Promise<void> {
  const config = await loadConfig();
  const tick = async () => {
    try {
      await poll(config);
    } catch (err) {
      $('updated').textContent = `poll failed: ${(err as Error).message}`;
    }
    setTimeout(() => void tick(), POLL_MS);
  };
  await tick();
}

main().catch((err: Error) => {
  $('updated').textContent = `startup failed: ${err.message}`;
});
