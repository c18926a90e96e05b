/**
 * What an operator runs beyond one machine, checked against the code it runs:
 *  - the Helm chart, rendered by a real helm for several value sets, every object checked for shape,
 *    and every sipflow container's arguments and environment parsed by the real CLI (commander
 *    options) and validated by the real option schemas;
 *  - the systemd units (systemd-analyze verify and security, plus their settings and example config);
 *  - the Prometheus rules and the Grafana dashboard: every metric and label they name exists in
 *    core/core-metrics.ts or edge/metrics.ts.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Command, Option } from 'commander';
import { edgeSchema } from '../../cli/commands/edge.js';
import { coreOptionsSchema } from '../../core/core-options.js';
import { CoreMetrics } from '../../core/core-metrics.js';
import { CLOSE_REASONS, EdgeMetrics, REFUSAL_CAUSES } from '../../edge/metrics.js';
import { offsetMirrorToken } from '../../deploy/cassandra/tokens.js';
import { NODE_FLAGS } from '../../deploy/node-flags.js';
import { resolveOptions } from '../../runtime/options.js';
import { parseHostPort } from '../../runtime/host-port.js';
import { CHART, findHelm, helm, NAMESPACE, render, ROOT, type K8sObject } from './helm-render.js';
import { checkBrackets, selectors } from './promql-selectors.js';
import { parseUnitFile, value, values } from './unit-file.js';

// ---------------------------------------------------------------------------------------------
// Shared knowledge taken from the code, never restated by hand.

/**
 * The real commander program, from the build (cli/ reads package.json relative to dist/, so it
 * cannot run from source). `npm test` builds first; a build older than the commands is refused.
 */
async function loadProgram(): Promise<Command> {
  const main = join(ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error('dist/cli/main.js is missing: run `npm run build`');
  for (const src of ['core.ts', 'edge.ts']) {
    const built = join(ROOT, 'dist', 'cli', 'commands', src.replace(/\.ts$/, '.js'));
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(ROOT, 'cli', 'commands', src)).mtimeMs) {
      throw new Error(`dist/cli/commands/${src.replace(/\.ts$/, '.js')} is older than cli/commands/${src}: run \`npm run build\``);
    }
  }
  const mod = (await import(main)) as { buildProgram: () => Command };
  return mod.buildProgram();
}
const program: Command | Error = await loadProgram().catch((err: Error) => err);

function roleOptions(role: string): Map<string, Option> {
  if (program instanceof Error) throw program;
  const cmd = program.commands.find((c: Command) => c.name() === role);
  if (!cmd) throw new Error(`sipflow has no '${role}' command`);
  return new Map(cmd.options.map((o) => [o.long!, o]));
}

/** Reads a role's flags like commander does: --name value, --name=value. Unknown flags throw. */
function parseRoleArgs(role: string, args: string[]): Record<string, string> {
  const options = roleOptions(role);
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    let arg = args[i]!;
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const opt = options.get(arg);
    if (!opt) throw new Error(`sipflow ${role} has no option ${arg}`);
    if (!opt.required && !opt.optional) {
      flags[opt.attributeName()] = 'true';
      continue;
    }
    const v = inline ?? args[++i];
    if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new Error(`${arg} needs a value`);
    flags[opt.attributeName()] = v;
  }
  return flags;
}

interface KnownMetric {
  labels: Set<string>;
}
async function knownMetrics(): Promise<Map<string, KnownMetric>> {
  // As `sipflow core` and `sipflow edge` create them: both with the default process/nodejs metrics.
  const core = new CoreMetrics({ defaultMetrics: true });
  const edge = new EdgeMetrics({ defaultMetrics: true });
  const known = new Map<string, KnownMetric>();
  for (const registry of [core.registry, edge.registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      const labelNames = ((registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []) as string[];
      const labels = new Set([...labelNames, 'job', 'instance', 'datacenter']);
      if (String(m.type) === 'histogram') {
        known.set(`${m.name}_bucket`, { labels: new Set([...labels, 'le']) });
        known.set(`${m.name}_sum`, { labels });
        known.set(`${m.name}_count`, { labels });
      } else known.set(m.name, { labels });
    }
  }
  // Prometheus' own per-target series.
  known.set('up', { labels: new Set(['job', 'instance', 'datacenter']) });
  return known;
}

/** Closed label vocabularies exported by the code. */
const VOCABULARY: Record<string, Record<string, readonly string[]>> = {
  sipflow_edge_flows_closed_total: { reason: CLOSE_REASONS },
  sipflow_edge_refusals_total: { cause: REFUSAL_CAUSES },
  sipflow_core_rtpengine_commands_total: { outcome: ['ok', 'error'] },
  sipflow_core_messages_received_total: { kind: ['request', 'response'] },
  sipflow_core_retransmissions_total: { direction: ['sent', 'absorbed'] },
  sipflow_edge_messages_in_total: { side: ['ws', 'udp', 'tcp'] },
  sipflow_edge_messages_out_total: { side: ['ws', 'udp', 'tcp'] },
};

/** Problems with the metrics one PromQL expression names; [] when all is well. */
function metricProblems(expr: string, known: Map<string, KnownMetric>): string[] {
  const problems: string[] = [];
  let found;
  try {
    found = selectors(expr);
  } catch (err) {
    return [(err as Error).message];
  }
  if (found.length === 0) problems.push(`selects no metric: ${expr}`);
  for (const sel of found) {
    const metric = known.get(sel.name);
    if (!metric) {
      problems.push(`unknown metric ${sel.name}`);
      continue;
    }
    for (const m of sel.matchers) {
      if (!metric.labels.has(m.label)) problems.push(`${sel.name} has no label ${m.label}`);
      const vocabulary = VOCABULARY[sel.name]?.[m.label];
      // Plain alternations of literal values ("a|b") must name values the code can produce.
      if (vocabulary && /^[A-Za-z0-9_|-]+$/.test(m.value)) {
        for (const v of m.value.split('|')) if (!vocabulary.includes(v)) problems.push(`${sel.name}{${m.label}} never takes the value '${v}'`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes object checks.

const API_VERSIONS: Record<string, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Service: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  PodDisruptionBudget: 'policy/v1',
  PodMonitor: 'monitoring.coreos.com/v1',
};
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SAMPLE_FIELDS: Record<string, string> = { 'status.podIP': '10.44.0.17', 'status.hostIP': '10.0.3.7', 'metadata.name': 'pod-0' };

function byKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}
function component(o: K8sObject): string | undefined {
  return o.metadata.labels?.['app.kubernetes.io/component'];
}
function subsetOf(a: Record<string, string>, b: Record<string, string> | undefined): boolean {
  return Object.entries(a).every(([k, v]) => b?.[k] === v);
}

/** The container's environment as the kubelet would give it, with sample values for field refs. */
function containerEnv(c: any, objects: K8sObject[], fallbackSecret: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = SAMPLE_FIELDS[e.valueFrom.fieldRef.fieldPath] ?? 'x';
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name);
      env[e.name] = secret ? Buffer.from(secret.data![ref.key]!, 'base64').toString('utf8') : fallbackSecret;
    } else throw new Error(`env ${e.name}: no value and no known valueFrom`);
  }
  return env;
}

/** Kubernetes $(VAR) expansion; a reference to an undefined variable is left as is, and that is a bug here. */
function expand(arg: string, env: Record<string, string>): string {
  return arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => {
    if (!(name in env)) throw new Error(`${m} is not defined in the container's env`);
    return env[name]!;
  });
}

