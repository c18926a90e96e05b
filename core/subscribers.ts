/** Provisioning of subscribers: the HA1 values the registrar verifies digests against. */
import { computeHa1 } from '../sip/auth/index.js';
import type { LocationStore, Subscriber } from './location/location-store.js';

/** The realm is the domain, so HA1 = H(user:domain:password) for each algorithm (RFC 8760). */
export function subscriberFor(user: string, domain: string, password: string): Subscriber {
  return {
    user,
    domain,
    ha1Md5: computeHa1(user, domain, password, 'MD5'),
    ha1Sha256: computeHa1(user, domain, password, 'SHA-256'),
  };
}

export async function addSubscriber(store: LocationStore, user: string, domain: string, password: string): Promise<void> {
  await store.putSubscriber(subscriberFor(user, domain, password));
}
