/** HOST:PORT parsing shared by every option that names a socket address ('[::1]:5060' for IPv6). */
import { z } from 'zod';

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(text: string): HostPort | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1]!, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

export const hostPortSchema = z.string().transform((text, ctx) => {
  const hp = parseHostPort(text.trim());
  if (!hp) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected HOST:PORT, got '${text}'` });
    return z.NEVER;
  }
  return hp;
});

export const hostPortListSchema = z.string().transform((text, ctx) => {
  const out: HostPort[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const hp = parseHostPort(part);
    if (!hp) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected HOST:PORT[,HOST:PORT...], got '${part}'` });
      return z.NEVER;
    }
    out.push(hp);
  }
  if (out.length === 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected at least one HOST:PORT' });
    return z.NEVER;
  }
  return out;
});
