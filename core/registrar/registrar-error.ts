/** Every way a REGISTER can fail, mapped to its response in one table (as Kamailio's registrar does). */
export type RegistrarError =
  | 'invalid-contact'
  | 'wildcard-misuse'
  | 'interval-too-brief'
  | 'out-of-order'
  | 'first-hop-lacks-outbound'
  | 'too-many-contacts'
  | 'not-our-domain'
  | 'forbidden-aor'
  | 'store-unavailable'
  | 'bad-expires'
  | 'untrusted-path';

export const REGISTRAR_ERROR_RESPONSES: Record<RegistrarError, { status: number; reason: string }> = {
  'invalid-contact': { status: 400, reason: 'Invalid Contact' },
  'wildcard-misuse': { status: 400, reason: 'Contact: * Must Stand Alone With Expires: 0' },
  'bad-expires': { status: 400, reason: 'Invalid Expires' },
  'interval-too-brief': { status: 423, reason: 'Interval Too Brief' },
  'out-of-order': { status: 500, reason: 'Out Of Order CSeq For Binding' },
  'first-hop-lacks-outbound': { status: 439, reason: 'First Hop Lacks Outbound Support' },
  'too-many-contacts': { status: 403, reason: 'Too Many Contacts' },
  'not-our-domain': { status: 404, reason: 'Domain Not Served Here' },
  'forbidden-aor': { status: 403, reason: 'Not Allowed To Register This AOR' },
  'store-unavailable': { status: 503, reason: 'Location Service Unavailable' },
  'untrusted-path': { status: 403, reason: 'Path Not From This Cluster' },
};
