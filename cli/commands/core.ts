/** `sipflow core`: runs one core proxy/registrar node until SIGINT/SIGTERM. */
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { coreOptionsSchema, DEV_SECRET } from '../../core/core-options.js';
import { CoreNode } from '../../core/core-node.js';
import { createLocationStore } from '../../core/location/create-store.js';
import { DEFAULT_DRAIN_MS } from '../../runtime/drain.js';
import { formatHostPort } from '../../runtime/host-port.js';
import { drainThenStop, loggerFor, optionsFor, run, stopSignal } from '../command-kit.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

export function register(program: Command): void {
  program
    .command('core')
    .description('run a core node: transaction-stateful proxy and registrar over UDP/TCP')
    .option('--udp <host:port>', 'UDP listen address (required); env SIPFLOW_UDP')
    .option('--tcp <host:port>', 'TCP listen address')
    .option('--advertise <host:port>', 'address other nodes reach this core at (default: --udp)')
    .option('--domain <domain>', 'SIP domain served (required)')
    .option('--aliases <list>', 'more host names/IPs meaning the same domain, comma-separated')
    .option('--store <kind>', 'location store: memory|cassandra (default memory)')
    .option('--cassandra <hosts>', 'Cassandra contact points HOST:PORT[,...] (default 127.0.0.2:9042)')
    .option('--dc <name>', 'local Cassandra datacenter (default DC1)')
    .option('--keyspace <name>', 'Cassandra keyspace (default sipflow)')
    .option('--replication <dcs>', 'keyspace replication when created, e.g. DC1:3,DC2:3')
    .option('--consistency <level>', 'LOCAL_QUORUM (default), LOCAL_ONE, QUORUM, ...')
    .option('--auth <on|off>', 'digest authentication (default on)')
    .option('--auth-algorithms <list>', 'digest challenges offered, in order: MD5 (default), SHA-256, or both')
    .option('--metrics <host:port>', 'serve /metrics, /healthz, /readyz, /status here')
    .option('--secret <secrets>', 'cluster secrets, newest first, comma-separated (env SIPFLOW_SECRET)')
    .option('--min-expires <s>', 'registrar Min-Expires (default 60)')
    .option('--max-expires <s>', 'registrar maximum expiry (default 3600)')
    .option('--flow-timer <s>', 'RFC 5626 Flow-Timer for outbound UAs (default 120)')
    .option('--rate-limit <n>', 'messages per second per source before shedding (default 500)')
    .option('--max-message-bytes <n>', 'largest SIP message accepted (default 65535)')
    .option('--drain-timeout <ms>', `on SIGTERM, answer health pings 503 and wait this long for calls being set up here before stopping; a second signal stops at once (default ${DEFAULT_DRAIN_MS.core})`)
    .option('--trusted <list>', 'sources exempt from the rate limit (the edges): IP, IP:port or CIDR, comma-separated')
    .option('--rtpengine <hosts>', 'rtpengine ng addresses HOST:PORT[,...]')
    .action((_opts: unknown, cmd: Command) =>
      run(async () => {
        const o = optionsFor(coreOptionsSchema, cmd, 'core');
        const log = loggerFor(cmd, 'core');
        if (o.secret.includes(DEV_SECRET)) log.warn('using the built-in development secret: set --secret / SIPFLOW_SECRET on every node of a real cluster');
        const store =
          o.store === 'memory'
            ? createLocationStore({ kind: 'memory' })
            : createLocationStore({
                kind: 'cassandra',
                contactPoints: o.cassandra.map(formatHostPort),
                localDataCenter: o.dc,
                keyspace: o.keyspace,
                ...(o.replication ? { replication: o.replication } : {}),
                readConsistency: o.consistency,
                writeConsistency: o.consistency,
                nodeId: formatHostPort(o.udp),
                onLog: (level, message) => log.debug({ level }, message),
              });
        await store.ping();
        const node = new CoreNode(
          {
            udp: o.udp,
            ...(o.advertise ? { advertise: o.advertise } : {}),
            ...(o.tcp ? { tcp: o.tcp } : {}),
            domain: o.domain,
            aliases: o.aliases,
            auth: o.auth,
            authAlgorithms: o.authAlgorithms,
            secrets: o.secret,
            policy: { minExpires: o.minExpires, maxExpires: o.maxExpires, flowTimer: o.flowTimer },
            ...(o.metrics ? { metrics: o.metrics } : {}),
            ...(process.env.SIPFLOW_ADMIN_TOKEN ? { adminToken: process.env.SIPFLOW_ADMIN_TOKEN } : {}),
            rateLimit: o.rateLimit,
            trustedSources: o.trusted,
            maxMessageBytes: o.maxMessageBytes,
            version: pkg.version,
            ...(o.rtpengine ? { rtpengine: o.rtpengine } : {}),
          },
          { store, log, defaultMetrics: true },
        );
        const addr = await node.start();
        log.info({ ready: true, node: node.nodeId, udp: formatHostPort(addr.udp), tcp: addr.tcp && formatHostPort(addr.tcp), metrics: addr.metrics && formatHostPort(addr.metrics), domain: o.domain, store: o.store, auth: o.auth }, 'core ready');
        // SIGHUP re-reads flags, environment and config file: log level, rate limit and trusted
        // sources change in place, without dropping anything.
        process.on('SIGHUP', () => {
          try {
            const next = optionsFor(coreOptionsSchema, cmd, 'core');
            const level = (cmd.optsWithGlobals() as { logLevel?: string }).logLevel ?? process.env.SIPFLOW_LOG_LEVEL;
            if (level) log.level = level;
            node.reconfigure({ rateLimit: next.rateLimit, trustedSources: next.trusted });
            log.info({ rateLimit: next.rateLimit, trusted: next.trusted.length, level: log.level }, 'configuration reloaded (SIGHUP)');
          } catch (err) {
            log.error({ err: (err as Error).message }, 'SIGHUP reload refused: the new configuration is invalid; keeping the old one');
          }
        });
        await drainThenStop(log, 'core', node, o.drainTimeout, await stopSignal());
        await store.close();
        log.info('core stopped');
      }),
    );
}
