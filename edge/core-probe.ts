/**
 * The OPTIONS keepalive an edge sends each core (RFC 3261 §11: OPTIONS asks a server about itself;
 * any answer, even an error, proves it is there and speaking SIP). Sent in a real client
 * transaction, so it is retransmitted over UDP (over TCP it opens the connection again if it went
 * down), with a deadline shorter than Timer F: a probe is about being up now, not in 32 seconds.
 */
import { createRequest, generateCallId, generateTag } from '../sip/message/factory.js';
import { generateBranch } from '../sip/message/proxy-helpers.js';
import type { ClientTransaction } from '../sip/transaction/client-transaction.js';
import type { TransactionLayer } from '../sip/transaction/transaction-layer.js';
import type { CoreHealth } from './core-health.js';
import { uriHost, type CoreTransport, type Endpoint } from './edge-uris.js';

export function optionsProbe(
  layer: () => TransactionLayer,
  from: () => Endpoint,
  timeout: number,
  transport: CoreTransport = 'udp',
): (core: CoreHealth) => Promise<boolean> {
  return (core) =>
    new Promise<boolean>((resolve) => {
      const me = from();
      const self = `${uriHost(me.host)}:${me.port}`;
      const them = `${uriHost(core.address.host)}:${core.address.port}`;
      const request = createRequest({
        method: 'OPTIONS',
        uri: `sip:${them}`,
        headers: [
          ['Via', `SIP/2.0/${transport.toUpperCase()} ${self};branch=${generateBranch()};rport`],
          ['Max-Forwards', '70'],
          ['From', `<sip:edge@${self}>;tag=${generateTag()}`],
          ['To', `<sip:${them}>`],
          ['Call-ID', generateCallId()],
          ['CSeq', '1 OPTIONS'],
          ['Content-Length', '0'],
        ],
      });
      let tx: ClientTransaction | undefined;
      let settled = false;
      const finish = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        tx?.dispose();
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeout);
      timer.unref();
      try {
        tx = layer().sendRequest(request, { protocol: transport, host: core.address.host, port: core.address.port }, {
          // A core that cannot serve says so with 503 (e.g. its location store is unreachable):
          // that is a failed probe, so traffic moves to the other cores. Any other answer means up.
          onResponse: (response) => {
            if (response.status >= 200) finish(response.status !== 503);
          },
          onTimeout: () => finish(false),
          onTransportError: () => finish(false),
        });
        if (settled) tx.dispose();
      } catch {
        finish(false);
      }
    });
}
