/**
 * An edge node: browsers' WebSockets on one side, the cores over UDP or TCP on the other, and nothing
 * stored in between but open connections (edges keep no registration state: a Path or
 * Record-Route flow token carries everything needed to find a browser again).
 *
 * Ownership is a tree: the node owns the listeners, the flow table, the core-side transports, the proxy
 * (and its transaction layer), the core pool and the status server; stop() closes them leaves-first.
 */
import { promises as dns } from 'node:dns';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { Logger } from 'pino';
import { silentLogger } from '../runtime/logger.js';
import { AdminServer } from '../runtime/admin-server.js';
import { isAscii } from 'node:buffer';
import { completeLimits, parseMessage, type ParseLimits } from '../sip/message/parser.js';
import type { Request } from '../sip/message/message.js';
import { systemClock } from '../sip/transaction/timers.js';
import type { SipMessage } from '../sip/message/model.js';
import { FlowTokenCodec } from '../sip/outbound/flow-token.js';
import { TcpTransport } from '../sip/transport/tcp-transport.js';
import type { ReceivedFrom } from '../sip/transport/transport.js';
import { UdpTransport } from '../sip/transport/udp-transport.js';
import type { CoreHealth } from './core-health.js';
import { CorePool } from './core-pool.js';
import { optionsProbe } from './core-probe.js';
import { EdgeProxy } from './edge-proxy.js';
import { RegisterRelay } from './register-relay.js';
import { EdgeSender } from './edge-sender.js';
import { DEV_SECRET, resolveEdgeOptions, type EdgeNodeOptions, type ResolvedEdgeOptions } from './edge-options.js';
import { uriHost, type EdgeIdentity, type Endpoint } from './edge-uris.js';
import type { Flow } from './flow.js';
import { FlowTable } from './flow-table.js';
import { stampReceived } from './stamp-received.js';
import { EdgeMetrics, messageLabel, type CloseReason } from './metrics.js';
import { uwsRuntime, type UwsRuntime } from './uws-runtime.js';
import { WsListener, type WsListenerDelegate } from './ws-listener.js';
import { drainWhile, type DrainResult } from '../runtime/drain.js';

export type { EdgeNodeOptions } from './edge-options.js';

export interface EdgeAddresses {
  ws: Endpoint;
  wss?: Endpoint;
  udp: Endpoint;
  /** The core-facing TCP listener (same port as udp), when coreTransport is tcp. */
  tcp?: Endpoint;
  metrics?: Endpoint;
}

export class EdgeNode {
  readonly metrics: EdgeMetrics;
  readonly #o: ResolvedEdgeOptions;
  readonly #log: Logger;
  readonly #version: string;
  readonly #runtime: UwsRuntime = uwsRuntime();
  #state: 'new' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped' = 'new';
  #startedAt = 0;
  #udp: UdpTransport | undefined;
  #tcp: TcpTransport | undefined;
  #flows: FlowTable | undefined;
  #proxy: EdgeProxy | undefined;
  /** REGISTER straight to the cores when they are reached over TCP (register-relay.ts). */
  #relay: RegisterRelay | undefined;
  #cores: CorePool | undefined;
  #listeners: WsListener[] = [];
  #status: AdminServer | undefined;
  #identity: EdgeIdentity | undefined;
  #trusted = new Set<string>();
  /** A browser's frame is parsed with these: complete, so the parser takes them as they are. */
  readonly #frameLimits: ParseLimits;

  constructor(options: EdgeNodeOptions) {
    this.#o = resolveEdgeOptions(options);
    this.#frameLimits = completeLimits({ maxMessageBytes: this.#o.maxMessageSize });
    this.metrics = new EdgeMetrics({ defaultMetrics: options.defaultMetrics ?? false });
    this.#log = options.logger ?? silentLogger;
    this.#version = options.version ?? packageVersion();
  }

