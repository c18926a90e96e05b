/**
 * REGISTER from a browser to a core when the edge reaches its cores over TCP: the edge's busiest
 * job (every browser refreshes its registration, RFC 5626 flows every few minutes), done without a
 * transaction pair, without copies of the parsed request, and without parsing the core's answer.
 *
 * Why that is still a transaction-stateful relay (RFC 3261 §16): both sides are reliable, so the
 * server transaction towards the browser and the client transaction towards the core have nothing
 * to retransmit and no wait state (Timers J and K are zero); what is left of them is one record per
 * REGISTER waiting for its answer. That record keeps the forwarded text (a string, not a message:
 * nothing else of the request outlives the turn it arrived in), the flow, the core, and a place in
 * the shared Timer F queue. It does what EdgeProxy does for other requests: Path with this flow's
 * token (RFC 3327 §5.2, RFC 5626 §5.2), a new core when one refuses the send or stays silent before
 * answering, 408 or 503 when none is left, a request already pending absorbed.
 *
 * The answer is matched by the branch of the top Via (ours), which is removed (§16.7 step 3) by
 * cutting its line out of the bytes; the rest goes to the flow as it came. Anything this does not
 * handle (a Route, a body, a Path already there, an answer with several Vias on one line) goes the
 * ordinary way, so both paths give the same result on the wire.
 */
import type { Logger } from 'pino';
import { createResponse } from '../sip/message/factory.js';
import type { Field, Request } from '../sip/message/message.js';
import { parseMessage } from '../sip/message/parser.js';
import { generateBranch } from '../sip/message/proxy-helpers.js';
import { findHeaderLine, hasTopLevelComma, headEnd, rawParam, rawStatus } from '../sip/message/raw-head.js';
import { MAGIC_COOKIE } from '../sip/grammar/via.js';
import type { Clock } from '../sip/transaction/timers.js';
import { waitQueue, type WaitQueue, type Waiter } from '../sip/transaction/wait-queue.js';
import type { TransportTarget } from '../sip/transport/transport.js';
import type { CoreHealth } from './core-health.js';
import type { CorePool } from './core-pool.js';
import type { EdgeSender } from './edge-sender.js';
import { pathUri, uriHost, type EdgeIdentity } from './edge-uris.js';
import type { Flow, RegisterOnFlow } from './flow.js';
import type { EdgeMetrics } from './metrics.js';

export interface RegisterRelayOptions {
  sender: EdgeSender;
  cores: CorePool;
  identity: EdgeIdentity;
  metrics: EdgeMetrics;
  log: Logger;
  /** The flow's signed token (minted once per flow). */
  tokenFor(flow: Flow): string;
  clock: Clock;
  /** Timer F, 64*T1. */
  timerF: number;
  /** RFC 5626 Flow-Timer grace added before an idle flow is closed, ms. */
  flowTimerGrace: number;
}

const CRLF = '\r\n';
/** A Flow-Timer line (the name is case-insensitive, RFC 3261 §7.3.1) and its value; not folded. */
const FLOW_TIMER = /\r\nflow-timer[ \t]*:[ \t]*(\d{1,6})[ \t]*\r\n/gi;

/** One REGISTER waiting for its core's answer. */
class Pending implements Waiter, RegisterOnFlow {
  readonly relay: RegisterRelay;
  readonly flow: Flow;
  /** The browser's branch on this flow: a second copy of the request while this one waits is absorbed. */
  readonly browserBranch: string;
  previousOnFlow: RegisterOnFlow | undefined = undefined;
  /** Emptied when the REGISTER is done (see #finish), as the fields below it. */
  callId: string;
  startLine: string;
  /** Everything after our Via line: the browser's Via, the other headers, Path, the empty line. */
  rest: string;
  /** Where it waits in the relay's slots; our branch ends with it. */
  slot = -1;
  branch = '';
  core: CoreHealth | undefined;
  /** The cores tried before the current one, once there was a second try. */
  tried: Set<CoreHealth> | undefined;
  /** Any answer from the current core: from then on it may not go elsewhere. */
  responded = false;
  done = false;
  /** In the Timer F queue, for `deadline`. */
  waiting = false;
  deadline = 0;

  constructor(relay: RegisterRelay, flow: Flow, browserBranch: string, callId: string, startLine: string, rest: string) {
    this.relay = relay;
    this.flow = flow;
    this.browserBranch = browserBranch;
    this.callId = callId;
    this.startLine = startLine;
    this.rest = rest;
  }

  waitingUntil(deadline: number): boolean {
    return this.waiting && this.deadline === deadline;
  }

  waitExpired(): void {
    this.waiting = false;
    this.relay.timedOut(this);
  }
}

