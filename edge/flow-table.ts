/**
 * Every open flow of this edge, by id, with the per-IP bookkeeping (connection counts, a shared
 * rate bucket) and one coarse sweep timer for the long timeouts: the handshake timeout and the
 * RFC 5626 Flow-Timer. One timer for all flows, not one per flow (undici's timer-wheel habit):
 * 50,000 idle browsers cost one array walk a second, not 50,000 timers.
 */
import { randomBytes } from 'node:crypto';
import { Flow, type FlowSocket } from './flow.js';
import { TokenBucket } from './token-bucket.js';
import type { CloseReason } from './metrics.js';

export interface FlowTableOptions {
  /** Most open flows per remote IP; 0 = no limit. */
  maxFlowsPerIp: number;
  /** Ms a new WebSocket may stay silent before its first SIP message; 0 = no limit. */
  handshakeTimeout: number;
  /** Bytes a flow may have waiting to be written before it is closed. */
  maxBuffered: number;
  /** Messages a second per flow (bursts up to the same number); 0 = unlimited. */
  ratePerFlow: number;
  /** Messages a second per remote IP, all its flows together; 0 = unlimited. */
  ratePerIp: number;
  /** Sweep period in ms. */
  sweepInterval: number;
}

export type Admission = { ok: true } | { ok: false; cause: 'per-ip-limit' };
export type RateVerdict = 'ok' | 'drop' | 'close';

interface IpEntry {
  flows: number;
  bucket: TokenBucket | undefined;
}

export class FlowTable {
  #options: FlowTableOptions;
  readonly #flows = new Map<string, Flow>();
  readonly #ips = new Map<string, IpEntry>();
  /** Random per boot, so flow ids (and tokens naming them) never repeat across restarts. */
  readonly #boot = randomBytes(4).toString('base64url');
  #next = 0;
  #timer: NodeJS.Timeout | undefined;
  #onClose: (flow: Flow, reason: CloseReason) => void;
  #now: () => number;

  constructor(options: FlowTableOptions, onClose: (flow: Flow, reason: CloseReason) => void, now: () => number = Date.now) {
    this.#options = options;
    this.#onClose = onClose;
    this.#now = now;
  }
  /** New per-flow and per-IP budgets for flows opened from now on (SIGHUP); open flows keep theirs. */
  setRates(ratePerFlow?: number, ratePerIp?: number): void {
    this.#options = { ...this.#options, ...(ratePerFlow !== undefined ? { ratePerFlow } : {}), ...(ratePerIp !== undefined ? { ratePerIp } : {}) };
  }


  get size(): number {
    return this.#flows.size;
  }

  get(id: string): Flow | undefined {
    return this.#flows.get(id);
  }

  values(): IterableIterator<Flow> {
    return this.#flows.values();
  }

  flowsFrom(ip: string): number {
    return this.#ips.get(ip)?.flows ?? 0;
  }

  /** Checked at the upgrade, before the handshake completes. */
  admit(ip: string): Admission {
    const max = this.#options.maxFlowsPerIp;
    if (max > 0 && this.flowsFrom(ip) >= max) return { ok: false, cause: 'per-ip-limit' };
    return { ok: true };
  }

  open(init: { transport: 'ws' | 'wss'; ip: string; port: number; socket: FlowSocket }): Flow {
    const now = this.#now();
    const id = this.#boot + (this.#next++).toString(36);
    const o = this.#options;
    const flow = new Flow({
      id,
      transport: init.transport,
      ip: init.ip,
      port: init.port,
      now,
      socket: init.socket,
      maxBuffered: o.maxBuffered,
      ...(o.ratePerFlow > 0 ? { bucket: new TokenBucket(o.ratePerFlow, o.ratePerFlow, now) } : {}),
      onClose: (f, reason) => this.#closed(f, reason),
    });
    this.#flows.set(id, flow);
    let entry = this.#ips.get(init.ip);
    if (!entry) {
      entry = { flows: 0, bucket: o.ratePerIp > 0 ? new TokenBucket(o.ratePerIp, o.ratePerIp, now) : undefined };
      this.#ips.set(init.ip, entry);
    }
    entry.flows++;
    return flow;
  }

  /**
   * Called for every frame from a browser. Over the flow's or the IP's rate the message is dropped;
   * a flow that keeps sending at twice its rate for a sweep period is closed (it is flooding, not
   * bursting).
   */
  arrival(flow: Flow): RateVerdict {
    const now = this.#now();
    flow.lastSeen = now;
    const ipBucket = this.#ips.get(flow.ip)?.bucket;
    const ok = (flow.bucket?.take(now) ?? true) && (ipBucket?.take(now) ?? true);
    if (ok) return 'ok';
    flow.drops++;
    const limit = this.#options.ratePerFlow > 0 ? this.#options.ratePerFlow : this.#options.ratePerIp;
    return flow.drops > limit ? 'close' : 'drop';
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.sweep(), this.#options.sweepInterval);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Closes flows past their handshake timeout or Flow-Timer; resets flood counters. */
  sweep(): void {
    const now = this.#now();
    const handshake = this.#options.handshakeTimeout;
    const expired: Array<[Flow, CloseReason]> = [];
    for (const flow of this.#flows.values()) {
      flow.drops = 0;
      if (!flow.greeted) {
        if (handshake > 0 && now - flow.openedAt > handshake) expired.push([flow, 'handshake-timeout']);
      } else if (flow.idleLimit !== undefined && now - flow.lastSeen > flow.idleLimit) {
        expired.push([flow, 'flow-timer-idle']);
      }
    }
    for (const [flow, reason] of expired) flow.close(reason);
  }

  /** Closes every flow (shutdown). */
  closeAll(reason: CloseReason): void {
    for (const flow of [...this.#flows.values()]) flow.close(reason);
  }

  #closed(flow: Flow, reason: CloseReason): void {
    if (this.#flows.get(flow.id) !== flow) return;
    this.#flows.delete(flow.id);
    const entry = this.#ips.get(flow.ip);
    if (entry && --entry.flows <= 0) this.#ips.delete(flow.ip);
    this.#onClose(flow, reason);
  }
}