  /** Which uWebSockets.js implementation this process runs (the fallback is a pure-JS server). */
  get uws(): UwsRuntime {
    return this.#runtime;
  }

  /** The node id cores route on: the advertised core-facing UDP address. */
  get nodeId(): string {
    if (!this.#identity) throw new Error('edge not started');
    return endpointText(this.#identity.udp);
  }

  get flowCount(): number {
    return this.#flows?.size ?? 0;
  }

  /** The core pool (health states), for status and tests. */
  /**
   * SIGHUP: a new core list (resolved like at start) and new rate limits; open flows stay up.
   */
  async reconfigure(change: { cores?: Endpoint[]; peerCores?: Endpoint[]; ratePerFlow?: number; ratePerIp?: number }): Promise<void> {
    for (const c of change.peerCores ?? []) this.#trusted.add(await resolveIp(c.host));
    if (change.cores) {
      const cores: Endpoint[] = [];
      for (const c of change.cores) {
        const ip = await resolveIp(c.host);
        cores.push({ host: ip, port: c.port });
        this.#trusted.add(ip);
      }
      this.#cores?.setAddresses(cores);
      for (const core of this.#cores?.cores ?? []) this.metrics.coreUp.set({ core: core.id }, core.state === 'up' ? 1 : 0);
    }
    if (change.ratePerFlow !== undefined || change.ratePerIp !== undefined) this.#flows?.setRates(change.ratePerFlow, change.ratePerIp);
  }

  get cores(): CorePool | undefined {
    return this.#cores;
  }

  /** Live transactions (both sides), for tests that check nothing leaks. */
  get transactions(): { client: number; server: number } {
    return this.#proxy?.layer.size ?? { client: 0, server: 0 };
  }

  async start(): Promise<EdgeAddresses> {
    if (this.#state !== 'new') throw new Error(`cannot start an edge that is ${this.#state}`);
    this.#state = 'starting';
    try {
      return await this.#start();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async #start(): Promise<EdgeAddresses> {
    const o = this.#o;
    const log = this.#log;
    if (this.#runtime.implementation !== 'native') {
      log.warn({ module: this.#runtime.module }, 'uWebSockets.js runs its slow JavaScript fallback, not the native addon');
    }
    if (o.secrets.includes(DEV_SECRET)) {
      log.warn('NO CLUSTER SECRET CONFIGURED: flow tokens are signed with the public development secret; set --secret or SIPFLOW_SECRET');
    }

    // Cores by address: resolved once, so UDP sends and the trusted-source check compare IPs.
    const cores: Endpoint[] = [];
    for (const c of o.cores) {
      const ip = await resolveIp(c.host);
      cores.push({ host: ip, port: c.port });
      this.#trusted.add(ip);
    }
    for (const c of o.peerCores ?? []) this.#trusted.add(await resolveIp(c.host));

    const udp = await this.#bindCoreSide();
    this.#udp = udp;
    const identity: EdgeIdentity = { udp: { host: this.#advertised(o.udp.host), port: udp.localPort }, coreTransport: o.coreTransport };
    this.#identity = identity;
    const codec = new FlowTokenCodec(o.secrets, endpointText(identity.udp));

    this.#flows = new FlowTable(
      {
        maxFlowsPerIp: o.maxFlowsPerIp,
        handshakeTimeout: o.handshakeTimeout,
        maxBuffered: o.maxBuffered,
        ratePerFlow: o.ratePerFlow,
        ratePerIp: o.ratePerIp,
        sweepInterval: o.sweepInterval,
      },
      (flow, reason) => this.#flowClosed(flow, reason),
    );
    const sender = new EdgeSender(udp, this.#tcp, this.#flows, this.metrics);
    this.#cores = new CorePool(
      cores,
      { probeInterval: o.probeInterval, failureThreshold: o.failureThreshold },
      optionsProbe(() => this.#proxy!.layer, () => identity.udp, o.probeTimeout, o.coreTransport),
      (core, from) => this.#coreChanged(core, from),
    );
    for (const core of this.#cores.cores) this.metrics.coreUp.set({ core: core.id }, 0);
    this.#proxy = new EdgeProxy({
      sender,
      flows: this.#flows,
      cores: this.#cores,
      codec,
      identity,
      metrics: this.metrics,
      log,
      flowTimerGrace: o.flowTimerGrace,
      timers: o.timers,
      timerC: o.timerC,
    });
    if (o.coreTransport === 'tcp') {
      const proxy = this.#proxy;
      this.#relay = new RegisterRelay({
        sender,
        cores: this.#cores,
        identity,
        metrics: this.metrics,
        log,
        tokenFor: (flow) => proxy.tokenFor(flow),
        clock: systemClock,
        timerF: 64 * proxy.layer.timers.t1,
        flowTimerGrace: o.flowTimerGrace,
      });
    }
    udp.setHandler({
      onMessage: (message, source) => this.#fromCoreSide(message, source),
      onParseError: () => this.metrics.refuse('parse-error'),
      onError: (err) => log.warn({ err }, 'UDP transport error'),
    });
    const relay = this.#relay;
    this.#tcp?.setHandler({
      onFrame: relay ? (bytes) => relay.answer(bytes) : () => false,
      onMessage: (message, source) => this.#fromCoreSide(message, source),
      onParseError: () => this.metrics.refuse('parse-error'),
      onError: (err) => log.warn({ err }, 'TCP transport error'),
    });

    const delegate: WsListenerDelegate = {
      onFlowOpen: () => {
        this.metrics.flowsOpened.inc();
        this.metrics.flowsOpen.set(this.#flows!.size);
      },
      onFrame: (flow, data) => this.#fromFlow(flow, data),
      onKeepalive: (_flow, kind) => this.metrics.keepalives.inc({ kind }),
      onRefusal: (cause) => this.metrics.refuse(cause),
    };
    const common = {
      allowedOrigins: o.allowedOrigins,
      maxMessageSize: o.maxMessageSize,
      idleTimeout: o.idleTimeoutSeconds,
      maxBackpressure: o.maxBuffered,
    };
    const ws = await WsListener.listen({ ...common, transport: 'ws', host: o.ws.host, port: o.ws.port }, this.#flows, delegate);
    this.#listeners.push(ws);
    identity.ws = { host: this.#advertised(o.ws.host), port: ws.port };
    const addresses: EdgeAddresses = { ws: { host: ws.host, port: ws.port }, udp: { host: udp.localAddress, port: udp.localPort } };
    if (this.#tcp) addresses.tcp = { host: this.#tcp.localAddress, port: this.#tcp.localPort };
    if (o.wss) {
      const wss = await WsListener.listen(
        { ...common, transport: 'wss', host: o.wss.host, port: o.wss.port, tls: { certFile: o.wss.certFile, keyFile: o.wss.keyFile } },
        this.#flows,
        delegate,
      );
      this.#listeners.push(wss);
      identity.wss = { host: this.#advertised(o.wss.host), port: wss.port };
      addresses.wss = { host: wss.host, port: wss.port };
    }
    if (o.metrics) {
      // The same admin server as the core's: loopback unless a bearer token is set (the node
      // refuses to start otherwise: /status shows the cluster's shape), /healthz always open.
      this.#status = new AdminServer({
        listen: o.metrics,
        registry: this.metrics.registry,
        ...(o.adminToken ? { token: o.adminToken } : {}),
        ready: async () => {
          if (this.#state === 'draining') return { ready: false, reason: 'draining' };
          return this.#state === 'running' && (this.#cores?.healthyCount ?? 0) > 0 ? { ready: true } : { ready: false, reason: 'no healthy core' };
        },
        status: () => this.status(),
      });
      addresses.metrics = await this.#status.start();
    }
    this.#flows.start();
    this.#cores.start();
    this.#startedAt = Date.now();
    this.#state = 'running';
    return addresses;
  }

  /**
   * The core-facing sockets: UDP, and with coreTransport tcp a TCP listener on the same port, so
   * one address names the node whichever transport a URI asks for. An ephemeral UDP port may be
   * taken on TCP by someone else: then both are bound again, a bounded number of times.
   */
  async #bindCoreSide(): Promise<UdpTransport> {
    const o = this.#o;
    const limits = { maxMessageBytes: 65535 };
    for (let attempt = 1; ; attempt++) {
      const udp = await UdpTransport.bind({ host: o.udp.host, port: o.udp.port, parseLimits: limits });
      if (o.coreTransport !== 'tcp') return udp;
      try {
        this.#tcp = await TcpTransport.listen({
          host: o.udp.host,
          port: udp.localPort,
          parseLimits: limits,
          maxConnections: 256,
          // Only cores send here; anyone else would only take the slots the cores need.
          acceptFrom: (ip) => this.#trusted.has(ip),
        });
        return udp;
      } catch (err) {
        await udp.close();
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || o.udp.port !== 0 || attempt >= 5) {
          throw new Error(`cannot listen on TCP ${o.udp.host}:${udp.localPort} next to the core-facing UDP socket: ${(err as Error).message}`, { cause: err });
        }
      }
    }
  }

  /** What /status serves. */
  status(): Record<string, unknown> {
    return {
      role: 'edge',
      version: this.#version,
      node: this.#identity ? endpointText(this.#identity.udp) : undefined,
      state: this.#state,
      uptime: this.#startedAt ? Math.round((Date.now() - this.#startedAt) / 1000) : 0,
      uws: this.#runtime.implementation,
      flowsOpen: this.#flows?.size ?? 0,
      pendingForwardings: this.#pendingForwardings(),
      listen: this.#identity,
      cores: (this.#cores?.cores ?? []).map((c) => ({ core: c.id, state: c.state, consecutiveFailures: c.consecutiveFailures })),
    };
  }

  #pendingForwardings(): number {
    return (this.#proxy?.pendingForwardings ?? 0) + (this.#relay?.pending ?? 0);
  }

  /**
   * SIGTERM: take no new WebSockets (the listening sockets close, /readyz says draining), keep
   * serving the open flows, and wait until no forwarded request waits for its final answer, or
   * `timeoutMs`, or `signal`. stop() then closes the flows with 1001 "edge shutting down": their
   * browsers reconnect through the load balancer to another edge and register again (RFC 5626
   * §4.5), instead of losing a request that was on its way.
   */
  async drain(timeoutMs: number, opts: { signal?: AbortSignal } = {}): Promise<DrainResult> {
    if (this.#state !== 'running') return { drained: false, waiting: this.#awaitingFinal(), ms: 0 };
    this.#state = 'draining';
    for (const l of this.#listeners) l.close();
    return drainWhile(() => this.#awaitingFinal(), timeoutMs, opts);
  }

  /** Forwarded requests whose final answer has not passed yet (a relayed REGISTER is done at its final answer). */
  #awaitingFinal(): number {
    return (this.#proxy?.awaitingFinal ?? 0) + (this.#relay?.pending ?? 0);
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    this.#cores?.stop();
    this.#flows?.stop();
    for (const l of this.#listeners) l.close();
    this.#flows?.closeAll('shutdown');
    for (const l of this.#listeners) l.closeSockets();
    this.#relay?.close();
    this.#proxy?.close();
    await this.#udp?.close();
    await this.#tcp?.close();
    await this.#status?.stop();
    this.#state = 'stopped';
  }

  // ---- messages in -------------------------------------------------------------------------------

  /** One WebSocket frame = one SIP message (RFC 7118 §5.1). */
  #fromFlow(flow: Flow, data: Buffer): void {
    const result = parseMessage(data, this.#frameLimits);
    if (!result.ok) {
      this.metrics.refuse('parse-error');
      // A request readable enough to answer gets a 400 naming what is wrong; anything else is dropped.
      const partial = result.partial;
      if (partial?.canReply && partial.request) this.#proxy!.replyToFlow(flow, partial.request, 400, result.error.message);
      return;
    }
    const message = result.message;
    // `data` dies with the frame's callback (ws-listener.ts); a body the transactions keep (an
    // INVITE's offer, re-sent to another core on failover) must be bytes of its own.
    if (message.body.length > 0) message.body = Buffer.from(message.body);
    this.metrics.messagesIn.inc({ side: 'ws', type: messageLabel(message) });
    // The relay takes a REGISTER as the text it came in (ASCII: written back byte for byte).
    if (message.kind === 'request' && this.#relay !== undefined && isAscii(data) && this.#relay.relay(message as Request, flow)) return;
    if (message.kind === 'request' && !stampReceived(message, flow.ip)) {
      this.metrics.refuse('parse-error');
      return;
    }
    const id = this.#identity!;
    this.#receive(message, EdgeProxy.sourceOf(flow, (flow.transport === 'wss' ? id.wss : id.ws) ?? id.udp));
  }

  #fromCoreSide(message: SipMessage, source: ReceivedFrom): void {
    this.metrics.messagesIn.inc({ side: source.protocol === 'tcp' ? 'tcp' : 'udp', type: messageLabel(message) });
    // Only cores may ask this edge to deliver something to a browser.
    if (message.kind === 'request' && !this.#trusted.has(source.remoteAddress)) {
      this.metrics.refuse('unknown-peer');
      return;
    }
    this.#receive(message, source);
  }

  #receive(message: SipMessage, source: ReceivedFrom): void {
    try {
      this.#proxy!.layer.receive(message, source);
    } catch (err) {
      this.#log.error({ err }, 'failed to process a message');
    }
  }

  // ---- events ------------------------------------------------------------------------------------

  #flowClosed(flow: Flow, reason: CloseReason): void {
    this.metrics.flowsClosed.inc({ reason });
    this.metrics.flowsOpen.set(this.#flows?.size ?? 0);
    if (reason === 'backpressure' || reason === 'flow-timer-idle' || reason === 'handshake-timeout') this.metrics.refuse(reason);
    this.#proxy?.flowClosed(flow);
  }

  #coreChanged(core: CoreHealth, from: string): void {
    this.metrics.coreUp.set({ core: core.id }, core.state === 'up' ? 1 : 0);
    this.metrics.coresHealthy.set(this.#cores?.healthyCount ?? 0);
    if (core.state === 'down') {
      this.#log.warn({ core: core.id, from }, 'core down: moving its traffic to the other cores');
      this.#proxy?.coreDown(core);
      this.#relay?.coreDown(core);
    } else if (core.state === 'up') {
      // The first answer after start is not news; a core coming back is.
      if (from === 'down') this.#log.info({ core: core.id, from }, 'core up again');
      else this.#log.debug({ core: core.id, from }, 'core up');
    }
  }

  #advertised(bound: string): string {
    if (bound !== '0.0.0.0' && bound !== '::' && bound !== '') return bound;
    if (this.#o.advertiseHost) return this.#o.advertiseHost;
    this.#log.warn({ bound }, 'bound to a wildcard address and no advertised host given; writing 127.0.0.1 into URIs');
    return '127.0.0.1';
  }
}

function endpointText(e: Endpoint): string {
  return `${uriHost(e.host)}:${e.port}`;
}

function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(path) as { name?: string; version?: string };
      if (pkg.name === 'sipflow' && pkg.version) return pkg.version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

async function resolveIp(host: string): Promise<string> {
  return net.isIP(host) ? host : (await dns.lookup(host)).address;
}
