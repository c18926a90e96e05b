/**
 * RFC 7118 §5.2 / RFC 3581: a browser's Via sent-by is a made-up `.invalid` name, so the edge
 * always records the address the request really came from.
 */
import { formatVia } from '../sip/grammar/via.js';
import type { SipRequest } from '../sip/message/model.js';

/** Writes `received=<ip>` into the top Via; false when the request has no usable Via. */
export function stampReceived(request: SipRequest, ip: string): boolean {
  try {
    const top = request.topVia;
    if (!top) return false;
    top.params.set('received', ip);
    if (request.values('Via').length === 1) {
      request.set('Via', formatVia(top)); // keeps the line where it was
    } else {
      request.removeFirstValue('Via');
      request.prepend('Via', formatVia(top));
    }
    return true;
  } catch {
    return false;
  }
}
