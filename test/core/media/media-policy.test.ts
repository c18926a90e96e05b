import t from 'tap';
import { sdpSide, uriSide, offerFlags, answerFlags, stripWebrtcAttributes } from '../../../core/media/media-policy.js';
import { parseUri } from '../../../sip/grammar/uri.js';

const browserSdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=msid:a b\r\na=ssrc:1 cname:x\r\na=rtcp-mux\r\n';
const phoneSdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\n';

t.test('the SDP profile tells a browser from a desk phone', async (t) => {
  t.equal(sdpSide(browserSdp), 'webrtc');
  t.equal(sdpSide(phoneSdp), 'rtp');
});

t.test('WebSocket targets are browsers; everything else is plain RTP', async (t) => {
  t.equal(uriSide(parseUri('sip:k3j2@df7jal23ls0d.invalid;transport=ws')), 'webrtc');
  t.equal(uriSide(parseUri('sip:deskphone@127.0.0.1:5070')), 'rtp');
  t.equal(uriSide(parseUri('sip:alice@example.com'), [parseUri('sip:tok@127.0.0.1:8081;transport=ws;lr')]), 'webrtc', 'a Route through an edge WebSocket side');
});

t.test('flags follow the recipes that work with rtpengine 10.5', async (t) => {
  t.equal(offerFlags('rtp')['transport-protocol'], 'RTP/AVP');
  t.equal(offerFlags('rtp').ICE, 'remove');
  t.equal(answerFlags('webrtc').DTLS, 'passive', 'DTLS passive avoids the handshake race');
  t.equal(offerFlags('webrtc')['transport-protocol'], 'UDP/TLS/RTP/SAVPF');
  t.equal(answerFlags('rtp').ICE, 'remove');
});

t.test('WebRTC-only attributes are stripped for phones', async (t) => {
  const s = stripWebrtcAttributes(browserSdp);
  t.notMatch(s, /a=msid|a=ssrc/);
  t.match(s, /a=rtcp-mux/);
});