/**
 * Why slots and a chain on the flow, not Maps by branch: a Map whose entries come and go by the
 * thousand a second is rehashed again and again, and an outgrown table that had reached the old
 * generation keeps what it held alive through every young collection until the next full one.
 * Measured on an edge at 40,000 REGISTERs a second: ~0.7–1 KiB per REGISTER promoted (the record,
 * and through its keys and Call-ID the head of the browser's frame they were cut from), a megabyte
 * every 27 ms, scavenges of 1.5–2 ms. An array of slots with a free list is never rehashed, and
 * our branch names the slot.
 */
export class RegisterRelay {
  readonly #o: RegisterRelayOptions;
  readonly #slots: Array<Pending | undefined> = [];
  /** The empty slots: every slot is either taken or listed here. */
  readonly #freeSlots: number[] = [];
  readonly #timerF: WaitQueue;
  readonly #via: string;
  /** Where an answer is written without our Via on its way to the browser (see answer()). */
  readonly #answerBuffer = Buffer.allocUnsafeSlow(4096);
  #closed = false;

  constructor(options: RegisterRelayOptions) {
    this.#o = options;
    this.#timerF = waitQueue(options.clock, options.timerF);
    const { udp } = options.identity;
    this.#via = `Via: SIP/2.0/TCP ${uriHost(udp.host)}:${udp.port};branch=`;
  }

  /** REGISTERs waiting for their answer. */
  get pending(): number {
    return this.#slots.length - this.#freeSlots.length;
  }

