/**
 * One core node: UDP (and TCP) transports, the transaction layer, and the proxy/registrar on top,
 * plus the admin server. Owns everything it starts; `stop()` closes it all in reverse order.
 */
import { BlockList, isIPv6 } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import { silentLogger } from '../runtime/logger.js';
import { AdminServer } from '../runtime/admin-server.js';
import type { HostPort } from '../runtime/host-port.js';
import { UdpTransport } from '../sip/transport/udp-transport.js';
import { TcpTransport } from '../sip/transport/tcp-transport.js';
import { TransportSet } from '../sip/transport/transport-set.js';
import type { ReceivedFrom, TransportTarget } from '../sip/transport/transport.js';
import { TransactionLayer, type TimerSettings } from '../sip/transaction/index.js';
import { createResponse } from '../sip/message/factory.js';
import type { SipParseError } from '../sip/message/errors.js';
import type { PartialMessage } from '../sip/message/parser.js';
import type { SipRequest } from '../sip/message/model.js';
import type { LocationStore } from './location/location-store.js';
import { RegistrarService } from './registrar/registrar-service.js';
import { DEFAULT_REGISTRAR_POLICY, type RegistrarPolicy } from './registrar/registration.js';
import { TempGruuCodec } from './registrar/gruu.js';
import { Authorizer } from './auth/authorizer.js';
import { CoreMetrics } from './core-metrics.js';
import { HomeFlows } from './proxy/home-flows.js';
import { ProxyCore } from './proxy/proxy-core.js';
import { isSendable } from './proxy/request-validation.js';
import { RateLimiter } from './rate-limiter.js';
import { MediaAnchor } from './media/media-anchor.js';
import { RtpengineClient } from './media/rtpengine-client.js';
import { drainWhile, type DrainResult } from '../runtime/drain.js';

/**
 * One IP may send as much as this many sources (ip:port) together: room for a few phones behind
 * one NAT address, while an attacker spraying source ports from one host gets no more than that.
 */
const SOURCES_PER_IP = 4;

export interface CoreNodeOptions {
  udp: HostPort;
  tcp?: HostPort;
  /** Address other nodes and UAs reach this core at; default: the UDP address (127.0.0.1 for 0.0.0.0). */
  advertise?: HostPort;
  domain: string;
  aliases?: string[];
  auth: boolean;
  /** Digest algorithms offered, in order (default MD5 only: see core-options.ts). */
  authAlgorithms?: ('MD5' | 'SHA-256')[];
  secrets: string[];
  policy?: Partial<RegistrarPolicy>;
  metrics?: HostPort;
  adminToken?: string;
  rateLimit?: number;
  /** Sources (ip or ip:port) never rate limited: the cluster's own edges. */
  trustedSources?: string[];
  maxMessageBytes?: number;
  timers?: Partial<TimerSettings>;
  timerCMs?: number;
  version?: string;
  /** rtpengine ng addresses: browser ⇄ desk phone media is anchored there. */
  rtpengine?: HostPort[];
}

export class CoreNode {
  readonly metrics: CoreMetrics;
  readonly store: LocationStore;
  readonly #opts: CoreNodeOptions;
  readonly #log: Logger;
  #transports: TransportSet | undefined;
  #layer: TransactionLayer | undefined;
  #proxy: ProxyCore | undefined;
  #admin: AdminServer | undefined;
  #media: MediaAnchor | undefined;
  #homeFlows: HomeFlows | undefined;
  #limiter: RateLimiter;
  #ipLimiter: RateLimiter;
  #trusted: TrustedSources;
  #storeHealthy = true;
  /** Set by drain(): health pings get 503, readiness is off. */
  #draining = false;
  /** When the last message other than OPTIONS arrived (performance.now()), for drain(). */
  #lastMessageAt = 0;
  #storeProbe: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #listening: { udp: HostPort; tcp?: HostPort; metrics?: HostPort } | undefined;

