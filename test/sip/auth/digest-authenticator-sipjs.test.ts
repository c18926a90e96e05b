/**
 * Interop with SIP.js 0.21 (the web-demo softphone). Read from
 * node_modules/sip.js/lib/core/messages/digest-authentication.js and parser.js:
 *  - DigestAuthentication.authenticate() gives up unless `algorithm` is absent or "MD5";
 *  - it picks qop "auth" when offered, cnonce = 12 random base-32 characters, nc as 8 hex digits
 *    counting up per authenticate() call, uri = String(request.ruri);
 *  - its message Parser keeps only the LAST WWW-Authenticate / Proxy-Authenticate header
 *    (`setHeader` replaces), so with our SHA-256-first order it answers the MD5 challenge.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Grammar } from 'sip.js';
import {
  DigestAuthentication,
  LoggerFactory,
  OutgoingRequestMessage,
  Parser,
  type IncomingResponseMessage,
} from 'sip.js/lib/core/index.js';
import { DigestAuthenticator, type LookupHa1 } from '../../../sip/auth/digest-authenticator.js';

const REALM = 'sipflow.example';
const SECRET = 'interop-cluster-secret-0123456789abcdef';
const USER = 'alice';
const PASSWORD = 'wonderland';

const lookup: LookupHa1 = async (username, realm, algorithm) =>
  username === USER ? createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(`${username}:${realm}:${PASSWORD}`).digest('hex') : undefined;

const loggerFactory = new LoggerFactory();
loggerFactory.builtinEnabled = false;

function registerRequest(): OutgoingRequestMessage {
  const ruri = Grammar.URIParse(`sip:${REALM}`)!;
  const aor = Grammar.URIParse(`sip:${USER}@${REALM}`)!;
  return new OutgoingRequestMessage('REGISTER', ruri, aor, aor, { callId: 'interop-1', cseq: 1 });
}

/** A 401 as our registrar would send it, read by SIP.js's own parser. */
function parse401(challenges: string[]): IncomingResponseMessage {
  const wire =
    'SIP/2.0 401 Unauthorized\r\n' +
    'Via: SIP/2.0/WSS client.invalid;branch=z9hG4bK776asdhds\r\n' +
    `From: <sip:${USER}@${REALM}>;tag=1928301774\r\n` +
    `To: <sip:${USER}@${REALM}>;tag=a73kszlfl\r\n` +
    'Call-ID: interop-1\r\n' +
    'CSeq: 1 REGISTER\r\n' +
    challenges.map((c) => `WWW-Authenticate: ${c}\r\n`).join('') +
    'Content-Length: 0\r\n\r\n';
  const message = Parser.parseMessage(wire, loggerFactory.getLogger('test'));
  if (message === undefined || !('statusCode' in message)) throw new Error('SIP.js did not parse our 401');
  return message as IncomingResponseMessage;
}

t.test('SIP.js answers our default challenges (SHA-256 then MD5) and we accept it', async (t) => {
  const node = new DigestAuthenticator({ realm: REALM, secrets: [SECRET] });
  const response = parse401(node.challenge());
  const challenge = response.parseHeader('www-authenticate');
  t.equal(challenge.algorithm, 'MD5', 'SIP.js kept the last header');

  const request = registerRequest();
  const credentials = new DigestAuthentication(loggerFactory, undefined, USER, PASSWORD);
  t.ok(credentials.authenticate(request, challenge), 'SIP.js produced credentials');
  const header = credentials.toString();
  t.match(header, /^Digest algorithm=MD5, username="alice", realm="sipflow\.example", nonce="[^"]+", uri="sip:sipflow\.example", response="[0-9a-f]{32}", qop=auth, cnonce="[0-9a-v]{12}", nc=00000001$/);

  const verdict = await node.verify({ method: 'REGISTER', requestUri: String(request.ruri), headerValues: [header] }, lookup);
  t.same(verdict, { ok: true, username: USER, realm: REALM, algorithm: 'MD5' });

  // SIP.js counts nc up when it authenticates again with the same nonce.
  t.ok(credentials.authenticate(request, challenge));
  const again = credentials.toString();
  t.match(again, /nc=00000002$/);
  t.equal((await node.verify({ method: 'REGISTER', requestUri: String(request.ruri), headerValues: [again] }, lookup)).ok, true);
  t.same(
    await node.verify({ method: 'REGISTER', requestUri: String(request.ruri), headerValues: [header] }, lookup),
    { ok: false, reason: 'replay' },
    'its first request replayed',
  );
});

t.test('SIP.js reads stale=true in our challenge', async (t) => {
  const node = new DigestAuthenticator({ realm: REALM, secrets: [SECRET] });
  const challenge = parse401(node.challenge(REALM, { stale: true })).parseHeader('www-authenticate');
  t.equal(challenge.stale, true);
  t.equal(challenge.realm, REALM);
  t.same(challenge.qop, ['auth']);
});

t.test('guard: SIP.js refuses a SHA-256 challenge, so MD5 must stay the LAST header for SIP.js realms', async (t) => {
  const node = new DigestAuthenticator({ realm: REALM, secrets: [SECRET], algorithms: ['MD5', 'SHA-256'] });
  const challenge = parse401(node.challenge()).parseHeader('www-authenticate');
  t.equal(challenge.algorithm, 'SHA-256');
  const credentials = new DigestAuthentication(loggerFactory, undefined, USER, PASSWORD);
  t.equal(credentials.authenticate(registerRequest(), challenge), false, 'if this starts passing, SIP.js learned SHA-256');
});

t.test("SIP.js's computation reproduced from its source is accepted (MD5, qop=auth, its header layout)", async (t) => {
  const node = new DigestAuthenticator({ realm: REALM, secrets: [SECRET] });
  const md5Challenge = node.challenge()[1]!;
  const nonce = /nonce="([^"]+)"/.exec(md5Challenge)![1]!;
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  // createRandomToken(12): base-32 digits.
  const cnonce = Array.from({ length: 12 }, (_, i) => ((i * 7 + 3) % 32).toString(32)).join('');
  const ncHex = '00000001';
  const uri = `sip:${REALM}`;
  const ha1 = md5(`${USER}:${REALM}:${PASSWORD}`);
  const ha2 = md5(`REGISTER:${uri}`);
  const response = md5(`${ha1}:${nonce}:${ncHex}:${cnonce}:auth:${ha2}`);
  const header =
    `Digest algorithm=MD5, username="${USER}", realm="${REALM}", nonce="${nonce}", uri="${uri}", ` +
    `response="${response}", qop=auth, cnonce="${cnonce}", nc=${ncHex}`;
  t.same(await node.verify({ method: 'REGISTER', requestUri: uri, headerValues: [header] }, lookup), {
    ok: true,
    username: USER,
    realm: REALM,
    algorithm: 'MD5',
  });
});