interface RenderedChecks {
  objects: K8sObject[];
  /** The Secret the pods read (rendered, or the name of an existing one). */
  secretName: string;
}

/** Every structural check that holds for any value set. */
async function checkObjects(t: Test, objects: K8sObject[], opts: { existingSecret?: string } = {}): Promise<RenderedChecks> {
  t.ok(objects.length > 0, 'something was rendered');
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    t.equal(o.apiVersion, API_VERSIONS[o.kind], `${id}: apiVersion of a known kind`);
    t.ok(o.metadata?.name && o.metadata.name.length <= 63 && DNS_LABEL.test(o.metadata.name), `${id}: name is a DNS label`);
    t.equal(o.metadata.namespace, NAMESPACE, `${id}: in the release namespace`);
    t.notOk(seen.has(id), `${id}: rendered once`);
    seen.add(id);
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) t.ok(typeof v === 'string' && v.length <= 63, `${id}: label ${k} is a short string`);
  }

  const services = byKind(objects, 'Service');
  const secretName = opts.existingSecret ?? byKind(objects, 'Secret')[0]?.metadata.name ?? '';
  t.ok(secretName, 'the pods have a Secret to read');
  if (!opts.existingSecret) {
    const secret = byKind(objects, 'Secret')[0]!;
    const list = Buffer.from(secret.data!.secret!, 'base64').toString('utf8').split(',');
    t.ok(list.length > 0 && list.every((s) => s.length >= 16), 'every cluster secret is at least 16 characters');
    t.ok(Buffer.from(secret.data!['admin-token']!, 'base64').length >= 16, 'admin token is at least 16 characters');
  } else t.equal(byKind(objects, 'Secret').length, 0, 'existingSecret: the chart makes no Secret');

  for (const w of objects.filter((o) => WORKLOADS.has(o.kind))) {
    const id = `${w.kind}/${w.metadata.name}`;
    const spec = w.spec;
    const pod = spec.template.spec;
    t.ok(subsetOf(spec.selector.matchLabels, spec.template.metadata.labels), `${id}: selector matches the pod labels`);
    t.ok(subsetOf(spec.selector.matchLabels, w.metadata.labels), `${id}: object carries its selector labels`);
    if (w.kind === 'StatefulSet') {
      const headless = services.find((s) => s.metadata.name === spec.serviceName);
      t.ok(headless, `${id}: serviceName ${spec.serviceName} is rendered`);
      t.equal(headless?.spec.clusterIP, 'None', `${id}: its Service is headless`);
      t.ok(headless && subsetOf(headless.spec.selector, spec.template.metadata.labels), `${id}: headless Service selects its pods`);
    }
    t.equal(pod.securityContext?.runAsNonRoot, true, `${id}: runAsNonRoot`);
    t.notOk(pod.automountServiceAccountToken, `${id}: no API token mounted`);
    const volumes = new Set((pod.volumes ?? []).map((v: { name: string }) => v.name));
    const claims = new Set((spec.volumeClaimTemplates ?? []).map((v: { metadata: { name: string } }) => v.metadata.name));
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const cid = `${id}/${c.name}`;
      t.ok(typeof c.image === 'string' && /^[^\s:]+(:[^\s:]+)$/.test(c.image), `${cid}: image with a tag (${c.image})`);
      for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) t.ok(c.resources?.[kind]?.[r], `${cid}: resources.${kind}.${r}`);
      const sc = c.securityContext ?? {};
      t.equal(sc.allowPrivilegeEscalation, false, `${cid}: allowPrivilegeEscalation false`);
      t.ok(sc.capabilities?.drop?.includes('ALL'), `${cid}: drops ALL capabilities`);
      t.notOk(sc.capabilities?.add?.length, `${cid}: adds no capability`);
      t.equal(sc.readOnlyRootFilesystem, true, `${cid}: read-only root filesystem`);
      t.notOk(sc.privileged, `${cid}: not privileged`);
      for (const m of c.volumeMounts ?? []) t.ok(volumes.has(m.name) || claims.has(m.name), `${cid}: mount ${m.name} has a volume`);
      const portNames = new Set((c.ports ?? []).map((p: { name: string }) => p.name));
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (typeof port === 'string') t.ok(portNames.has(port), `${cid}: ${probe} port ${port} is declared`);
      }
      const env = containerEnv(c, objects, 'an-existing-secret-of-32-chars!!');
      for (const arg of [...(c.command ?? []), ...(c.args ?? [])]) t.doesNotThrow(() => expand(arg, env), `${cid}: ${arg} expands`);
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) t.equal(ref.name, secretName, `${cid}: env ${e.name} reads the cluster Secret`);
      }
    }
  }

  for (const s of services) {
    const id = `Service/${s.metadata.name}`;
    const selected = objects.filter((o) => WORKLOADS.has(o.kind) && subsetOf(s.spec.selector, o.spec.template.metadata.labels));
    t.ok(selected.length > 0, `${id}: selects some pods`);
    for (const p of s.spec.ports) {
      if (typeof p.targetPort !== 'string') continue;
      const declared = selected.some((w) => w.spec.template.spec.containers.some((c: any) => (c.ports ?? []).some((cp: any) => cp.name === p.targetPort && (cp.protocol ?? 'TCP') === (p.protocol ?? 'TCP'))));
      t.ok(declared, `${id}: targetPort ${p.targetPort}/${p.protocol ?? 'TCP'} is a container port of the selected pods`);
    }
  }
  for (const pdb of byKind(objects, 'PodDisruptionBudget')) {
    t.ok(objects.some((o) => WORKLOADS.has(o.kind) && subsetOf(pdb.spec.selector.matchLabels, o.spec.template.metadata.labels)), `PodDisruptionBudget/${pdb.metadata.name}: selects a workload`);
  }
  return { objects, secretName };
}

interface SipflowContainer {
  owner: K8sObject;
  role: 'core' | 'edge';
  flags: Record<string, string>;
  env: Record<string, string>;
  container: any;
}