  /**
   * Takes a browser's REGISTER when it is one this relay handles; false leaves it to the ordinary
   * path. `request` is as parsed from the frame (ASCII: the forwarded text is written back as is).
   */
  relay(request: Request, flow: Flow): boolean {
    if (this.#closed || request.method !== 'REGISTER' || request.body.length > 0) return false;
    const shape = readShape(request);
    if (shape === undefined) return false;
    for (let r = flow.registers; r !== undefined; r = r.previousOnFlow) {
      if (r.browserBranch === shape.browserBranch) return true; // the same request again while it waits: absorbed
    }
    const o = this.#o;
    // The forwarded text after our Via: every line as it came but the Via (received stamped,
    // RFC 7118 §5.2 / RFC 3581), Max-Forwards one less (RFC 3261 §16.6 step 3), Content-Length
    // rewritten; then Path naming this flow and Supported: path (RFC 3327 §5.2).
    // Built by join(): one flat string that holds nothing of the received text (slices of it would
    // keep it alive, and a string built with + is a tree the collector copies node by node).
    const lines: string[] = [];
    for (const f of request.headers as readonly Field[]) {
      switch (f.key) {
        case 'via': lines.push(f.name, ': ', f.value, ';received=', flow.ip, CRLF); break;
        case 'max-forwards': lines.push(f.name, ': ', String(shape.maxForwards! - 1), CRLF); break;
        case 'content-length': break;
        default: lines.push(f.name, ': ', f.value, CRLF);
      }
    }
    if (shape.maxForwards === undefined) lines.push('Max-Forwards: 70', CRLF); // §16.6 step 3: "add one ... 70"
    lines.push('Path: ', pathUri(o.tokenFor(flow), o.identity, shape.outbound), CRLF);
    if (!shape.path) lines.push('Supported: path', CRLF);
    lines.push('Content-Length: 0', CRLF, CRLF);
    const p = new Pending(this, flow, shape.browserBranch, shape.callId, request.method + ' ' + request.uriText + ' SIP/2.0', lines.join(''));
    linkToFlow(p);
    p.slot = this.#freeSlots.pop() ?? this.#slots.length;
    this.#slots[p.slot] = p;
    if (o.log.isLevelEnabled('debug')) o.log.debug({ callId: shape.callId, method: 'REGISTER', flow: flow.id }, 'request received');
    this.#toCore(p, undefined);
    return true;
  }

  /** A message from a core, as framed: true when it was the answer to a REGISTER relayed here. */
  answer(bytes: Buffer): boolean {
    // Only responses ("SIP/2.0 ..."), and only while something waits.
    if (this.pending === 0 || bytes.length < 12 || bytes[0] !== 0x53 || bytes[3] !== 0x2f) return false;
    const head = bytes.toString('latin1', 0, Math.min(bytes.length, 4096));
    const status = rawStatus(head);
    if (status < 0) return false;
    const end = headEnd(head);
    if (end < 0) return false;
    const sl = head.indexOf(CRLF);
    const via = findHeaderLine(head, 'via', sl + 2, end);
    if (via === undefined || hasTopLevelComma(head, via.valueStart, via.valueEnd)) return false;
    const branch = rawParam(head, via.valueStart, via.valueEnd, 'branch');
    const p = branch === undefined ? undefined : this.#slots[slotOf(branch)];
    if (p === undefined || p.done || p.branch !== branch) return false;
    const o = this.#o;
    o.metrics.messagesIn.inc({ side: 'tcp', type: `${Math.floor(status / 100)}xx` });
    p.responded = true;
    // RFC 3261 §16.7: "The proxy removes the topmost Via header field value from the response";
    // a 100 is hop-by-hop and goes no further.
    if (status === 100) return true;
    if (status >= 200) {
      this.#finish(p);
      if (status < 300) this.#applyFlowTimer(p.flow, head, end);
    }
    const length = bytes.length - (via.lineEnd - via.lineStart);
    // Written into one buffer reused for every answer: a flow's send hands the bytes to uWS, which
    // copies them before returning, so nothing holds them afterwards (a new Buffer per answer was
    // a share of a new 8 KiB pool every few answers).
    const out = length <= this.#answerBuffer.length ? this.#answerBuffer.subarray(0, length) : Buffer.allocUnsafe(length);
    bytes.copy(out, 0, 0, via.lineStart);
    bytes.copy(out, via.lineStart, via.lineEnd);
    this.#toFlow(p.flow, out);
    return true;
  }

  /** A core went down: what it has not answered goes to another; what it had answered gets 408. */
  coreDown(core: CoreHealth): void {
    for (const p of this.#slots.slice()) {
      if (p === undefined || p.core !== core || p.done) continue;
      if (p.responded) {
        this.#o.metrics.refuse('core-lost');
        this.#fail(p, 408);
      } else {
        this.#o.metrics.coreRetries.inc();
        this.#toCore(p, undefined);
      }
    }
  }

  /** @internal (Pending) Timer F: RFC 3261 §16.7 counts it as a 408 from that core. */
  timedOut(p: Pending): void {
    if (p.done) return;
    if (!p.responded) {
      if (this.#o.cores.pick(p.callId, triedOf(p))) this.#o.metrics.coreRetries.inc();
      this.#toCore(p, 408);
    } else {
      this.#fail(p, 408);
    }
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#slots) if (p !== undefined) this.#finish(p);
  }

  /** Sends (or re-sends, with a new branch) to the best core not tried yet; 408/503 when none is left. */
  #toCore(p: Pending, lastOutcome: 408 | 503 | undefined): void {
    const o = this.#o;
    const tried = triedOf(p);
    const core = o.cores.pick(p.callId, tried);
    if (!core) {
      if (p.core === undefined) o.metrics.refuse('no-core');
      this.#fail(p, lastOutcome ?? 503);
      return;
    }
    tried?.add(core);
    p.core = core;
    p.responded = false;
    // A new branch per try: an answer to an earlier one no longer matches.
    p.branch = generateBranch() + '.' + p.slot.toString(36);
    this.#disarm(p);
    p.deadline = this.#timerF.add(p);
    p.waiting = true;
    // No rport (RFC 3581): over TCP the answer comes back on the connection.
    const text = p.startLine + CRLF + this.#via + p.branch + CRLF + p.rest;
    const target: TransportTarget = { protocol: 'tcp', host: core.address.host, port: core.address.port };
    const branch = p.branch;
    let sent: Promise<void> | void;
    try {
      sent = o.sender.send(text, target);
    } catch (err) {
      sent = Promise.reject(err);
    }
    if (sent) {
      sent.then(undefined, (err: Error) => {
        if (p.done || p.branch !== branch) return;
        // This failure may be the one that marks the core down, and coreDown() then moves this
        // REGISTER on by itself.
        core.failure();
        if (p.done || p.branch !== branch) return;
        if (p.responded) return this.#fail(p, 503);
        o.log.debug({ core: core.id, err: err.message, callId: p.callId, flow: p.flow.id }, 'core refused the REGISTER; trying the next core');
        if (o.cores.pick(p.callId, triedOf(p))) o.metrics.coreRetries.inc();
        this.#toCore(p, 503);
      });
    }
  }

  /** Answers the browser itself: the request is read back from the text kept for it. */
  #fail(p: Pending, status: 408 | 503): void {
    if (p.done) return;
    const parsed = parseMessage(p.startLine + CRLF + p.rest);
    this.#finish(p);
    if (!parsed.ok || parsed.message.kind !== 'request') return;
    const response = createResponse(parsed.message, status, undefined, { toTag: true, ...(status === 503 ? { headers: [['Retry-After', '5']] } : {}) });
    // Our Via was never in this text: the browser's Via is on top, as in any answer to it.
    this.#toFlow(p.flow, response.toBuffer());
  }

