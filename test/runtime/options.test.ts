import t from 'tap';
import { resolveOptions, OptionError, envName } from '../../runtime/options.js';
import { coreOptionsSchema } from '../../core/core-options.js';

t.test('flags beat environment beat config file', async (t) => {
  const file = { core: { udp: '127.0.0.1:1', domain: 'file.example' } };
  const env = { SIPFLOW_DOMAIN: 'env.example' };
  const o = resolveOptions(coreOptionsSchema, { flags: { udp: '127.0.0.1:3' }, env, file, section: 'core' });
  t.equal(o.domain, 'env.example');
  t.same(o.udp, { host: '127.0.0.1', port: 3 });
  t.equal(envName('maxMessageBytes'), 'SIPFLOW_MAX_MESSAGE_BYTES');
});

t.test('a bad value is one line naming the option', async (t) => {
  t.throws(() => resolveOptions(coreOptionsSchema, { flags: { udp: 'x', domain: 'a.b' } }), new OptionError("--udp: expected HOST:PORT, got 'x'"));
  t.throws(() => resolveOptions(coreOptionsSchema, { flags: { udp: '127.0.0.1:5060' } }), /--domain: required/);
  t.throws(() => resolveOptions(coreOptionsSchema, { flags: { udp: '127.0.0.1:5060', domain: 'a.b', store: 'redis' } }), /--store: /);
});
