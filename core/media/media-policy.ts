/**
 * When a call needs rtpengine, and what to ask it. Pure functions over SDP text and URIs.
 *
 * A browser speaks UDP/TLS/RTP/SAVPF (ICE, DTLS-SRTP, rtcp-mux); a desk phone speaks RTP/AVP.
 * When an SDP offer's profile does not match what the next hop speaks, the core anchors the media
 * in rtpengine: the offer is converted for the callee, the answer for the caller. WebRTC↔WebRTC
 * and RTP↔RTP pass untouched. The decision is made again for every offer (re-INVITEs for hold
 * too), from the SDP and the target alone, so any core can handle any in-dialog request: the call
 * state lives in rtpengine, keyed by Call-ID.
 */
import type { SipUri } from '../../sip/grammar/uri.js';
import type { BValue } from './bencode.js';

export type MediaSide = 'webrtc' | 'rtp';

export function sdpSide(sdp: string): MediaSide {
  return /^m=audio \d+ (UDP\/TLS\/RTP\/SAVPF|UDP\/TLS\/RTP\/SAVP)/m.test(sdp) ? 'webrtc' : 'rtp';
}

/** A target reached over WebSocket (RFC 7118 `transport=ws`, `.invalid` contact hosts) is a browser. */
export function uriSide(uri: SipUri, routes: readonly SipUri[] = []): MediaSide {
  const ws = (u: SipUri) => {
    const t = u.params.get('transport')?.toLowerCase();
    return t === 'ws' || t === 'wss' || u.host.endsWith('.invalid');
  };
  return ws(uri) || routes.some(ws) ? 'webrtc' : 'rtp';
}

/** Offer conversion flags for the side that will receive the offer (RECIPES.md §1, tested here). */
export function offerFlags(towards: MediaSide): Record<string, BValue> {
  if (towards === 'rtp') {
    return {
      'transport-protocol': 'RTP/AVP',
      ICE: 'remove',
      DTLS: 'off',
      'rtcp-mux': ['demux'],
      replace: ['origin', 'session-connection'],
      flags: ['strip-extmap'],
      codec: { strip: ['all'], except: ['PCMU', 'PCMA', 'telephone-event'] },
    };
  }
  return {
    'transport-protocol': 'UDP/TLS/RTP/SAVPF',
    ICE: 'force',
    'rtcp-mux': ['offer', 'require'],
    replace: ['origin', 'session-connection'],
    flags: ['generate-mid'],
  };
}

/** Answer conversion flags for the side that will receive the answer (the offerer). */
export function answerFlags(towards: MediaSide): Record<string, BValue> {
  if (towards === 'webrtc') {
    // With the daemon's --dtls-passive and DTLS passive here, every call gets DTLS up (RECIPES 1c).
    return { 'transport-protocol': 'UDP/TLS/RTP/SAVPF', ICE: 'force', DTLS: 'passive', 'rtcp-mux': ['require'], replace: ['origin', 'session-connection'] };
  }
  return { 'transport-protocol': 'RTP/AVP', ICE: 'remove', DTLS: 'off', 'rtcp-mux': ['demux'], replace: ['origin', 'session-connection'] };
}

/**
 * rtpengine 10.5 keeps a=msid, a=ssrc, a=rtcp-rsize ... in SDP for the phone and cannot remove
 * them itself (no sdp-attr); phones that choke on them get them stripped here.
 */
export function stripWebrtcAttributes(sdp: string): string {
  return sdp
    .split(/\r?\n/)
    .filter((l) => !/^a=(msid|ssrc|ssrc-group|rtcp-rsize|rtcp-xr|msid-semantic|extmap-allow-mixed)\b/.test(l))
    .join('\r\n');
}
