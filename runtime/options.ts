/**
 * Options come from three places, weakest first: a config file (YAML or JSON, a section per role),
 * environment variables (SIPFLOW_<OPTION>), then flags. All three go through one zod schema, so a
 * bad value is reported the same way wherever it came from: one line naming the option.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export class OptionError extends Error {
  readonly code = 'SIPFLOW_BAD_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

export function envName(option: string): string {
  return 'SIPFLOW_' + option.replace(/[A-Z]/g, (c) => '_' + c).replace(/-/g, '_').toUpperCase();
}

export function flagName(option: string): string {
  return '--' + option.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new OptionError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new OptionError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new OptionError(`config file ${file} must hold a mapping of options`);
  return doc as Record<string, unknown>;
}

/** Formats the first zod issue as `--option: message` (or `path.to.field: message` for config files). */
export function describeIssue(issue: z.ZodIssue, style: 'flag' | 'path'): string {
  const [head, ...rest] = issue.path.map(String);
  const where = style === 'flag' && head !== undefined ? flagName(head) + (rest.length ? '.' + rest.join('.') : '') : issue.path.join('.') || '(root)';
  return `${where}: ${issue.message}`;
}

/**
 * Merges file < env < flags for the keys the schema knows, then validates. `flags` holds only what
 * the user typed (commander's defaults are left to the schema so the precedence stays right).
 */
export function resolveOptions<S extends z.ZodObject<z.ZodRawShape>>(
  schema: S,
  sources: { flags: Record<string, unknown>; env?: NodeJS.ProcessEnv; file?: Record<string, unknown>; section?: string },
): z.infer<S> {
  const keys = Object.keys(schema.shape);
  const fromFile = sources.file ? pickSection(sources.file, sources.section) : {};
  const merged: Record<string, unknown> = {};
  for (const key of keys) {
    if (fromFile[key] !== undefined) merged[key] = fromFile[key];
    const env = sources.env?.[envName(key)];
    if (env !== undefined && env !== '') merged[key] = env;
    if (sources.flags[key] !== undefined) merged[key] = sources.flags[key];
  }
  const result = schema.safeParse(merged);
  if (!result.success) throw new OptionError(describeIssue(result.error.issues[0]!, 'flag'));
  return result.data;
}

function pickSection(file: Record<string, unknown>, section: string | undefined): Record<string, unknown> {
  const common = (file.common ?? {}) as Record<string, unknown>;
  const own = section ? ((file[section] ?? {}) as Record<string, unknown>) : {};
  return { ...common, ...own };
}

/** Numbers and booleans arrive as strings from flags and env; these coerce while keeping good messages. */
export const portNumber = z.coerce.number().int().min(0).max(65535);
export const positiveInt = z.coerce.number().int().positive();
export const onOff = z
  .union([z.boolean(), z.enum(['on', 'off', 'true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'on' || v === 'true' || v === '1' || v === 'yes');
export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
