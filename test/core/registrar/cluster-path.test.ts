import t from 'tap';
import { HomeFlows } from '../../../core/proxy/home-flows.js';
import { FlowTokenCodec } from '../../../sip/outbound/flow-token.js';

const SECRETS = ['cluster-path-secret-0123456789'];
const home = new HomeFlows(SECRETS, { host: '10.0.0.1', port: 5060 }, [{ host: '10.0.0.1', port: 5060 }]);
const token = (node: string, secrets = SECRETS): string => new FlowTokenCodec(secrets, node).encode({ transport: 'ws', host: '192.0.2.7', port: 0, flow: 'f1' });

t.test('RFC 3327 §5.3: a Path is believed when a node of the cluster wrote it for itself', async (t) => {
  t.ok(home.isClusterPath(`<sip:${token('10.0.0.9:5070')}@10.0.0.9:5070;transport=tcp;lr;ob>`), 'an edge’s Path');
  t.ok(home.isClusterPath(`<sip:${token('[2001:db8::9]:5070')}@[2001:db8::9]:5070;transport=tcp;lr>`), 'IPv6');
  t.ok(home.isClusterPath(`<sip:${token('edge-1.example:5070')}@EDGE-1.example:5070;lr>`), 'host names compare case-insensitively');
  t.notOk(home.isClusterPath(`<sip:${token('10.0.0.9:5070')}@10.0.0.66:5070;lr>`), 'a real token moved to another host');
  t.notOk(home.isClusterPath(`<sip:${token('10.0.0.9:5070')}@10.0.0.9:5071;lr>`), 'or another port');
  t.notOk(home.isClusterPath(`<sip:${token('10.0.0.9:5070', ['a-secret-nobody-uses-1234'])}@10.0.0.9:5070;lr>`), 'signed with another secret');
  t.notOk(home.isClusterPath('<sip:10.0.0.9:5070;lr>'), 'no token');
  t.notOk(home.isClusterPath('<sip:proxy.example.net;lr>'), 'a stranger’s proxy');
  t.notOk(home.isClusterPath('garbage'), 'not a name-addr');
});
