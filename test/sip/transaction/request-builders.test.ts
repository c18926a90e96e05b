import t from 'tap';
import { buildCancel } from '../../../sip/transaction/request-builders.js';
import { request } from './helpers.js';

t.test('§9.1: a CANCEL copies Request-URI, Call-ID, To, From and the CSeq number, has one Via equal to the top Via, and the Routes', async (t) => {
  const inv = request({
    method: 'INVITE',
    extraHeaders: ['Via: SIP/2.0/UDP second.example.com;branch=z9hG4bKlower', 'Route: <sip:edge.example.com;lr>', 'Subject: hi'],
  });
  const cancel = buildCancel(inv);
  t.equal(cancel.method, 'CANCEL');
  t.equal(cancel.uriText, inv.uriText);
  t.equal(cancel.callId, inv.callId);
  t.equal(cancel.get('To'), inv.get('To'));
  t.equal(cancel.get('From'), inv.get('From'));
  t.same(cancel.cseq, { seq: inv.cseq.seq, method: 'CANCEL' });
  t.same(cancel.values('Via'), [inv.values('Via')[0]]);
  t.same(cancel.getAll('Route'), ['<sip:edge.example.com;lr>']);
  t.notOk(cancel.has('Subject'));
  t.notOk(cancel.has('Contact'));
  t.ok(cancel.has('Max-Forwards'));
});

t.test('an ACK cannot be cancelled', async (t) => {
  t.throws(() => buildCancel(request({ method: 'ACK' })), TypeError);
});
