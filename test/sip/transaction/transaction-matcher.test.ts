import t from 'tap';
import { createResponse } from '../../../sip/message/factory.js';
import type { SipRequest } from '../../../sip/message/model.js';
import { ClientInviteTransaction } from '../../../sip/transaction/client-invite-transaction.js';
import { ClientNonInviteTransaction } from '../../../sip/transaction/client-non-invite-transaction.js';
import { ServerInviteTransaction } from '../../../sip/transaction/server-invite-transaction.js';
import { ServerNonInviteTransaction } from '../../../sip/transaction/server-non-invite-transaction.js';
import { TransactionMatcher } from '../../../sip/transaction/transaction-matcher.js';
import { clientKey, serverKey, isRfc3261Branch, sentBy, viaIdentity } from '../../../sip/transaction/transaction-key.js';
import type { ReceivedFrom } from '../../../sip/transport/transport.js';
import { parseResponse, request, response, setup, UDP_TARGET, type RequestFixture } from './helpers.js';

const SOURCE: ReceivedFrom = { protocol: 'udp', remoteAddress: '192.0.2.1', remotePort: 5060, localAddress: '192.0.2.9', localPort: 5060 };

function serverTx(matcher: TransactionMatcher, f: RequestFixture) {
  const { ctx } = setup();
  const req = request(f);
  const id = matcher.serverIdFor(req);
  const tx = req.method === 'INVITE'
    ? new ServerInviteTransaction(id, req, SOURCE, { protocol: 'udp', host: '192.0.2.1', port: 5060 }, ctx, 'off')
    : new ServerNonInviteTransaction(id, req, SOURCE, { protocol: 'udp', host: '192.0.2.1', port: 5060 }, ctx);
  matcher.addServer(tx);
  return tx;
}

function clientTx(matcher: TransactionMatcher, req: SipRequest) {
  const { ctx } = setup();
  const id = TransactionMatcher.clientKeyFor(req)!;
  const tx = req.method === 'INVITE' ? new ClientInviteTransaction(id, req, UDP_TARGET, ctx) : new ClientNonInviteTransaction(id, req, UDP_TARGET, ctx);
  matcher.addClient(tx);
  return tx;
}

t.test('keys', async (t) => {
  const inv = request({ branch: 'z9hG4bKabc', sentBy: 'Host.Example.com' });
  t.equal(sentBy(inv.topVia!), 'host.example.com:5060', 'sent-by gets its default port and lower case');
  t.equal(serverKey(inv.topVia, 'ACK'), serverKey(inv.topVia, 'INVITE'), 'ACK keys like INVITE');
  t.not(serverKey(inv.topVia, 'CANCEL'), serverKey(inv.topVia, 'INVITE'));
  t.equal(clientKey('z9hG4bKAbC', 'INVITE'), clientKey('z9hg4bkabc', 'INVITE'), 'branch is a token: case-insensitive');
  t.notOk(isRfc3261Branch('1234'));
  t.notOk(isRfc3261Branch('z9hG4bK'), 'the cookie alone is no branch');
  t.equal(serverKey(request({ branch: 'old-style' }).topVia, 'INVITE'), undefined);
  const a = request({ extraHeaders: [] }).topVia!;
  const b = { ...a, params: new Map([...a.params, ['received', '10.0.0.1'], ['rport', '1234']]) };
  t.equal(viaIdentity(a), viaIdentity(b), 'received/rport stamped by this hop do not change the Via identity');
});

t.test('§17.2.3 rule 1: branch, sent-by and method; ACK matches the INVITE transaction', async (t) => {
  const m = new TransactionMatcher();
  const invite = serverTx(m, { method: 'INVITE', branch: 'z9hG4bK1' });
  const options = serverTx(m, { method: 'OPTIONS', branch: 'z9hG4bK2' });
  t.equal(m.matchRequest(request({ method: 'INVITE', branch: 'z9hG4bK1' })), invite, 'a retransmission matches');
  t.equal(m.matchRequest(request({ method: 'ACK', branch: 'z9hG4bK1' })), invite, 'ACK matches the INVITE');
  t.equal(m.matchRequest(request({ method: 'OPTIONS', branch: 'z9hG4bK2' })), options);
  t.equal(m.matchRequest(request({ method: 'INVITE', branch: 'z9hG4bK1', sentBy: 'evil.example.com' })), undefined, 'another sent-by with the same branch is another transaction');
  t.equal(m.matchRequest(request({ method: 'CANCEL', branch: 'z9hG4bK1' })), undefined, 'CANCEL is its own transaction');
  t.equal(m.matchRequest(request({ method: 'INVITE', branch: 'z9hG4bK3' })), undefined);
  t.equal(m.serverCount, 2);
  m.removeServer(invite);
  t.equal(m.matchRequest(request({ method: 'INVITE', branch: 'z9hG4bK1' })), undefined);
  t.equal(m.serverCount, 1);
});

