/**
 * `sipflow edge`: a WebSocket edge node (RFC 7118) in front of the cores. Flags, SIPFLOW_* env and
 * the `edge` section of the config file all go through one zod schema.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { EdgeNode } from '../../edge/edge-node.js';
import { formatHostPort, hostPortListSchema, hostPortSchema } from '../../runtime/host-port.js';
import { OptionError, positiveInt } from '../../runtime/options.js';
import { DEFAULT_DRAIN_MS } from '../../runtime/drain.js';
import { drainThenStop, loggerFor, optionsFor, run, stopSignal } from '../command-kit.js';

const nonNegativeInt = z.coerce.number().int().min(0);
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

export const edgeSchema = z.object({
  ws: hostPortSchema,
  udp: hostPortSchema.default('127.0.0.1:0'),
  coreTransport: z.enum(['udp', 'tcp']).default('udp'),
  wss: hostPortSchema.optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  core: hostPortListSchema,
  peerCore: hostPortListSchema.optional(),
  metrics: hostPortSchema.optional(),
  secret: list
    .refine((l) => l.every((s) => s.length >= 16), { message: 'each secret must be at least 16 characters' })
    .optional(),
  advertiseHost: z.string().min(1).optional(),
  allowedOrigins: list.optional(),
  maxFlowsPerIp: nonNegativeInt.default(100),
  maxMessageSize: z.coerce.number().int().min(256).max(16 * 1024 * 1024).default(65535),
  handshakeTimeout: nonNegativeInt.default(10_000),
  idleTimeout: nonNegativeInt
    .refine((s) => s === 0 || (s > 8 && s <= 960), { message: 'must be 0 (off) or 9..960 seconds (a uWebSockets.js limit)' })
    .default(120),
  maxBuffered: positiveInt.default(1024 * 1024),
  flowTimerGrace: nonNegativeInt.default(10_000),
  ratePerFlow: nonNegativeInt.default(50),
  ratePerIp: nonNegativeInt.default(1000),
  probeInterval: positiveInt.default(2000),
  probeTimeout: positiveInt.default(1500),
  failureThreshold: positiveInt.default(2),
  drainTimeout: z.coerce.number().int().min(0).max(600_000).default(DEFAULT_DRAIN_MS.edge),
});

export type EdgeCliOptions = z.infer<typeof edgeSchema>;

export function register(program: Command): void {
  program
    .command('edge')
    .description('WebSocket edge node: browsers (SIP over WebSocket, RFC 7118) in front, cores over UDP or TCP behind')
    .option('--ws <host:port>', 'WebSocket listen address (required); env SIPFLOW_WS')
    .option('--udp <host:port>', 'core-facing UDP address, also the edge node id (default 127.0.0.1:0)')
    .option('--core-transport <udp|tcp>', 'how requests go to the cores; tcp also listens on TCP at the --udp port, and every core must listen on TCP at its listed port (default udp)')
    .option('--wss <host:port>', 'TLS WebSocket listen address (needs --cert and --key)')
    .option('--cert <file>', 'PEM certificate for --wss')
    .option('--key <file>', 'PEM private key for --wss')
    .option('--core <host:port,...>', 'cores to forward to (required); env SIPFLOW_CORE')
    .option('--peer-core <host:port,...>', "other datacenters' cores: their requests reach browsers here, nothing is forwarded to them; env SIPFLOW_PEER_CORE")
    .option('--metrics <host:port>', 'serve /metrics, /healthz, /readyz, /status here (not loopback: needs SIPFLOW_ADMIN_TOKEN)')
    .option('--secret <secret,...>', 'cluster secret(s) for flow tokens, newest first; env SIPFLOW_SECRET')
    .option('--advertise-host <host>', 'host written into Path/Record-Route/Via when bound to 0.0.0.0 or ::')
    .option('--allowed-origins <origin,...>', 'Origin values allowed to connect (default any)')
    .option('--max-flows-per-ip <n>', 'open WebSockets per remote IP, 0 = unlimited (default 100)')
    .option('--max-message-size <bytes>', 'largest WebSocket message (default 65535)')
    .option('--handshake-timeout <ms>', 'close a WebSocket that sends no SIP within this time, 0 = off (default 10000)')
    .option('--idle-timeout <seconds>', 'uWS idle timeout with automatic pings, 0 = off (default 120)')
    .option('--max-buffered <bytes>', 'unread bytes a browser may leave before its flow is closed (default 1048576)')
    .option('--flow-timer-grace <ms>', 'grace after a Flow-Timer before an idle flow is closed (default 10000)')
    .option('--rate-per-flow <n>', 'messages a second per WebSocket, 0 = unlimited (default 50)')
    .option('--rate-per-ip <n>', 'messages a second per remote IP, 0 = unlimited (default 1000)')
    .option('--probe-interval <ms>', 'OPTIONS health check period per core (default 2000)')
    .option('--probe-timeout <ms>', 'probe deadline (default 1500)')
    .option('--failure-threshold <n>', 'failed probes in a row that mark a core down (default 2)')
    .option('--drain-timeout <ms>', `on SIGTERM, take no new WebSockets and wait this long for requests on their way before closing the flows (1001); a second signal stops at once (default ${DEFAULT_DRAIN_MS.edge})`)
    .action(async (_opts: unknown, cmd: Command) => {
      await run(async () => {
        const o = optionsFor(edgeSchema, cmd, 'edge');
        if (o.wss && (!o.cert || !o.key)) throw new OptionError('--wss: needs --cert and --key');
        if (!o.wss && (o.cert || o.key)) throw new OptionError('--cert/--key: given without --wss');
        const log = loggerFor(cmd, 'edge');
        const edge = new EdgeNode({
          ws: o.ws,
          udp: o.udp,
          coreTransport: o.coreTransport,
          ...(o.wss && o.cert && o.key ? { wss: { ...o.wss, certFile: o.cert, keyFile: o.key } } : {}),
          cores: o.core,
          ...(o.peerCore ? { peerCores: o.peerCore } : {}),
          ...(o.metrics ? { metrics: o.metrics } : {}),
          ...(process.env.SIPFLOW_ADMIN_TOKEN ? { adminToken: process.env.SIPFLOW_ADMIN_TOKEN } : {}),
          ...(o.secret ? { secrets: o.secret } : {}),
          ...(o.advertiseHost ? { advertiseHost: o.advertiseHost } : {}),
          ...(o.allowedOrigins ? { allowedOrigins: o.allowedOrigins } : {}),
          maxFlowsPerIp: o.maxFlowsPerIp,
          maxMessageSize: o.maxMessageSize,
          handshakeTimeout: o.handshakeTimeout,
          idleTimeoutSeconds: o.idleTimeout,
          maxBuffered: o.maxBuffered,
          flowTimerGrace: o.flowTimerGrace,
          ratePerFlow: o.ratePerFlow,
          ratePerIp: o.ratePerIp,
          probeInterval: o.probeInterval,
          probeTimeout: o.probeTimeout,
          failureThreshold: o.failureThreshold,
          logger: log,
          defaultMetrics: true,
        });
        const stopping = stopSignal();
        const addresses = await edge.start();
        log.info(
          {
            ready: true,
            node: edge.nodeId,
            ws: formatHostPort(addresses.ws),
            wss: addresses.wss && formatHostPort(addresses.wss),
            udp: formatHostPort(addresses.udp),
            tcp: addresses.tcp && formatHostPort(addresses.tcp),
            metrics: addresses.metrics && formatHostPort(addresses.metrics),
            cores: o.core.map(formatHostPort),
            uws: edge.uws.implementation,
          },
          'edge ready',
        );
        // SIGHUP re-reads flags, environment and config file: log level, rate limits and the core
        // list change in place; open flows stay up.
        process.on('SIGHUP', () => {
          void (async () => {
            try {
              const next = optionsFor(edgeSchema, cmd, 'edge');
              const level = (cmd.optsWithGlobals() as { logLevel?: string }).logLevel ?? process.env.SIPFLOW_LOG_LEVEL;
              if (level) log.level = level;
              await edge.reconfigure({ cores: next.core, ...(next.peerCore ? { peerCores: next.peerCore } : {}), ratePerFlow: next.ratePerFlow, ratePerIp: next.ratePerIp });
              log.info({ cores: next.core.map(formatHostPort), ratePerFlow: next.ratePerFlow, ratePerIp: next.ratePerIp, level: log.level }, 'configuration reloaded (SIGHUP)');
            } catch (err) {
              log.error({ err: (err as Error).message }, 'SIGHUP reload refused: the new configuration is invalid; keeping the old one');
            }
          })();
        });
        await drainThenStop(log, 'edge', edge, o.drainTimeout, await stopping);
        log.info('edge stopped');
      });
    });
}