/** The core and edge containers, their flags parsed by the CLI and validated by the option schemas. */
function sipflowContainers(t: Test, objects: K8sObject[]): SipflowContainer[] {
  const out: SipflowContainer[] = [];
  for (const w of objects.filter((o) => WORKLOADS.has(o.kind) && (component(o) === 'core' || component(o) === 'edge'))) {
    const c = w.spec.template.spec.containers[0];
    const role = component(w) as 'core' | 'edge';
    const id = `${w.kind}/${w.metadata.name}`;
    t.equal(c.args[0], role, `${id}: runs sipflow ${role}`);
    t.same(c.command, ['node', ...NODE_FLAGS, '/app/bin/sipflow.js'], `${id}: node runs with the flags every launcher uses (deploy/node-flags.ts)`);
    const env = containerEnv(c, objects, 'an-existing-secret-of-32-chars!!');
    const args = (c.args as string[]).slice(1).map((a) => expand(a, env));
    let flags: Record<string, string> = {};
    t.doesNotThrow(() => (flags = parseRoleArgs(role, args)), `${id}: every flag is a sipflow ${role} option`);
    const schema = role === 'core' ? coreOptionsSchema : edgeSchema;
    let resolved: any;
    t.doesNotThrow(() => (resolved = resolveOptions(schema, { flags, env })), `${id}: flags and SIPFLOW_* env pass the ${role} option schema`);
    if (role === 'edge' && resolved) t.ok(!resolved.wss || (resolved.cert && resolved.key), `${id}: --wss comes with --cert and --key`);
    t.ok(env.SIPFLOW_SECRET && env.SIPFLOW_ADMIN_TOKEN, `${id}: gets the cluster secret and the admin token`);
    const metrics = parseHostPort(flags.metrics ?? '');
    t.ok(metrics, `${id}: serves --metrics`);
    const ports = new Map<string, number>((c.ports ?? []).map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    t.equal(ports.get('admin'), metrics?.port, `${id}: the admin port is the --metrics port`);
    t.same(c.livenessProbe?.httpGet, { path: '/healthz', port: 'admin' }, `${id}: liveness on /healthz`);
    const readiness = JSON.stringify(c.readinessProbe ?? {});
    t.match(readiness, `127.0.0.1:${metrics?.port}/readyz`, `${id}: readiness asks /readyz on the --metrics port`);
    t.match(readiness, 'SIPFLOW_ADMIN_TOKEN', `${id}: readiness sends the admin token`);
    const udp = parseHostPort(flags.udp ?? '');
    t.equal(udp?.host, SAMPLE_FIELDS['status.podIP'], `${id}: --udp binds the pod's own address`);
    t.equal(ports.get('sip-udp'), udp?.port, `${id}: the sip-udp port is the --udp port`);
    // Edges reach cores over TCP at the cores' UDP port (--core-transport tcp, the chart's default).
    const overTcp = role === 'core' ? flags.tcp !== undefined : flags.coreTransport === 'tcp';
    if (overTcp) {
      t.equal(parseHostPort(flags.tcp ?? flags.udp ?? '')?.port, udp?.port, `${id}: TCP listens at the --udp port`);
      t.equal(ports.get('sip-tcp'), udp?.port, `${id}: the sip-tcp port is the --udp port`);
    }
    out.push({ owner: w, role, flags, env, container: c });
  }
  return out;
}

/** host:port of a StatefulSet pod named through its headless Service, or undefined. */
function statefulPod(objects: K8sObject[], hostPort: string): { set: K8sObject; ordinal: number; port: number } | undefined {
  const hp = parseHostPort(hostPort);
  if (!hp) return undefined;
  const m = /^(.+)-(\d+)\.([^.]+)\.([^.]+)\.svc\.cluster\.local$/.exec(hp.host);
  if (!m || m[4] !== NAMESPACE) return undefined;
  const set = byKind(objects, 'StatefulSet').find((s) => s.metadata.name === m[1] && s.spec.serviceName === m[3]);
  return set && Number(m[2]) < set.spec.replicas ? { set, ordinal: Number(m[2]), port: hp.port } : undefined;
}

/** Cassandra: per-pod config from the ConfigMap, tokens equal to the offset mirror plan of the code. */
function checkCassandra(t: Test, objects: K8sObject[], dcNames: string[], joiningDcs: string[] = []): void {
  const sets = byKind(objects, 'StatefulSet').filter((s) => component(s) === 'cassandra');
  t.equal(sets.length, dcNames.length, 'one Cassandra StatefulSet per datacenter');
  const tokens = new Set<string>();
  const seedsSeen = new Set<string>();
  for (const set of sets) {
    const dc = set.metadata.labels!['sipflow.io/datacenter']!;
    const dcIndex = dcNames.indexOf(dc);
    const id = `StatefulSet/${set.metadata.name}`;
    t.ok(dcIndex >= 0, `${id}: datacenter ${dc} is in the values`);
    const pod = set.spec.template.spec;
    const main = pod.containers[0];
    const env = Object.fromEntries((main.env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]));
    t.match(env.MAX_HEAP_SIZE, /^\d+[MG]$/, `${id}: MAX_HEAP_SIZE`);
    t.match(env.HEAP_NEWSIZE, /^\d+[MG]$/, `${id}: HEAP_NEWSIZE (cassandra-env.sh wants both or neither)`);
    t.ok(set.spec.volumeClaimTemplates?.some((v: any) => main.volumeMounts.some((m: any) => m.name === v.metadata.name && m.mountPath === '/var/lib/cassandra')), `${id}: data on a persistent volume`);
    t.ok(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length, `${id}: replicas never share a machine`);
    const configName = pod.volumes.find((v: any) => v.configMap)?.configMap.name;
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configName);
    t.ok(cm, `${id}: its ConfigMap ${configName} is rendered`);
    if (!cm) continue;
    for (let i = 0; i < set.spec.replicas; i++) {
      const yamlText = cm.data![`cassandra-${i}.yaml`];
      t.ok(yamlText, `${id}: cassandra-${i}.yaml exists`);
      const conf = parseYaml(yamlText ?? '', { uniqueKeys: true }) as Record<string, any>;
      t.equal(conf.num_tokens, 1, `${id}-${i}: num_tokens 1`);
      t.equal(conf.initial_token, offsetMirrorToken(dcIndex, i, set.spec.replicas, 'murmur3').toString(), `${id}-${i}: initial_token is the offset mirror token of node ${i} in ${dc}`);
      t.equal(conf.partitioner, 'org.apache.cassandra.dht.Murmur3Partitioner', `${id}-${i}: Murmur3 partitioner`);
      t.equal(conf.endpoint_snitch, 'GossipingPropertyFileSnitch', `${id}-${i}: GossipingPropertyFileSnitch`);
      if (joiningDcs.includes(dc)) t.equal(conf.auto_bootstrap, false, `${id}-${i}: joins without bootstrap (rebuild follows)`);
      else t.notOk(conf.auto_bootstrap === false, `${id}-${i}: bootstraps normally`);
      t.ok(conf.commitlog_sync && conf.seed_provider?.[0]?.parameters?.[0]?.seeds, `${id}-${i}: commitlog_sync and seeds set`);
      for (const seed of String(conf.seed_provider[0].parameters[0].seeds).split(',')) seedsSeen.add(seed);
      tokens.add(String(conf.initial_token));
      const rackdc = cm.data![`cassandra-rackdc-${i}.properties`] ?? '';
      t.match(rackdc, new RegExp(`^dc=${dc}$`, 'm'), `${id}-${i}: rackdc dc=${dc}`);
      t.match(rackdc, new RegExp(`^rack=RAC${i + 1}$`, 'm'), `${id}-${i}: rackdc rack=RAC${i + 1}, as \`sipflow tokens\` prints`);
    }
    checkPrepareScript(t, cm, set);
  }
  t.equal(tokens.size, sets.reduce((n, s) => n + s.spec.replicas, 0), 'no two Cassandra nodes share a token');
  for (const set of sets) t.ok(seedsSeen.has(`${set.metadata.name}-0.${set.spec.serviceName}.${NAMESPACE}.svc.cluster.local`), `pod 0 of ${set.metadata.name} is a seed`);
}

