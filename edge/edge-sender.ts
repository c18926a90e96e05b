/**
 * The edge's ways out, behind the one `send(message, target)` the transaction layer knows: UDP or
 * TCP to the cores, and a browser's flow for ws/wss targets. A WebSocket target names its flow by
 * connectionId; the edge never opens a connection towards a browser (RFC 5626: a flow that is gone
 * is gone), so a missing flow is an error the transaction turns into 430/503 handling.
 */
import { isUtf8 } from 'node:buffer';
import type { SipMessage } from '../sip/message/model.js';
import { TransportError } from '../sip/transport/errors.js';
import type { TransportTarget } from '../sip/transport/transport.js';
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

  send(message: SipMessage | Buffer, target: TransportTarget): Promise<void> | void {
    const data = Buffer.isBuffer(message) ? message : message.toBuffer();
    if (target.protocol === 'udp') {
      const pending = this.#udp.send(data, target);
      this.#count('udp', data);
      return pending;
    }
    if (target.protocol === 'tcp' && this.#tcp) {
      const pending = this.#tcp.send(data, target);
      this.#count('tcp', data);
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
  #count(side: Side, data: Buffer): void {
    this.#metrics.messagesOut.inc({ side, type: startLineLabel(data) });
  }
}

const KNOWN = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);

export function startLineLabel(data: Buffer): string {
  const head = data.toString('latin1', 0, Math.min(data.length, 16));
  if (head.startsWith('SIP/2.0 ')) {
    const cls = head.charCodeAt(8) - 0x30;
    return cls >= 1 && cls <= 6 ? `${cls}xx` : 'other';
  }
  const sp = head.indexOf(' ');
  const method = sp > 0 ? head.slice(0, sp) : '';
  return KNOWN.has(method) ? method : 'other';
}
