/**
 * The edge's ways out, behind the one `send(message, target)` the transaction layer knows: UDP or
 * TCP to the cores, and a browser's flow for ws/wss targets. A WebSocket target names its flow by
 * connectionId; the edge never opens a connection towards a browser (RFC 5626: a flow that is gone
 * is gone), so a missing flow is an error the transaction turns into 430/503 handling.
 */
import { isUtf8 } from 'node:buffer';
import { TransportError } from '../sip/transport/errors.js';
import type { Outgoing, TransportTarget } from '../sip/transport/transport.js';
import type { TcpTransport } from '../sip/transport/tcp-transport.js';
import type { UdpTransport } from '../sip/transport/udp-transport.js';
import type { FlowTable } from './flow-table.js';
import type { EdgeMetrics, Side } from './metrics.js';

export class EdgeSender {
  readonly #udp: UdpTransport;
  readonly #tcp: TcpTransport | undefined;
  readonly #flows: FlowTable;
  readonly #metrics: EdgeMetrics;

  constructor(udp: UdpTransport, tcp: TcpTransport | undefined, flows: FlowTable, metrics: EdgeMetrics) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.#flows = flows;
    this.#metrics = metrics;
  }

  send(message: Outgoing, target: TransportTarget): Promise<void> | void {
    if (target.protocol === 'tcp' && this.#tcp) {
      // As text where the message has it: the connection writes a turn's worth as one string.
      const pending = this.#tcp.send(message, target);
      this.#count('tcp', message);
      return pending;
    }
    // uWS sends a Buffer as it is; a string it would first copy out as UTF-8.
    const data = Buffer.isBuffer(message) ? message : typeof message === 'string' ? Buffer.from(message, 'utf8') : message.toBuffer();
    if (target.protocol === 'udp') {
      const pending = this.#udp.send(data, target);
      this.#count('udp', data);
      return pending;
    }
    if (target.protocol === 'ws' || target.protocol === 'wss') {
      const flow = target.connectionId !== undefined ? this.#flows.get(target.connectionId) : undefined;
      if (!flow?.open) {
        return Promise.reject(new TransportError('SIP_TRANSPORT_NO_CONNECTION', `flow ${target.connectionId ?? '(none)'} is closed`));
      }
      // RFC 7118 §5.1: text frames for UTF-8 messages, binary frames for anything else.
      const outcome = flow.send(data, !isUtf8(data));
      if (outcome === 'sent') {
        this.#count('ws', data);
        return;
      }
      return Promise.reject(
        outcome === 'backpressure'
          ? new TransportError('SIP_TRANSPORT_BUFFER_FULL', `flow ${flow.id} does not read; closed`)
          : new TransportError('SIP_TRANSPORT_CONNECTION_CLOSED', `flow ${flow.id} closed`),
      );
    }
    return Promise.reject(new TransportError('SIP_TRANSPORT_NO_TRANSPORT', `the edge has no ${target.protocol} transport`));
  }

  /** Counts by method or status class read off the start line, without parsing the message again. */
  #count(side: Side, data: Outgoing): void {
    this.#metrics.messagesOut.inc({ side, type: startLineLabel(data) });
  }
}

const KNOWN = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);

export function startLineLabel(data: Outgoing): string {
  if (typeof data !== 'string' && !Buffer.isBuffer(data)) {
    if (data.kind === 'request') return KNOWN.has(data.method) ? data.method : 'other';
    const cls = Math.floor(data.status / 100);
    return cls >= 1 && cls <= 6 ? `${cls}xx` : 'other';
  }
  const head = typeof data === 'string' ? data.slice(0, 16) : data.toString('latin1', 0, Math.min(data.length, 16));
  if (head.startsWith('SIP/2.0 ')) {
    const cls = head.charCodeAt(8) - 0x30;
    return cls >= 1 && cls <= 6 ? `${cls}xx` : 'other';
  }
  const sp = head.indexOf(' ');
  const method = sp > 0 ? head.slice(0, sp) : '';
  return KNOWN.has(method) ? method : 'other';
}
