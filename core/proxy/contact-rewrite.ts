/**
 * The seed's challenge 3: a UA attached directly to a core (a desk phone, maybe behind NAT) puts
 * its private address in Contact. The core that holds its flow — its home proxy — replaces that
 * Contact in dialog-creating requests and their 2xx with a URI in the cluster's domain that
 * carries a flow token naming the home core and the flow, and the original Contact:
 *
 *   sip:<flow-token>@<domain>;sfc=<base64url(original contact URI)>
 *
 * Any core can route a later in-dialog request to it: it reads the home node out of the token and
 * sends the request there; the home core verifies the token, puts the original Contact back as the
 * Request-URI and sends it down the flow. No core has to have seen the dialog being set up.
 */
import type { SipUri } from '../../sip/grammar/uri.js';

export const CONTACT_PARAM = 'sfc';

export function rewrittenContactUri(token: string, domain: string, originalUri: string): string {
  return `sip:${token}@${domain};${CONTACT_PARAM}=${Buffer.from(originalUri, 'utf8').toString('base64url')}`;
}

/** The original Contact a rewritten URI carries, or undefined when the URI is not one of ours. */
export function originalContact(uri: SipUri): string | undefined {
  const v = uri.params.get(CONTACT_PARAM);
  if (!v || !uri.user) return undefined;
  const text = Buffer.from(v, 'base64url').toString('utf8');
  return /^sips?:/i.test(text) && text.length < 2048 ? text : undefined;
}