  constructor(opts: CoreNodeOptions, deps: { store: LocationStore; log?: Logger; defaultMetrics?: boolean }) {
    this.#opts = opts;
    this.store = deps.store;
    this.#log = deps.log ?? silentLogger;
    this.metrics = new CoreMetrics({ defaultMetrics: deps.defaultMetrics ?? false });
    this.#limiter = new RateLimiter({ perSecond: opts.rateLimit ?? 500 });
    this.#ipLimiter = new RateLimiter({ perSecond: (opts.rateLimit ?? 500) * SOURCES_PER_IP });
    this.#trusted = new TrustedSources(opts.trustedSources ?? []);
  }

  get nodeId(): string {
    if (!this.#homeFlows) throw new Error('core not started');
    return this.#homeFlows.nodeId;
  }

  get address(): { udp: HostPort; tcp?: HostPort; metrics?: HostPort } {
    if (!this.#listening) throw new Error('core not started');
    return this.#listening;
  }

  get transactionCount(): { client: number; server: number } {
    return this.#layer?.size ?? { client: 0, server: 0 };
  }

  async start(): Promise<{ udp: HostPort; tcp?: HostPort; metrics?: HostPort }> {
    try {
      return await this.#start();
    } catch (err) {
      // Whatever was opened before the failure (sockets, timers) is closed again: a node that
      // cannot start must not linger holding its ports while its CLI reports the error.
      await this.stop();
      throw err;
    }
  }

  async #start(): Promise<{ udp: HostPort; tcp?: HostPort; metrics?: HostPort }> {
    const o = this.#opts;
    const log = this.#log;
    const parseLimits = { maxMessageBytes: o.maxMessageBytes ?? 65535 };
    const set = new TransportSet({
      onMessage: (message, source) => {
        // Health pings keep coming while draining (edges watch for the core to come back).
        if (message.kind === 'response' || message.method !== 'OPTIONS') this.#lastMessageAt = performance.now();
        if (!this.#admit(source)) return;
        if (message.kind === 'request' && this.#proxy!.receiveStateless(message, source)) return;
        this.#layer!.receive(message, source);
      },
      onParseError: (error, source, raw, extra) => this.#onParseError(error, source, raw, extra?.partial),
      onError: (err) => log.warn({ err }, 'transport error'),
    });
    this.#transports = set;
    const udp = await UdpTransport.bind({ host: o.udp.host, port: o.udp.port, parseLimits, validate: true, recvBufferSize: 4 << 20 });
    set.add(udp);
    let tcp: TcpTransport | undefined;
    if (o.tcp) {
      tcp = await TcpTransport.listen({ host: o.tcp.host, port: o.tcp.port, parseLimits, validate: true });
      set.add(tcp);
    }
    const udpAddr = { host: o.udp.host, port: udp.localPort };
    const advertise = o.advertise ?? { host: o.udp.host === '0.0.0.0' ? '127.0.0.1' : o.udp.host === '::' ? '::1' : o.udp.host, port: udp.localPort };
    const listening = [udpAddr, ...(tcp ? [{ host: o.tcp!.host, port: tcp.localPort }] : [])];
    const homeFlows = new HomeFlows(o.secrets, advertise, listening);
    this.#homeFlows = homeFlows;
    const tempGruus = new TempGruuCodec(o.secrets);
    const domains = new Set([o.domain, ...(o.aliases ?? [])].map((d) => d.toLowerCase()));
    // A domain name we serve, or this node's own address (desk phones often register to the IP).
    const isOurDomain = (host: string, port?: number) => domains.has(host.toLowerCase()) || homeFlows.isSelf(host.replace(/^\[|\]$/g, ''), port);
    const authorizer = o.auth
      ? new Authorizer({ realm: o.domain, secrets: o.secrets, nodeId: homeFlows.nodeId, store: this.store, algorithms: o.authAlgorithms ?? ['MD5'], onFailure: (reason) => this.metrics.authFailures.inc({ reason }) })
      : undefined;
    const registrar = new RegistrarService({
      store: this.store,
      policy: { ...DEFAULT_REGISTRAR_POLICY, ...o.policy },
      tempGruus,
      domain: o.domain,
      isOurDomain,
      authorizer,
      isTrustedPath: (entry) => homeFlows.isClusterPath(entry),
      onRegistration: (e) => {
        this.metrics.registrations.inc({ outcome: e.outcome });
        this.metrics.registerSeconds.observe(e.ms / 1000);
        if (e.outcome === 'store-unavailable') this.metrics.storeErrors.inc({ operation: 'register' });
      },
    });
    if (o.rtpengine?.length) {
      this.#media = new MediaAnchor(
        new RtpengineClient({ instances: o.rtpengine, onCommand: (command, outcome) => this.metrics.rtpengine.inc({ command, outcome }) }),
      );
    }
    const proxy = new ProxyCore({
      layer: () => this.#layer!,
      store: this.store,
      registrar,
      authorizer,
      homeFlows,
      tempGruus,
      domain: o.domain,
      isOurDomain,
      metrics: this.metrics,
      log,
      viaFor: (target: TransportTarget) =>
        target.protocol === 'tcp' && tcp
          ? { transport: 'TCP', host: advertise.host, port: tcp.localPort }
          : { transport: 'UDP', host: advertise.host, port: advertise.port },
      ...(o.timerCMs !== undefined ? { timerCMs: o.timerCMs } : {}),
      ...(this.#media ? { media: this.#media } : {}),
      unavailable: () => (this.#draining ? 'Shutting Down' : this.#storeHealthy ? undefined : 'Location Store Unreachable'),
      clientIp: (request, source) => this.#clientIp(request, source),
    });
    this.#proxy = proxy;
    this.#layer = new TransactionLayer({
      transport: set,
      user: proxy,
      ...(o.timers ? { timers: o.timers } : {}),
      observer: {
        onCreated: (tx) => this.metrics.transactionsCreated.inc({ type: tx.constructor.name }),
        onRetransmit: () => this.metrics.retransmissions.inc({ direction: 'sent' }),
        onAbsorb: () => this.metrics.retransmissions.inc({ direction: 'absorbed' }),
      },
    });
    this.metrics.transactionSource = () => this.transactionCount;

    let metricsAddr: HostPort | undefined;
    if (o.metrics) {
      this.#admin = new AdminServer({
        listen: o.metrics,
        registry: this.metrics.registry,
        ...(o.adminToken ? { token: o.adminToken } : {}),
        ready: async () => {
          if (this.#draining) return { ready: false, reason: 'draining' };
          try {
            await this.store.ping();
            return { ready: true };
          } catch (err) {
            return { ready: false, reason: `location store: ${(err as Error).message}` };
          }
        },
        status: () => this.status(),
      });
      metricsAddr = await this.#admin.start();
    }
    // Edges pick cores by OPTIONS: a core that cannot reach its store must say so (503) so they
    // move away from it, rather than answer 200 and then fail every REGISTER.
    const probe = async () => {
      try {
        await this.store.ping();
        if (!this.#storeHealthy) log.info('location store reachable again');
        this.#storeHealthy = true;
      } catch (err) {
        if (this.#storeHealthy) log.warn({ err: (err as Error).message }, 'location store unreachable: answering OPTIONS with 503');
        this.#storeHealthy = false;
      }
    };
    this.#storeProbe = setInterval(() => void probe(), 2000);
    this.#storeProbe.unref();
    this.#startedAt = Date.now();
    this.#listening = { udp: udpAddr, ...(tcp ? { tcp: { host: o.tcp!.host, port: tcp.localPort } } : {}), ...(metricsAddr ? { metrics: metricsAddr } : {}) };
    return this.#listening;
  }

  /** SIGHUP: new limits apply to the next message; flows, transactions and bindings are untouched. */
  reconfigure(change: { rateLimit?: number; trustedSources?: string[] }): void {
    if (change.rateLimit !== undefined) {
      this.#limiter = new RateLimiter({ perSecond: change.rateLimit });
      this.#ipLimiter = new RateLimiter({ perSecond: change.rateLimit * SOURCES_PER_IP });
    }
    if (change.trustedSources) this.#trusted = new TrustedSources(change.trustedSources);
  }

  async status(): Promise<Record<string, unknown>> {
    const ring = (this.store as { ringView?: () => unknown }).ringView?.();
    return {
      role: 'core',
      node: this.#homeFlows?.nodeId,
      version: this.#opts.version ?? 'dev',
      uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
      domain: this.#opts.domain,
      listening: this.#listening,
      transactions: this.transactionCount,
      inviteContexts: this.#proxy?.activeContexts ?? 0,
      draining: this.#draining,
      store: { kind: this.store.constructor.name, ...(ring ? { ring } : {}) },
    };
  }

  /**
   * Who sent a request, for counting failed authentications. A trusted peer (an edge) relays many
   * clients: the client is on the Via below the peer's, where the peer stamped the address it
   * really came from (RFC 3261 §18.2.1 `received`; an edge always stamps it, RFC 7118 §5.2).
   */
  #clientIp(request: SipRequest, source: ReceivedFrom): string {
    if (!this.#trusted.has(source.remoteAddress, `${source.remoteAddress}:${source.remotePort}`)) return source.remoteAddress;
    try {
      const client = request.vias[1];
      return client ? (client.params.get('received') ?? client.host) : source.remoteAddress;
    } catch {
      return source.remoteAddress;
    }
  }

  /**
   * Flood protection: a budget per source (ip:port), and one per IP of SOURCES_PER_IP sources'
   * worth, so spraying source ports buys an attacker little; trusted peers (edges) are exempt.
   */
  #admit(source: ReceivedFrom): boolean {
    const key = `${source.remoteAddress}:${source.remotePort}`;
    if (this.#trusted.has(source.remoteAddress, key)) return true;
    if (this.#limiter.take(key) && this.#ipLimiter.take(source.remoteAddress)) return true;
    this.metrics.rateLimited.inc();
    return false;
  }

  #onParseError(error: SipParseError, source: ReceivedFrom, _raw: Buffer, partial: PartialMessage | undefined): void {
    this.metrics.dropped.inc({ cause: `parse-${error.code.toLowerCase()}` });
    if (!this.#admit(source)) return;
    if (partial?.canReply && partial.request) {
      try {
        const r = createResponse(partial.request, 400, `Bad Request: ${error.message}`.replace(/[\r\n]/g, ' ').slice(0, 120), { toTag: true });
        if (!isSendable(r)) return;
        void this.#layer?.send(r, { protocol: source.protocol, host: source.remoteAddress, port: source.remotePort, ...(source.connectionId ? { connectionId: source.connectionId } : {}) }).catch(() => {});
      } catch {
        /* nothing can be built: dropped and counted above */
      }
    }
  }

  /**
   * SIGTERM: finish what is under way before stopping. Health pings get 503 "Shutting Down", so
   * edges stop picking this core (after their failure threshold) and /readyz says draining; what
   * still arrives is served as usual (bindings live in the shared store, so any core can take the
   * next request). Ends when no forwarded request waits for its answer (a call being set up here
   * would lose its 200: the callee's side answers to this core's Via) and nothing has arrived for
   * `quietMs`, at `timeoutMs`, or when `signal` aborts. Returns what was still under way then.
   */
  async drain(timeoutMs: number, opts: { quietMs?: number; signal?: AbortSignal } = {}): Promise<DrainResult> {
    this.#draining = true;
    const quietMs = opts.quietMs ?? 1000;
    return drainWhile(() => this.#proxy?.activeContexts ?? 0, timeoutMs, {
      quiet: () => performance.now() - this.#lastMessageAt >= quietMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.#storeProbe);
    this.#layer?.close();
    this.#media?.close();
    await this.#admin?.stop();
    await this.#transports?.close();
    this.#layer = undefined;
    this.#transports = undefined;
  }
}

/** Rate-limit exemptions: exact IPs, IP:port pairs and CIDR ranges. */
class TrustedSources {
  readonly #exact = new Set<string>();
  readonly #ranges = new BlockList();
  #hasRanges = false;

  constructor(entries: string[]) {
    for (const e of entries) {
      const cidr = /^(.+)\/(\d{1,3})$/.exec(e);
      if (cidr) {
        this.#ranges.addSubnet(cidr[1]!, Number(cidr[2]), isIPv6(cidr[1]!) ? 'ipv6' : 'ipv4');
        this.#hasRanges = true;
      } else this.#exact.add(e);
    }
  }

  has(ip: string, ipPort: string): boolean {
    if (this.#exact.has(ip) || this.#exact.has(ipPort)) return true;
    return this.#hasRanges && this.#ranges.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  }
}
