import t from 'tap';
import { ownCopy } from '../../../sip/message/own-copy.js';

t.test('ownCopy returns an equal string, short or long, ASCII or not', async (t) => {
  const text = 'REGISTER sip:example.com SIP/2.0\r\nUser-Agent: Téléphone 📞 v1\r\nCall-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n';
  for (const [a, b] of [[0, 5], [34, 61], [63, 104], [0, text.length]] as const) {
    const slice = text.slice(a, b);
    t.equal(ownCopy(slice), slice);
  }
  t.equal(ownCopy(''), '');
});