t.test('§9.2: a CANCEL finds the INVITE server transaction with the same branch and sent-by', async (t) => {
  const m = new TransactionMatcher();
  const invite = serverTx(m, { method: 'INVITE', branch: 'z9hG4bKc1' });
  serverTx(m, { method: 'OPTIONS', branch: 'z9hG4bKc2' });
  t.equal(m.matchCancel(request({ method: 'CANCEL', branch: 'z9hG4bKc1' })), invite);
  t.equal(m.matchCancel(request({ method: 'CANCEL', branch: 'z9hG4bKc2' })), undefined, 'only INVITE transactions are cancelled');
  t.equal(m.matchCancel(request({ method: 'CANCEL', branch: 'z9hG4bKc1', sentBy: 'other.example.com' })), undefined);
  // RFC 2543 CANCEL
  const old = serverTx(m, { method: 'INVITE', branch: '', callId: 'old@x', cseq: 7 });
  t.equal(m.matchCancel(request({ method: 'CANCEL', branch: '', callId: 'old@x', cseq: 7 })), old);
  t.equal(m.matchCancel(request({ method: 'CANCEL', branch: '', callId: 'old@x', cseq: 8 })), undefined);
});

t.test('§17.2.3 RFC 2543 fallback: Request-URI, To tag, From tag, Call-ID, CSeq and top Via', async (t) => {
  const m = new TransactionMatcher();
  const base = { branch: '', callId: 'legacy@host', cseq: 1 };
  const invite = serverTx(m, { ...base, method: 'INVITE' });
  t.equal(m.matchRequest(request({ ...base, method: 'INVITE' })), invite, 'the INVITE retransmission matches');
  t.equal(m.matchRequest(request({ ...base, method: 'INVITE', uri: 'sip:carol@chicago.com' })), undefined, 'Request-URI differs');
  t.equal(m.matchRequest(request({ ...base, method: 'INVITE', fromTag: 'other' })), undefined, 'From tag differs');
  t.equal(m.matchRequest(request({ ...base, method: 'INVITE', sentBy: 'other.host' })), undefined, 'top Via differs');
  t.equal(m.matchRequest(request({ ...base, method: 'INVITE', cseq: 2 })), undefined, 'CSeq differs');
  t.equal(m.matchRequest(request({ ...base, method: 'INVITE', uri: 'SIP:bob@BILOXI.COM' })), invite, 'URI comparison follows §19.1.4 (scheme and host case-insensitive)');

  // "the To tag of the ACK matches the To tag of the response sent by the server transaction"
  t.equal(m.matchRequest(request({ ...base, method: 'ACK', toTag: 'uas1' })), undefined, 'no response sent yet');
  invite.respond(createResponse(invite.request, 486, undefined, { toTag: 'uas1' }));
  t.equal(m.matchRequest(request({ ...base, method: 'ACK', toTag: 'uas1' })), invite);
  t.equal(m.matchRequest(request({ ...base, method: 'ACK', toTag: 'uas2' })), undefined, 'an ACK with another To tag (a 2xx ACK from another branch) does not match');

  const bye = serverTx(m, { ...base, method: 'BYE', cseq: 2, toTag: 'd1' });
  t.equal(m.matchRequest(request({ ...base, method: 'BYE', cseq: 2, toTag: 'd1' })), bye);
  t.equal(m.matchRequest(request({ ...base, method: 'BYE', cseq: 2, toTag: 'd2' })), undefined, 'To tag differs');
  t.equal(m.serverCount, 2);
  m.removeServer(invite);
  m.removeServer(bye);
  t.equal(m.serverCount, 0);
  t.equal(m.matchRequest(request({ ...base, method: 'BYE', cseq: 2, toTag: 'd1' })), undefined);
});

t.test('§17.1.3: a response matches by top Via branch and CSeq method, and §18.1.2 sent-by', async (t) => {
  const m = new TransactionMatcher();
  const invReq = request({ method: 'INVITE', branch: 'z9hG4bKr1', sentBy: 'proxy.example.com:5070' });
  const invite = clientTx(m, invReq);
  const cancelReq = request({ method: 'CANCEL', branch: 'z9hG4bKr1', sentBy: 'proxy.example.com:5070' });
  const cancel = clientTx(m, cancelReq);
  t.equal(m.matchResponse(response(invReq, 180, 'a')), invite);
  t.equal(m.matchResponse(response(cancelReq, 200, 'a')), cancel, 'the CANCEL response goes to the CANCEL transaction (same branch, other method)');
  const foreign = parseResponse(response(invReq, 200, 'a').toString().replace('proxy.example.com:5070', 'elsewhere.example.com:5070'));
  t.equal(m.matchResponse(foreign), undefined, 'a sent-by we did not insert is not ours');
  const other = parseResponse(response(invReq, 200, 'a').toString().replace('z9hG4bKr1', 'z9hG4bKr2'));
  t.equal(m.matchResponse(other), undefined);
  t.equal(m.clientCount, 2);
  m.removeClient(invite);
  m.removeClient(cancel);
  t.equal(m.clientCount, 0);
});
