/** Options of `sipflow core`, one zod schema shared by flags, environment and config file. */
import { z } from 'zod';
import { DEFAULT_DRAIN_MS } from '../runtime/drain.js';
import { hostPortListSchema, hostPortSchema } from '../runtime/host-port.js';
import { onOff, positiveInt } from '../runtime/options.js';

export const DEV_SECRET = 'sipflow-development-secret-change-me';

export const coreOptionsSchema = z.object({
  udp: hostPortSchema,
  tcp: hostPortSchema.optional(),
  /** Address other nodes and UAs reach this core at, when it differs from --udp (NAT, 0.0.0.0). */
  advertise: hostPortSchema.optional(),
  domain: z
    .string({ required_error: 'required (the SIP domain this cluster serves, e.g. example.com)' })
    .min(1)
    .regex(/^[A-Za-z0-9.-]+$/, 'expected a host name such as example.com')
    .transform((d) => d.toLowerCase()),
  /** More domains served besides --domain (e.g. the node's own IP, as desk phones often register to it). */
  aliases: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)),
  store: z.enum(['memory', 'cassandra']).default('memory'),
  cassandra: hostPortListSchema.default('127.0.0.2:9042'),
  dc: z.string().min(1).default('DC1'),
  keyspace: z.string().regex(/^[a-z_][a-z0-9_]{0,47}$/, 'lower-case letters, digits and _ only').default('sipflow'),
  /** NetworkTopologyStrategy replication, e.g. "DC1:1,DC2:1"; default: RF 1 in --dc (dev). */
  replication: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return undefined;
      const out: Record<string, number> = {};
      for (const part of s.split(',')) {
        const m = /^\s*([A-Za-z0-9_-]+)\s*:\s*(\d+)\s*$/.exec(part);
        if (!m) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected DC:RF[,DC:RF...], got '${part}'` });
          return z.NEVER;
        }
        out[m[1]!] = Number(m[2]);
      }
      return out;
    }),
  consistency: z.enum(['ONE', 'LOCAL_ONE', 'LOCAL_QUORUM', 'QUORUM', 'EACH_QUORUM']).default('LOCAL_QUORUM'),
  auth: onOff.default('on'),
  /**
   * Digest algorithms offered, one challenge each, in this order. Clients disagree on which
   * challenge they read: SIPp 3.6 and baresip 1.0 take the first and need MD5 there, SIP.js 0.21
   * takes the last and needs MD5 there. MD5 alone is the only list all of them accept; a cluster
   * whose UAs all do RFC 8760 properly can offer "SHA-256,MD5".
   */
  authAlgorithms: z
    .string()
    .default('MD5')
    .transform((s) => s.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean))
    .refine((l) => l.length > 0 && l.every((a) => a === 'MD5' || a === 'SHA-256'), 'expected MD5, SHA-256 or both, comma-separated')
    .transform((l) => l as ('MD5' | 'SHA-256')[]),
  metrics: hostPortSchema.optional(),
  /** Cluster secrets, newest first, comma-separated: flow tokens, nonces and temp-GRUUs. */
  secret: z
    .string()
    .default(DEV_SECRET)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .refine((l) => l.length > 0 && l.every((x) => x.length >= 16), 'each secret must be at least 16 characters'),
  minExpires: positiveInt.default(60),
  maxExpires: positiveInt.default(3600),
  flowTimer: positiveInt.default(120),
  /** Per-source message budget per second before a source is shed (flood protection). */
  rateLimit: positiveInt.default(500),
  maxMessageBytes: positiveInt.default(65535),
  /** SIGTERM: how long to wait for calls being set up here before stopping anyway, ms. */
  drainTimeout: z.coerce.number().int().min(0).max(600_000).default(DEFAULT_DRAIN_MS.core),
  rtpengine: hostPortListSchema.optional(),
  /** Sources exempt from the rate limit (the cluster's own edges): IP, IP:port or CIDR (10.0.0.0/8). */
  trusted: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
});

export type CoreOptions = z.infer<typeof coreOptionsSchema>;
