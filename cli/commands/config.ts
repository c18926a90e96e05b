/**
 * `sipflow config check FILE`: validates a config file against the same schemas the roles use for
 * their flags, and prints every error with its path (e.g. `core.udp: expected HOST:PORT`).
 */
import { Command } from 'commander';
import type { z } from 'zod';
import { readConfigFile, describeIssue } from '../../runtime/options.js';
import { run } from '../command-kit.js';
import { coreOptionsSchema } from '../../core/core-options.js';
import { edgeSchema } from './edge.js';
import { clusterSchema } from './cluster.js';

const SECTIONS: Record<string, z.ZodTypeAny> = { core: coreOptionsSchema, edge: edgeSchema, cluster: clusterSchema };

/** Every problem in the file, as `path: message` lines; empty when the file is valid. */
export function checkConfig(doc: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const common = (doc.common ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(doc)) {
    if (key !== 'common' && !(key in SECTIONS)) errors.push(`${key}: unknown section (expected one of common, ${Object.keys(SECTIONS).join(', ')})`);
  }
  for (const [section, schema] of Object.entries(SECTIONS)) {
    const own = doc[section];
    if (own === undefined) continue;
    if (typeof own !== 'object' || own === null || Array.isArray(own)) {
      errors.push(`${section}: must be a mapping of options`);
      continue;
    }
    const shape = (schema as z.AnyZodObject).shape ?? (schema as unknown as { _def: { schema: z.AnyZodObject } })._def.schema.shape;
    const known = new Set(Object.keys(shape));
    for (const k of Object.keys(own)) if (!known.has(k)) errors.push(`${section}.${k}: unknown option`);
    const merged = { ...Object.fromEntries(Object.entries(common).filter(([k]) => known.has(k))), ...own };
    // Values from YAML may be numbers/booleans; the schemas take what flags give (strings) and coerce.
    const asFlags = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, typeof v === 'number' || typeof v === 'boolean' ? String(v) : v]));
    const result = schema.safeParse(asFlags);
    if (!result.success) for (const issue of result.error.issues) errors.push(`${section}.${describeIssue(issue, 'path')}`);
  }
  return errors;
}

export function register(program: Command): void {
  const config = program.command('config').description('work with sipflow config files');
  config
    .command('check')
    .description('validate a config file (YAML or JSON) against the options of every role it configures')
    .argument('<file>', 'config file')
    .action((file: string) =>
      run(async () => {
        const errors = checkConfig(readConfigFile(file));
        if (errors.length === 0) {
          process.stdout.write(`${file}: ok\n`);
          return;
        }
        for (const e of errors) process.stderr.write(`${file}: ${e}\n`);
        process.exitCode = 1;
      }),
    );
}