  #finish(p: Pending): void {
    p.done = true;
    this.#disarm(p);
    if (this.#slots[p.slot] === p) {
      this.#slots[p.slot] = undefined;
      this.#freeSlots.push(p.slot);
    }
    unlinkFromFlow(p);
    // Whatever still points at it (a write's promise, the Timer F slot it left) should keep as
    // little alive as it can: it lets go of its text now.
    p.callId = '';
    p.startLine = '';
    p.rest = '';
    p.tried = undefined;
  }

  /** Takes the REGISTER out of the Timer F queue (its entry stays, empty, until it comes up). */
  #disarm(p: Pending): void {
    if (!p.waiting) return;
    p.waiting = false;
    this.#timerF.cancel(p, p.deadline);
  }

  #toFlow(flow: Flow, data: Buffer): void {
    const target: TransportTarget = { protocol: flow.transport, host: flow.ip, port: flow.port, connectionId: flow.id, noConnect: true };
    // A flow gone meanwhile: nobody to answer (the sender counts nothing for it).
    this.#o.sender.send(data, target)?.catch(() => undefined);
  }

  /**
   * RFC 5626 §4.4.1 / §5.4: the registrar's Flow-Timer says how often the UA will send keepalives;
   * a flow silent for longer (plus a grace for network delay) is dead, and is closed.
   */
  #applyFlowTimer(flow: Flow, head: string, end: number): void {
    // One native search, not a look at every header line's name (a 2xx has a dozen).
    FLOW_TIMER.lastIndex = head.indexOf(CRLF);
    const m = FLOW_TIMER.exec(head);
    if (m === null || m.index >= end) return;
    const seconds = Number(m[1]);
    if (!Number.isInteger(seconds) || seconds <= 0 || seconds > 86400) return;
    flow.idleLimit = seconds * 1000 + this.#o.flowTimerGrace;
  }
}

/** The slot a branch of ours names (after its last dot); -1 for any other branch. */
function slotOf(branch: string): number {
  const dot = branch.lastIndexOf('.');
  if (dot < 0 || dot === branch.length - 1 || branch.length - dot > 8) return -1;
  const slot = parseInt(branch.slice(dot + 1), 36);
  return Number.isNaN(slot) ? -1 : slot;
}

/** The cores to pass over: none on the first try; from the second on, every core tried so far. */
function triedOf(p: Pending): Set<CoreHealth> | undefined {
  if (p.tried === undefined && p.core !== undefined) p.tried = new Set([p.core]);
  return p.tried;
}

function linkToFlow(p: Pending): void {
  p.previousOnFlow = p.flow.registers;
  p.flow.registers = p;
}

function unlinkFromFlow(p: Pending): void {
  const flow = p.flow;
  if (flow.registers === p) {
    flow.registers = p.previousOnFlow;
  } else {
    for (let r = flow.registers; r !== undefined; r = r.previousOnFlow) {
      if (r.previousOnFlow === p) {
        r.previousOnFlow = p.previousOnFlow;
        break;
      }
    }
  }
  p.previousOnFlow = undefined;
}

/** What the relay reads off a REGISTER before it takes it; undefined: the ordinary path takes it. */
interface Shape {
  browserBranch: string;
  callId: string;
  /** The received Max-Forwards; undefined when there was none. */
  maxForwards: number | undefined;
  /** The UA supports outbound (RFC 5626 §5.1): Path gets `ob`. */
  outbound: boolean;
  /** Supported already lists path. */
  path: boolean;
}

function readShape(request: Request): Shape | undefined {
  let via: string | undefined;
  let callId: string | undefined;
  let maxForwards: number | undefined;
  let outbound = false;
  let path = false;
  for (const f of request.headers as readonly Field[]) {
    switch (f.key) {
      case 'via':
        if (via !== undefined) return undefined;
        via = f.value;
        break;
      case 'route':
      case 'path':
        return undefined;
      case 'call-id':
        callId = f.value;
        break;
      case 'max-forwards': {
        const v = f.value;
        if (!/^\d{1,3}$/.test(v)) return undefined;
        maxForwards = Number(v);
        // 0 is answered 483 by the ordinary path (§16.3 step 3).
        if (maxForwards === 0 || maxForwards > 255) return undefined;
        break;
      }
      case 'supported':
        for (const t of f.value.split(',')) {
          const tag = t.trim().toLowerCase();
          if (tag === 'outbound') outbound = true;
          else if (tag === 'path') path = true;
        }
        break;
      case 'contact':
        if (/;\s*reg-id\s*=/i.test(f.value)) outbound = true;
        break;
      default:
        break;
    }
  }
  if (via === undefined || callId === undefined || callId.length === 0) return undefined;
  // One Via value that names a sent-protocol, carries an RFC 3261 branch, and no received yet.
  if (!/^SIP\s*\/\s*2\.0\s*\/\s*WSS?\s/i.test(via) || hasTopLevelComma(via, 0, via.length)) return undefined;
  const branch = rawParam(via, 0, via.length, 'branch');
  if (branch === undefined || !branch.startsWith(MAGIC_COOKIE) || rawParam(via, 0, via.length, 'received') !== undefined) return undefined;
  return { browserBranch: branch, callId, maxForwards, outbound, path };
}
