/**
 * Renders deploy/helm/sipflow with a real helm binary and parses the result strictly (duplicate keys
 * are errors, as they are for the API server). helm comes from SIPFLOW_HELM, .cache/tools/bin/helm
 * (built by scripts/install-helm.mjs) or PATH.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = join(ROOT, 'deploy', 'helm', 'sipflow');
/** Capabilities.KubeVersion for rendering: a helm built from source defaults to v1.20. */
export const KUBE_VERSION = '1.31.0';
export const NAMESPACE = 'voice';
export const RELEASE = 'sipflow';

function works(bin: string): boolean {
  const r = spawnSync(bin, ['version', '--short'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 && /v3\./.test(r.stdout);
}

export function findHelm(): string | undefined {
  const candidates = [process.env.SIPFLOW_HELM, join(ROOT, '.cache', 'tools', 'bin', 'helm')];
  for (const c of candidates) if (c && existsSync(c) && works(c)) return c;
  const onPath = spawnSync('sh', ['-c', 'command -v helm'], { encoding: 'utf8' }).stdout.trim();
  return onPath && works(onPath) ? onPath : undefined;
}

/** Loosely typed Kubernetes object: the tests check shapes field by field. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
  type?: string;
}

export interface RenderResult {
  status: number | null;
  stderr: string;
  objects: K8sObject[];
}

export function helm(bin: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000, cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function render(bin: string, opts: { values?: string[]; set?: string[]; setString?: string[] } = {}): RenderResult {
  const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION];
  for (const v of opts.values ?? []) args.push('-f', isAbsolute(v) ? v : join(CHART, v));
  for (const s of opts.set ?? []) args.push('--set', s);
  for (const s of opts.setString ?? []) args.push('--set-string', s);
  const r = helm(bin, args);
  if (r.status !== 0) return { status: r.status, stderr: r.stderr, objects: [] };
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(r.stdout, { uniqueKeys: true })) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  return { status: r.status, stderr: r.stderr, objects };
}