/** Runs the init container's script on a copy of the ConfigMap, paths moved into a temp folder. */
function checkPrepareScript(t: Test, cm: K8sObject, set: K8sObject): void {
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-prepare-'));
  try {
    for (const sub of ['config', 'conf', 'image-conf']) mkdirSync(join(dir, sub));
    for (const [k, v] of Object.entries(cm.data!)) writeFileSync(join(dir, 'config', k), v);
    writeFileSync(join(dir, 'image-conf', 'jvm17-server.options'), '-Xss256k\n');
    writeFileSync(join(dir, 'image-conf', 'cassandra.yaml'), 'cluster_name: image default\n');
    const script = cm.data!['prepare-conf.sh']!.replaceAll('/etc/cassandra', join(dir, 'image-conf')).replaceAll('/config/', `${join(dir, 'config')}/`).replaceAll('/conf/', `${join(dir, 'conf')}/`);
    const last = set.spec.replicas - 1;
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', POD_NAME: `${set.metadata.name}-${last}` }, timeout: 10_000 });
    t.equal(r.status, 0, `prepare-conf.sh runs for ${set.metadata.name}-${last} (${r.stderr.trim()})`);
    t.equal(readFileSync(join(dir, 'conf', 'cassandra.yaml'), 'utf8'), cm.data![`cassandra-${last}.yaml`], 'it installs the cassandra.yaml of its own ordinal');
    t.equal(readFileSync(join(dir, 'conf', 'cassandra-rackdc.properties'), 'utf8'), cm.data![`cassandra-rackdc-${last}.properties`], 'and its rackdc');
    t.ok(existsSync(join(dir, 'conf', 'jvm17-server.options')), 'and keeps the image\'s other conf files');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkTopology(t: Test, objects: K8sObject[], sip: SipflowContainer[], o: { hostNetwork: boolean; dcs: string[]; rf: number }): void {
  const cores = sip.filter((s) => s.role === 'core');
  const edges = sip.filter((s) => s.role === 'edge');
  t.equal(cores.length, o.dcs.length, 'a core StatefulSet per datacenter');
  t.equal(edges.length, o.dcs.length, 'an edge Deployment per datacenter');
  const rtp = byKind(objects, 'DaemonSet').find((d) => component(d) === 'rtpengine');
  const rtpArgs: string[] = rtp?.spec.template.spec.containers[0].args ?? [];
  const ng = rtpArgs.find((a) => a.startsWith('--listen-ng='))?.slice('--listen-ng='.length);
  for (const core of cores) {
    const id = `StatefulSet/${core.owner.metadata.name}`;
    const pod = core.owner.spec.template.spec;
    t.equal(core.owner.kind, 'StatefulSet', `${id}: cores are a StatefulSet (stable per-pod names)`);
    t.equal(Boolean(pod.hostNetwork), o.hostNetwork, `${id}: hostNetwork ${o.hostNetwork}`);
    if (o.hostNetwork) {
      t.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', `${id}: cluster DNS from the host network`);
      t.ok(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length, `${id}: one core per node (the port is the node's)`);
    }
    const coreDrainMs = Number(core.flags.drainTimeout ?? coreOptionsSchema.shape.drainTimeout.parse(undefined));
    t.ok(pod.terminationGracePeriodSeconds * 1000 > coreDrainMs, `${id}: the grace period (${pod.terminationGracePeriodSeconds} s) outlasts the drain on SIGTERM (${coreDrainMs} ms)`);
    const dc = core.owner.metadata.labels!['sipflow.io/datacenter']!;
    t.equal(core.flags.dc, dc, `${id}: --dc ${dc}`);
    t.equal(core.flags.store, 'cassandra', `${id}: --store cassandra`);
    t.equal(core.flags.consistency, 'LOCAL_QUORUM', `${id}: LOCAL_QUORUM`);
    t.same(core.flags.replication?.split(',').sort(), o.dcs.map((d) => `${d}:${o.rf}`).sort(), `${id}: --replication names every DC with RF ${o.rf}`);
    for (const cp of (core.flags.cassandra ?? '').split(',')) {
      const target = statefulPod(objects, cp);
      t.ok(target && component(target.set) === 'cassandra' && target.port === 9042, `${id}: contact point ${cp} is a Cassandra pod`);
      t.equal(target?.set.metadata.labels?.['sipflow.io/datacenter'], dc, `${id}: contact point ${cp} is in its own DC`);
    }
    if (rtp) {
      t.ok(ng, 'rtpengine has --listen-ng');
      const coreNg = expand(core.flags.rtpengine ?? '', core.env);
      const rtpNg = expand(ng ?? '', { HOST_IP: SAMPLE_FIELDS['status.hostIP']! });
      t.equal(coreNg, rtpNg, `${id}: --rtpengine is its node's rtpengine ng address`);
    }
  }
  for (const edge of edges) {
    const id = `Deployment/${edge.owner.metadata.name}`;
    const dc = edge.owner.metadata.labels!['sipflow.io/datacenter']!;
    const targets = (edge.flags.core ?? '').split(',');
    const coreSet = byKind(objects, 'StatefulSet').find((s) => component(s) === 'core' && s.metadata.labels?.['sipflow.io/datacenter'] === dc)!;
    t.equal(targets.length, coreSet?.spec.replicas, `${id}: --core lists every core of ${dc}`);
    for (const target of targets) {
      const pod = statefulPod(objects, target);
      t.ok(pod && component(pod.set) === 'core', `${id}: ${target} is a core pod`);
      t.equal(pod?.port, parseHostPort(cores[0]!.flags.udp!)?.port, `${id}: ${target} uses the cores' UDP port`);
    }
    // The other DCs' cores: peers it accepts calls from (a core routes a call straight to the
    // callee's edge), never forwards to.
    const peers = (edge.flags.peerCore ?? '').split(',').filter(Boolean);
    const otherCores = byKind(objects, 'StatefulSet').filter((s) => component(s) === 'core' && s.metadata.labels?.['sipflow.io/datacenter'] !== dc);
    t.equal(peers.length, otherCores.reduce((n, s) => n + s.spec.replicas, 0), `${id}: --peer-core lists every core of the other DCs`);
    for (const peer of peers) {
      const pod = statefulPod(objects, peer);
      t.ok(pod && component(pod.set) === 'core' && pod.set.metadata.labels?.['sipflow.io/datacenter'] !== dc, `${id}: peer ${peer} is another DC's core pod`);
    }
    t.equal(edge.flags.advertiseHost, SAMPLE_FIELDS['status.podIP'], `${id}: advertises its pod IP`);
    t.equal(edge.owner.spec.strategy.rollingUpdate.maxUnavailable, 0, `${id}: rollouts never lower capacity`);
    t.ok(edge.container.lifecycle?.preStop, `${id}: preStop delay before SIGTERM (drain)`);
    const preStopSeconds = Number(edge.container.lifecycle?.preStop?.exec?.command?.at(-1));
    const edgeDrainMs = Number(edge.flags.drainTimeout ?? edgeSchema.shape.drainTimeout.parse(undefined));
    const grace = edge.owner.spec.template.spec.terminationGracePeriodSeconds;
    t.ok(grace * 1000 > preStopSeconds * 1000 + edgeDrainMs, `${id}: the grace period (${grace} s) outlasts the preStop sleep (${preStopSeconds} s) and the drain (${edgeDrainMs} ms)`);
  }
  const edgeService = byKind(objects, 'Service').find((s) => component(s) === 'edge' && s.spec.clusterIP !== 'None');
  t.ok(edgeService?.spec.ports.some((p: any) => p.targetPort === 'ws'), 'a Service carries WebSocket to the edges');
  t.notOk(edgeService?.spec.sessionAffinity && edgeService.spec.sessionAffinity !== 'None', 'edge Service without session affinity');
  const udpService = byKind(objects, 'Service').find((s) => component(s) === 'core' && s.spec.clusterIP !== 'None');
  t.ok(udpService?.spec.ports.every((p: any) => p.protocol === 'UDP'), 'a UDP Service in front of the cores');
  if (rtp) {
    const pod = rtp.spec.template.spec;
    t.equal(pod.hostNetwork, true, 'rtpengine in the node network');
    for (const flag of ['--config-file=none', '--table=-1', '--foreground', '--delete-delay=0', '--dtls-passive']) t.ok(rtpArgs.includes(flag), `rtpengine ${flag} (RECIPES.md §1)`);
    t.ok(pod.securityContext.runAsUser > 0, 'rtpengine as an unprivileged user');
  }
}

// ---------------------------------------------------------------------------------------------

const helmBin = findHelm();

t.test('the sipflow CLI is available to check arguments against', async (t) => {
  t.notOk(program instanceof Error, program instanceof Error ? program.message : 'loaded from dist/');
  t.ok(roleOptions('core').has('--udp') && roleOptions('edge').has('--ws'), 'core and edge options read from commander');
});

t.test('the Helm chart renders and every object is sound', async (t) => {
  if (!helmBin) {
    t.fail('helm not found: run `node scripts/install-helm.mjs` (builds it into .cache/tools/bin), or set SIPFLOW_HELM');
    return;
  }

  t.test('helm lint --strict passes for the default and the two-DC values', async (t) => {
    for (const values of [[], ['values-2dc.yaml']]) {
      const r = helm(helmBin, ['lint', '--strict', CHART, '--kube-version', '1.31.0', ...values.flatMap((v) => ['-f', join(CHART, v)])]);
      t.equal(r.status, 0, `lint ${values.join(' ') || 'defaults'}: ${r.stdout.split('\n').filter((l) => /\[(ERROR|WARNING)\]/.test(l)).join('; ')}`);
    }
  });

  t.test('defaults: one datacenter, hostNetwork cores, generated secrets', async (t) => {
    const r = render(helmBin);
    t.equal(r.status, 0, r.stderr);
    await checkObjects(t, r.objects);
    const sip = sipflowContainers(t, r.objects);
    checkCassandra(t, r.objects, ['DC1']);
    checkTopology(t, r.objects, sip, { hostNetwork: true, dcs: ['DC1'], rf: 3 });
  });

  t.test('values-2dc.yaml: two datacenters with offset mirror tokens, TLS, existing Secret, PodMonitors', async (t) => {
    const values = parseYaml(readFileSync(join(CHART, 'values-2dc.yaml'), 'utf8')) as { secrets: { existingSecret: string } };
    const r = render(helmBin, { values: ['values-2dc.yaml'] });
    t.equal(r.status, 0, r.stderr);
    await checkObjects(t, r.objects, { existingSecret: values.secrets.existingSecret });
    const sip = sipflowContainers(t, r.objects);
    checkCassandra(t, r.objects, ['DC1', 'DC2']);
    checkTopology(t, r.objects, sip, { hostNetwork: true, dcs: ['DC1', 'DC2'], rf: 3 });
    for (const edge of sip.filter((s) => s.role === 'edge')) {
      t.ok(edge.flags.wss && edge.flags.cert && edge.flags.key, 'edges serve wss');
      const tls = edge.owner.spec.template.spec.volumes.find((v: any) => v.secret);
      t.ok(tls && edge.container.volumeMounts.some((m: any) => m.name === tls.name && edge.flags.cert!.startsWith(m.mountPath)), 'the certificate comes from the TLS Secret');
    }
    const monitors = byKind(r.objects, 'PodMonitor');
    t.same(monitors.map((m) => m.spec.podMetricsEndpoints[0].relabelings[0].replacement).sort(), ['sipflow-core', 'sipflow-edge'], 'PodMonitors name the jobs the alerts expect');
    for (const m of monitors) t.equal(m.spec.podMetricsEndpoints[0].authorization.credentials.name, values.secrets.existingSecret, 'scrapes with the admin token');
  });

  t.test('adding a third datacenter: same tokens for DC1 and DC2, DC3 joins without bootstrap', async (t) => {
    const base = parseYaml(readFileSync(join(CHART, 'values-2dc.yaml'), 'utf8')) as { datacenters: Record<string, any>[]; secrets: { existingSecret: string } };
    // The tokens an operator gets from `sipflow tokens --dcs 3 --nodes-per-dc 3`, as the CLI computes them.
    const dc3Tokens = [0, 1, 2].map((i) => offsetMirrorToken(2, i, 3, 'murmur3').toString());
    const dcs = [...base.datacenters, { name: 'DC3', nodeSelector: { 'topology.kubernetes.io/zone': 'zone-c' }, cassandra: { replicas: 3, autoBootstrap: false, initialTokens: dc3Tokens }, core: { replicas: 0 }, edge: { replicas: 0 } }];
    const tmp = mkdtempSync(join(tmpdir(), 'sipflow-values-'));
    try {
      writeFileSync(join(tmp, 'dc3.yaml'), JSON.stringify({ datacenters: dcs }));
      const r = render(helmBin, { values: ['values-2dc.yaml', join(tmp, 'dc3.yaml')] });
      t.equal(r.status, 0, r.stderr);
      await checkObjects(t, r.objects, { existingSecret: base.secrets.existingSecret });
      checkCassandra(t, r.objects, ['DC1', 'DC2', 'DC3'], ['DC3']);
      const core = byKind(r.objects, 'StatefulSet').find((s) => component(s) === 'core')!;
      const args: string[] = core.spec.template.spec.containers[0].args;
      t.equal(args[args.indexOf('--replication') + 1], 'DC1:3,DC2:3,DC3:3', 'the replication the cores would create names DC3');
      const dc1Seeds = (parseYaml(byKind(r.objects, 'ConfigMap')[0]!.data!['cassandra-0.yaml']!) as any).seed_provider[0].parameters[0].seeds as string;
      t.match(dc1Seeds, /cassandra-dc3-0\./, 'existing DCs learn a DC3 seed');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  t.test('podIP addressing: cores stay in the pod network and reach rtpengine on the node address', async (t) => {
    const r = render(helmBin, { set: ['core.addressing=podIP', 'secrets.clusterSecrets={new-secret-0123456789abcdef,old-secret-0123456789abcdef}', 'secrets.adminToken=admin-token-0123456789'] });
    t.equal(r.status, 0, r.stderr);
    await checkObjects(t, r.objects);
    const sip = sipflowContainers(t, r.objects);
    checkTopology(t, r.objects, sip, { hostNetwork: false, dcs: ['DC1'], rf: 3 });
    const core = sip.find((s) => s.role === 'core')!;
    t.equal(core.env.SIPFLOW_SECRET, 'new-secret-0123456789abcdef,old-secret-0123456789abcdef', 'the secret list keeps its order (newest first)');
    t.same(resolveOptions(coreOptionsSchema, { flags: core.flags, env: core.env }).secret, ['new-secret-0123456789abcdef', 'old-secret-0123456789abcdef'], 'and the core reads it as a list');
  });

  t.test('the chart refuses values that would break the cluster', async (t) => {
    // Lists are replaced whole by --set, so datacenter variations go through a values file.
    const dc1 = (cassandra: Record<string, unknown>) => ({ datacenters: [{ name: 'DC1', cassandra, core: { replicas: 2 }, edge: { replicas: 2 } }] });
    const tokens = ['-9223372036854775808', '-3074457345618258603', '3074457345618258602'];
    const tmp = mkdtempSync(join(tmpdir(), 'sipflow-values-'));
    const file = (name: string, v: unknown) => {
      const p = join(tmp, `${name}.yaml`);
      writeFileSync(p, JSON.stringify(v));
      return p;
    };
    const refused: [string, { values?: string[]; set?: string[] }, RegExp][] = [
      ['a token missing', { values: [file('missing', dc1({ replicas: 4, initialTokens: tokens }))] }, /initialTokens has 3 tokens for 4 replicas/],
      ['an unquoted 64-bit token', { values: [file('unquoted', dc1({ replicas: 3, initialTokens: [-9223372036854775808, ...tokens.slice(1)] }))] }, /must be a quoted string/],
      ['a token used twice', { values: [file('twice', dc1({ replicas: 3, initialTokens: [tokens[0], tokens[0], tokens[2]] }))] }, /used twice/],
      ['more replicas than nodes', { set: ['core.replicationFactor=5'] }, /cannot hold core.replicationFactor 5/],
      ['an unknown addressing mode', { set: ['core.addressing=loadBalancer'] }, /core.addressing must be/],
      ['a short cluster secret', { set: ['secrets.clusterSecrets={short}'] }, /at least 16 characters/],
      ['TLS without a certificate', { set: ['edge.tls.enabled=true'] }, /edge.tls.secretName is required/],
    ];
    try {
      for (const [what, opts, message] of refused) {
        const r = render(helmBin, opts);
        t.not(r.status, 0, `refuses ${what}`);
        t.match(r.stderr, message, `and says why (${what})`);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  t.test('a broken manifest fails these checks', async (t) => {
    // The checks above must be able to fail: feed them a rendered chart with one flaw each.
    const base = render(helmBin).objects;
    const flaws: [string, (objs: K8sObject[]) => void][] = [
      ['an unknown core flag', (objs) => coreSet(objs).spec.template.spec.containers[0].args.push('--no-such-flag', 'x')],
      ['a bad --consistency', (objs) => setArg(coreSet(objs), '--consistency', 'SOMETIMES')],
      ['an undefined $(VAR)', (objs) => setArg(coreSet(objs), '--udp', '$(NODE_ADDRESS):5060')],
      ['a container that may escalate', (objs) => (coreSet(objs).spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true)],
      ['a wrong initial token', (objs) => {
        const cm = objs.find((o) => o.kind === 'ConfigMap')!;
        cm.data!['cassandra-1.yaml'] = cm.data!['cassandra-1.yaml']!.replace(/initial_token: .*/, 'initial_token: "42"');
      }],
    ];
    for (const [what, flaw] of flaws) {
      const objs = structuredClone(base);
      flaw(objs);
      // The checks run against a recorder that counts failures instead of failing this test.
      const failures = await countFailures(async (sub) => {
        await checkObjects(sub, objs);
        const sip = sipflowContainers(sub, objs);
        checkCassandra(sub, objs, ['DC1']);
        checkTopology(sub, objs, sip, { hostNetwork: true, dcs: ['DC1'], rf: 3 });
      });
      t.ok(failures > 0, `${what}: caught (${failures} failed checks)`);
    }
  });
});

function coreSet(objs: K8sObject[]): K8sObject {
  return objs.find((o) => o.kind === 'StatefulSet' && component(o) === 'core')!;
}
function setArg(w: K8sObject, flag: string, v: string): void {
  const args: string[] = w.spec.template.spec.containers[0].args;
  args[args.indexOf(flag) + 1] = v;
}

/** Runs checks against a recorder that counts failed assertions instead of reporting them. */
async function countFailures(body: (t: Test) => Promise<void> | void): Promise<number> {
  let failures = 0;
  const record = (ok: unknown) => {
    if (!ok) failures++;
    return Boolean(ok);
  };
  const recorder = {
    ok: (v: unknown) => record(v),
    notOk: (v: unknown) => record(!v),
    equal: (a: unknown, b: unknown) => record(a === b),
    not: (a: unknown, b: unknown) => record(a !== b),
    same: (a: unknown, b: unknown) => record(JSON.stringify(a) === JSON.stringify(b)),
    match: (s: unknown, p: RegExp | string) => record(typeof s === 'string' && (typeof p === 'string' ? s.includes(p) : p.test(s))),
    doesNotThrow: (fn: () => unknown) => {
      try {
        fn();
        return record(true);
      } catch {
        return record(false);
      }
    },
    fail: () => record(false),
  } as unknown as Test;
  try {
    await body(recorder);
  } catch {
    failures++;
  }
  return failures;
}

// ---------------------------------------------------------------------------------------------

t.test('systemd units', async (t) => {
  const dir = join(ROOT, 'deploy', 'systemd');
  const units = {
    core: 'sipflow-core@.service',
    edge: 'sipflow-edge@.service',
    rtpengine: 'sipflow-rtpengine.service',
  } as const;

  t.test('hardening and restart settings in every unit', async (t) => {
    for (const [role, file] of Object.entries(units)) {
      const unit = parseUnitFile(readFileSync(join(dir, file), 'utf8'));
      const S = 'Service';
      t.ok(unit.has('Unit') && unit.has('Service') && unit.has('Install'), `${file}: [Unit] [Service] [Install]`);
      t.ok((value(unit, S, 'User') && value(unit, S, 'User') !== 'root') || value(unit, S, 'DynamicUser') === 'yes', `${file}: runs as an unprivileged user`);
      for (const [k, v] of [['NoNewPrivileges', 'yes'], ['PrivateTmp', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['Restart', 'on-failure']]) {
        t.equal(value(unit, S, k!), v, `${file}: ${k}=${v}`);
      }
      const caps = value(unit, S, 'CapabilityBoundingSet');
      t.ok(caps === '' || caps === 'CAP_NET_BIND_SERVICE', `${file}: CapabilityBoundingSet empty (or bind only)`);
      t.notOk(value(unit, S, 'AmbientCapabilities'), `${file}: no ambient capabilities`);
      const families = (value(unit, S, 'RestrictAddressFamilies') ?? '').split(/\s+/);
      t.ok(families.includes('AF_INET') && families.includes('AF_INET6') && !families.includes('AF_PACKET'), `${file}: RestrictAddressFamilies to IP (+ local)`);
      t.ok(values(unit, S, 'SystemCallFilter').includes('@system-service'), `${file}: SystemCallFilter=@system-service`);
      t.equal(value(unit, 'Install', 'WantedBy'), 'multi-user.target', `${file}: enabled with multi-user.target`);
      if (role !== 'rtpengine') {
        t.ok(values(unit, S, 'EnvironmentFile').includes('/etc/sipflow/secrets.env'), `${file}: secrets from an EnvironmentFile`);
        const exec = value(unit, S, 'ExecStart')!.split(/\s+/);
        t.equal(exec.at(-1), role, `${file}: starts sipflow ${role}`);
        t.equal(exec[exec.indexOf('--config') + 1], '/etc/sipflow/%i.yaml', `${file}: the instance name picks the config file`);
        t.same(exec.slice(1, 1 + NODE_FLAGS.length), [...NODE_FLAGS], `${file}: node runs with the flags every launcher uses (deploy/node-flags.ts)`);
        t.notOk(unit.get('Service')!.some(([k, v]) => k === 'Environment' && /SECRET|TOKEN/.test(v)), `${file}: no secret written in the unit`);
      }
    }
  });

  t.test('rtpengine runs with the RECIPES.md flags, every ${VAR} defined', async (t) => {
    const unit = parseUnitFile(readFileSync(join(dir, units.rtpengine), 'utf8'));
    const env = Object.fromEntries(values(unit, 'Service', 'Environment').map((e) => e.split('=', 2) as [string, string]));
    const exec = value(unit, 'Service', 'ExecStart')!.replace(/\$\{([A-Z_]+)\}/g, (m, name: string) => env[name] ?? m);
    t.notMatch(exec, /\$\{/, 'every ${VAR} has a default');
    const args = exec.split(/\s+/);
    t.equal(args[0], '/usr/bin/rtpengine', 'the Debian binary');
    for (const flag of ['--config-file=none', '--table=-1', '--foreground', '--log-stderr', '--delete-delay=0', '--dtls-passive']) t.ok(args.includes(flag), flag);
    for (const prefix of ['--interface=', '--listen-ng=', '--port-min=', '--port-max=']) t.ok(args.some((a) => a.startsWith(prefix) && a.length > prefix.length), `${prefix}<value>`);
    t.equal(value(unit, 'Service', 'DynamicUser'), 'yes', 'an unprivileged dynamic user');
  });

  t.test('the example config and secrets pass the core and edge option schemas', async (t) => {
    const file = parseYaml(readFileSync(join(dir, 'sipflow.yaml.example'), 'utf8')) as Record<string, unknown>;
    const env = Object.fromEntries(
      readFileSync(join(dir, 'secrets.env.example'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=', 2) as [string, string]),
    );
    t.ok(env.SIPFLOW_SECRET && env.SIPFLOW_ADMIN_TOKEN, 'secrets.env names SIPFLOW_SECRET and SIPFLOW_ADMIN_TOKEN');
    const core = resolveOptions(coreOptionsSchema, { flags: {}, env, file, section: 'core' });
    t.equal(core.store, 'cassandra', 'core: Cassandra store');
    t.same(core.replication, { DC1: 3, DC2: 3 }, 'core: RF 3 in each DC');
    const edge = resolveOptions(edgeSchema, { flags: {}, env, file, section: 'edge' });
    t.same(edge.core.map((c) => `${c.host}:${c.port}`), [`${core.udp.host}:${core.udp.port}`, '192.0.2.11:5060'], 'edge: forwards to the core of this config');
    t.ok(core.trusted.includes(edge.udp.host), 'core: the edge is a trusted source');
    t.equal(edge.coreTransport, 'tcp', 'edge: reaches the cores over TCP');
    t.same(core.tcp, core.udp, 'core: listens on TCP where the edges look for it, at its UDP address');
    t.throws(() => resolveOptions(coreOptionsSchema, { flags: {}, env, file: { core: { ...(file.core as object), consistency: 'SOMETIMES' } }, section: 'core' }), 'a bad value would be caught');
    // systemd sends SIGKILL after TimeoutStopSec: the drain on SIGTERM must end before that.
    for (const [role, drainMs] of [['core', core.drainTimeout], ['edge', edge.drainTimeout]] as const) {
      const unit = parseUnitFile(readFileSync(join(dir, units[role]), 'utf8'));
      const stopSec = Number(/^(\d+)s?$/.exec(value(unit, 'Service', 'TimeoutStopSec') ?? '')?.[1]);
      t.ok(stopSec * 1000 > drainMs, `${units[role]}: TimeoutStopSec (${stopSec} s) outlasts the ${role}'s drain (${drainMs} ms)`);
    }
  });

  t.test('systemd-analyze verify and security accept the units', async (t) => {
    const sa = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).stdout.trim();
    t.ok(sa, 'systemd-analyze is installed (Debian package systemd)');
    if (!sa) return;
    const tmp = mkdtempSync(join(tmpdir(), 'sipflow-units-'));
    try {
      // Templates are verified through an instance, as systemd would load them.
      const instances = [
        [units.core, 'sipflow-core@sipflow.service'],
        [units.edge, 'sipflow-edge@sipflow.service'],
        [units.rtpengine, units.rtpengine],
      ] as const;
      for (const [src, name] of instances) copyFileSync(join(dir, src), join(tmp, name));
      const paths = instances.map(([, name]) => join(tmp, name));
      const verify = spawnSync(sa, ['verify', ...paths], { encoding: 'utf8', timeout: 60_000 });
      // Only a missing program on this machine is forgiven; any unknown key or bad value is not.
      const complaints = verify.stderr.split('\n').filter((l) => l.trim() && !/is not executable: No such file or directory/.test(l));
      t.equal(verify.status, 0, 'verify exits 0');
      t.same(complaints, [], 'verify has nothing to say');
      for (const p of paths) {
        const sec = spawnSync(sa, ['security', '--offline=yes', '--no-pager', p], { encoding: 'utf8', timeout: 60_000 });
        const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(sec.stdout);
        t.ok(m, `security reports an exposure for ${p}`);
        t.ok(m && Number(m[1]) <= 2.5, `${p}: exposure ${m?.[1]} <= 2.5 (systemd's "OK" band)`);
      }
      // The check can fail: an unknown setting is reported.
      writeFileSync(join(tmp, 'broken.service'), '[Service]\nExecStart=/bin/true\nProtectSystem=sometimes\n');
      const broken = spawnSync(sa, ['verify', join(tmp, 'broken.service')], { encoding: 'utf8', timeout: 60_000 });
      t.match(broken.stderr, /broken.service:3: .*protect ?system/i, 'a bad value is reported');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

t.test('Prometheus alert rules name only metrics the code exports', async (t) => {
  const known = await knownMetrics();
  t.ok(known.has('sipflow_core_store_errors_total') && known.has('sipflow_edge_cores_healthy'), 'the metric registries were read');
  const doc = parseYaml(readFileSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yaml'), 'utf8'), { uniqueKeys: true }) as {
    groups: { name: string; rules: { alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
  };
  t.ok(Array.isArray(doc.groups) && doc.groups.length > 0, 'groups');
  const names = new Set<string>();
  const exprs: string[] = [];
  for (const group of doc.groups) {
    t.ok(group.name && group.rules.length > 0, `group ${group.name} has rules`);
    for (const rule of group.rules) {
      t.ok(rule.alert && /^[A-Z][A-Za-z0-9]+$/.test(rule.alert), `${rule.alert}: alert name`);
      t.notOk(names.has(rule.alert!), `${rule.alert}: unique`);
      names.add(rule.alert!);
      t.ok(typeof rule.expr === 'string' && rule.expr.length > 0, `${rule.alert}: expr`);
      if (rule.for !== undefined) t.match(rule.for, /^(\d+(ms|s|m|h|d))+$/, `${rule.alert}: for is a duration`);
      t.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity label`);
      t.ok(rule.annotations?.summary, `${rule.alert}: summary annotation`);
      t.same(metricProblems(rule.expr, known), [], `${rule.alert}: metrics and labels exist`);
      exprs.push(rule.expr);
    }
  }
  const all = exprs.join('\n');
  const covers: [string, RegExp][] = [
    ['no healthy core', /sipflow_edge_cores_healthy\)?\s*==\s*0/],
    ['store errors', /sipflow_core_store_errors_total/],
    ['flow churn by close reason', /sipflow_edge_flows_closed_total\{reason/],
    ['5xx rate', /status=~"5\.\."/],
    ['node down', /\bup\{[^}]*\}\s*==\s*0/],
  ];
  for (const [what, re] of covers) t.match(all, re, `an alert covers ${what}`);

  t.test('the name check can fail', async (t) => {
    t.not(metricProblems('rate(sipflow_core_store_error_total[5m]) > 0', known).length, 0, 'a misspelt metric');
    t.not(metricProblems('sipflow_edge_flows_closed_total{cause="client"}', known).length, 0, 'a label the metric lacks');
    t.not(metricProblems('sipflow_edge_flows_closed_total{reason!~"client|gone"}', known).length, 0, 'a value the code never sets');
    t.throws(() => checkBrackets('sum(rate(x[5m])'), 'unbalanced brackets');
    t.same(selectors('sum by (instance, le) (rate(a_bucket{x="y(" , z=~"1|2"}[5m])) / on(instance) b offset 5m > 1e-3 and c').map((s) => s.name), ['a_bucket', 'b', 'c'], 'selectors seen through grouping, strings, ranges and numbers');
  });
});

t.test('the Grafana dashboard', async (t) => {
  const known = await knownMetrics();
  const dash = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'sipflow-dashboard.json'), 'utf8')) as {
    uid: string;
    title: string;
    schemaVersion: number;
    templating: { list: { name: string; type: string }[] };
    panels: { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string }; targets?: { expr: string; refId: string }[] }[];
  };
  t.ok(dash.uid && dash.title && dash.schemaVersion >= 30, 'uid, title, schemaVersion');
  t.ok(dash.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'), 'a datasource variable');
  const ids = new Set<number>();
  const exprs: string[] = [];
  for (const p of dash.panels) {
    t.notOk(ids.has(p.id), `panel ${p.id} id is unique`);
    ids.add(p.id);
    const g = p.gridPos;
    t.ok(g && g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${p.title}: fits the 24-column grid`);
    if (p.type === 'row') continue;
    t.equal(p.datasource?.uid, '${datasource}', `${p.title}: uses the datasource variable`);
    t.ok(p.targets?.length, `${p.title}: has queries`);
    const refs = new Set<string>();
    for (const target of p.targets ?? []) {
      t.notOk(refs.has(target.refId), `${p.title}: refId ${target.refId} unique`);
      refs.add(target.refId);
      t.same(metricProblems(target.expr, known), [], `${p.title}: ${target.expr.slice(0, 60)}...`);
      exprs.push(target.expr);
    }
  }
  const boxes = dash.panels.map((p) => p.gridPos);
  const overlaps = boxes.filter((a, i) => boxes.some((b, j) => j > i && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h));
  t.same(overlaps, [], 'no two panels overlap');
  const all = exprs.join('\n');
  const topics: [string, RegExp][] = [
    ['flows', /sipflow_edge_flows_open/],
    ['messages by method', /by \(method\) \(rate\(sipflow_core_messages_received_total/],
    ['responses by status', /by \(status\) \(rate\(sipflow_core_responses_sent_total/],
    ['registrations', /sipflow_core_registrations_total/],
    ['REGISTER latency quantiles', /histogram_quantile\(0\.99, sum by \(le\) \(rate\(sipflow_core_register_duration_seconds_bucket/],
    ['store errors', /sipflow_core_store_errors_total/],
    ['transactions', /sipflow_core_transactions\{/],
    ['retransmissions', /sipflow_core_retransmissions_total/],
    ['rate-limited', /sipflow_core_rate_limited_total/],
    ['rtpengine', /sipflow_core_rtpengine_commands_total/],
    ['event loop lag', /eventloop_lag/],
    ['heap', /heap_size_used_bytes/],
  ];
  for (const [what, re] of topics) t.match(all, re, `a panel shows ${what}`);
});
