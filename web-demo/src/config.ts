/** What the web server's /config.json says about the cluster; shared by both pages. */
export interface DemoConfig {
  domain: string;
  /** WebSocket URLs of the edges, in order: the softphone's failover list. */
  edges: string[];
  /** Every node the cluster page shows; `status` is proxied by the server at /api/status?node=NAME. */
  nodes: NodeRef[];
  cores: { name: string; status: string }[];
  cassandra: { name: string; address: string }[];
}

export interface NodeRef {
  name: string;
  role: 'core' | 'edge' | 'cassandra' | 'rtpengine';
  address: string;
  /** True when /api/status?node=NAME answers for it. */
  hasStatus: boolean;
}

export async function loadConfig(): Promise<DemoConfig> {
  const res = await fetch('/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`/config.json: HTTP ${res.status}`);
  const c = (await res.json()) as Partial<DemoConfig>;
  if (typeof c.domain !== 'string' || !Array.isArray(c.edges)) throw new Error('/config.json lacks domain or edges');
  return { domain: c.domain, edges: c.edges, nodes: c.nodes ?? [], cores: c.cores ?? [], cassandra: c.cassandra ?? [] };
}
