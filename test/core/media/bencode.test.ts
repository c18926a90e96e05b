import t from 'tap';
import fc from 'fast-check';
import { bdecode, bencode, BencodeError } from '../../../core/media/bencode.js';

t.test('encodes as the ng protocol expects: sorted keys, byte lengths, i<n>e', async (t) => {
  t.equal(bencode({ sdp: 'v=0é', command: 'offer', n: 3, flags: ['a', 'b'] }).toString(), 'd7:command5:offer5:flagsl1:a1:be1:ni3e3:sdp5:v=0\u00e9e');
});

t.test('decodes what it encodes', async (t) => {
  const v = { result: 'ok', sdp: 'v=0\r\nm=audio 30000 RTP/AVP 0\r\n', list: ['x', 7, { y: 'z' }] };
  t.same(bdecode(bencode(v)), v);
});

t.test('garbage never escapes as anything but a BencodeError', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        bdecode(Buffer.from(bytes));
      } catch (err) {
        if (!(err instanceof BencodeError)) throw err;
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random inputs');
});
