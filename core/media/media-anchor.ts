/**
 * Anchors a call's media in rtpengine when the two sides speak different media profiles
 * (media-policy.ts decides). The body of the SIP message is replaced in place with rtpengine's SDP.
 */
import type { SipMessageBase, SipRequest, SipResponse } from '../../sip/message/model.js';
import { RtpengineClient, RtpengineError } from './rtpengine-client.js';
import { answerFlags, offerFlags, sdpSide, stripWebrtcAttributes, type MediaSide } from './media-policy.js';

export interface MediaAnchorHooks {
  onCommand?(command: string, outcome: 'ok' | 'error'): void;
}

export function sdpOf(m: SipMessageBase): string | undefined {
  const type = m.get('Content-Type');
  if (!type || !/^application\/sdp\b/i.test(type.trim()) || m.body.length === 0) return undefined;
  return m.body.toString('utf8');
}

export class MediaAnchor {
  readonly #client: RtpengineClient;

  constructor(client: RtpengineClient) {
    this.#client = client;
  }

  /**
   * Converts the offer in `request` for a target on `targetSide` if needed.
   * Returns the side the answer must be converted for, or undefined when nothing was done.
   */
  async offer(request: SipRequest, targetSide: MediaSide): Promise<MediaSide | undefined> {
    const sdp = sdpOf(request);
    if (!sdp) return undefined;
    const offerSide = sdpSide(sdp);
    if (offerSide === targetSide) return undefined;
    const reply = await this.#client.command({
      command: 'offer',
      'call-id': request.callId,
      'from-tag': request.from.params.get('tag') ?? '',
      sdp,
      ...offerFlags(targetSide),
    });
    if (typeof reply.sdp !== 'string') throw new RtpengineError('rtpengine offer reply has no SDP', 'bad-reply');
    request.body = Buffer.from(targetSide === 'rtp' ? stripWebrtcAttributes(reply.sdp) : reply.sdp, 'utf8');
    return offerSide;
  }

  /** Converts the answer in `response` back for the offerer's side. */
  async answer(request: SipRequest, response: SipResponse, offererSide: MediaSide): Promise<void> {
    const sdp = sdpOf(response);
    if (!sdp) return;
    const reply = await this.#client.command({
      command: 'answer',
      'call-id': request.callId,
      'from-tag': request.from.params.get('tag') ?? '',
      'to-tag': response.to.params.get('tag') ?? '',
      sdp,
      ...answerFlags(offererSide),
    });
    if (typeof reply.sdp !== 'string') throw new RtpengineError('rtpengine answer reply has no SDP', 'bad-reply');
    // A phone that called a browser gets the browser's answer: the same WebRTC leftovers as an offer.
    response.body = Buffer.from(offererSide === 'rtp' ? stripWebrtcAttributes(reply.sdp) : reply.sdp, 'utf8');
  }

  /** Ends the call in rtpengine; unknown calls (never anchored) are fine. */
  async release(callId: string): Promise<void> {
    try {
      await this.#client.command({ command: 'delete', 'call-id': callId });
    } catch (err) {
      if (!(err instanceof RtpengineError && err.kind === 'error-reply')) throw err;
    }
  }

  close(): void {
    this.#client.close();
  }
}
