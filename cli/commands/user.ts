/** `sipflow user add USER --domain D --password P`: provisions a subscriber in the shared store. */
import { Command } from 'commander';
import { z } from 'zod';
import { hostPortListSchema, formatHostPort } from '../../runtime/host-port.js';
import { optionsFor, run } from '../command-kit.js';
import { createLocationStore } from '../../core/location/create-store.js';
import { addSubscriber } from '../../core/subscribers.js';

const userAddSchema = z.object({
  domain: z.string({ required_error: 'required (the SIP domain, e.g. example.com)' }).min(1).transform((d) => d.toLowerCase()),
  password: z.string({ required_error: 'required' }).min(4, 'at least 4 characters'),
  cassandra: hostPortListSchema.default('127.0.0.2:9042'),
  dc: z.string().default('DC1'),
  keyspace: z.string().default('sipflow'),
});

export function register(program: Command): void {
  const user = program.command('user').description('manage subscribers (digest credentials) in the Cassandra store');
  user
    .command('add')
    .description('add or replace a subscriber: stores HA1 (MD5 and SHA-256) for realm = domain')
    .argument('<user>', 'user part of the AOR')
    .option('--domain <domain>', 'SIP domain (realm)')
    .option('--password <password>', 'password (only its HA1 hashes are stored)')
    .option('--cassandra <hosts>', 'Cassandra contact points HOST:PORT[,...]')
    .option('--dc <name>', 'local datacenter of those contact points')
    .option('--keyspace <name>', 'keyspace')
    .action((name: string, _opts: unknown, cmd: Command) =>
      run(async () => {
        if (!/^[A-Za-z0-9._~!$&'()*+,;=-]+$/.test(name)) throw new Error(`user '${name}' has characters not allowed in a SIP user part`);
        const o = optionsFor(userAddSchema, cmd, 'user');
        const store = createLocationStore({ kind: 'cassandra', contactPoints: o.cassandra.map(formatHostPort), localDataCenter: o.dc, keyspace: o.keyspace, readConsistency: 'LOCAL_ONE', writeConsistency: 'LOCAL_QUORUM' });
        try {
          await store.ping();
          await addSubscriber(store, name, o.domain, o.password);
          process.stdout.write(`added sip:${name}@${o.domain}\n`);
        } finally {
          await store.close();
        }
      }),
    );
}
