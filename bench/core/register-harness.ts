/**
 * The core's own cost per REGISTER, without edges or other processes: a TCP client in this
 * process sends REGISTERs as an edge's relay forwards them (its Via over the browser's, a cluster
 * Path with a signed flow token, +sip.instance, reg-id, Supported: path, gruu, outbound), one per
 * UA in a closed loop, to a CoreNode with the memory store and auth off. The same load also goes to
 * the comparison floor's answering server (bench/kamailio/floor-answer.ts: a 200 with the request's
 * header lines, the sockets and the client, no SIP); the two alternate, and the difference of their CPU per REGISTER (this process, user +
 * system) is what the core's SIP work costs. Quieter than the multi-process comparison (no
 * scheduling between four processes on two CPUs), so it shows changes of a few percent; run it
 * under `node --cpu-prof` for a profile of the core alone.
 *
 * With a baseline (another checkout's build, SIPFLOW_HARNESS_BASELINE=/that/checkout/dist), a
 * second core built from that code joins the rotation in the same process: each round measures
 * both cores back to back, in alternating order, and the median of the per-round differences is
 * what the change between the two builds is worth. Runs minutes apart on this machine drift by
 * ±10–15 %; a difference taken within one round does not.
 *
 *   npm run bench -- core-register       (SIPFLOW_HARNESS_UAS, _COUNT, _RUNS, _BASELINE: 100, 100000, 5, none)
 *   node dist/bench/core/register-harness.js
 */
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { FlowTokenCodec } from '../../sip/outbound/flow-token.js';
import { listenAnswering } from '../kamailio/floor-answer.js';
import { ClosedLoop, compareWithFloor, envCount, importBuild } from '../harness/closed-loop.js';
import { FORWARDED_REGISTER_DOMAIN, forwardedRegister } from '../harness/forwarded-register.js';

const SECRET = 'register-harness-secret';
/** The edge the REGISTERs claim to come through: its node id is in the flow token of the Path. */
const EDGE = { host: '127.0.0.1', port: 5999 };
const DOMAIN = FORWARDED_REGISTER_DOMAIN;

export interface HarnessOptions {
  uas: number;
  /** REGISTERs per measured round. */
  count: number;
  /** Measured rounds per target. */
  runs: number;
  /** A build of other code (a checkout's dist/ directory) whose core is measured alongside. */
  baseline?: string;
}

export interface HarnessResult {
  uas: number;
  count: number;
  /** CPU per REGISTER of this process, µs, every round, sorted. */
  core: number[];
  floor: number[];
  /** Median core − median floor: the core's SIP work per REGISTER, µs. */
  coreWork: number;
  /** With a baseline: its core's figures, its SIP work, and the median of (core − baseline) per round. */
  baseline?: { core: number[]; coreWork: number; difference: number };
}

interface CoreModules {
  CoreNode: typeof CoreNode;
  MemoryLocationStore: typeof MemoryLocationStore;
}

async function loadBaseline(dist: string): Promise<CoreModules> {
  const node = await importBuild(dist, 'core/core-node.js');
  const store = await importBuild(dist, 'core/location/memory-store.js');
  return { CoreNode: node.CoreNode as typeof CoreNode, MemoryLocationStore: store.MemoryLocationStore as typeof MemoryLocationStore };
}

function startCore(m: CoreModules): CoreNode {
  return new m.CoreNode(
    { udp: { host: '127.0.0.1', port: 0 }, tcp: { host: '127.0.0.1', port: 0 }, domain: DOMAIN, auth: false, secrets: [SECRET], trustedSources: ['127.0.0.1'] },
    { store: new m.MemoryLocationStore() },
  );
}

/** One closed-loop TCP client, sending REGISTERs as an edge's relay forwards them. */
class TcpClosedLoop extends ClosedLoop {
  readonly #socket: net.Socket;
  readonly #token: string;
  readonly #cseqs: number[];
  #carry = '';

  private constructor(socket: net.Socket, uas: number, token: string) {
    super(uas);
    this.#socket = socket;
    this.#token = token;
    this.#cseqs = new Array<number>(uas).fill(0);
    socket.on('data', (d) => this.#read(d));
    socket.on('error', (err) => this.fail(err));
  }

  static async open(port: number, uas: number, token: string): Promise<TcpClosedLoop> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.setNoDelay(true);
    return new TcpClosedLoop(socket, uas, token);
  }

  close(): void {
    this.#socket.destroy();
  }

  protected send(ua: number): void {
    this.#socket.write(forwardedRegister(ua, ++this.#cseqs[ua]!, this.#token, EDGE));
  }

  #read(data: Buffer): void {
    const text = this.#carry + data.toString('latin1');
    let at = 0;
    for (;;) {
      const end = text.indexOf('\r\n\r\n', at);
      if (end < 0) break;
      const head = text.slice(at, end);
      at = end + 4;
      const ua = /\r\nCall-ID: cua(\d+)-harness/i.exec(head)?.[1];
      // An answer that is not a 200 to one of ours is an error, never counted as a REGISTER done.
      if (!head.startsWith('SIP/2.0 200 ') || ua === undefined) {
        this.fail(new Error(`unexpected answer: ${head.slice(0, 300)}`));
        return;
      }
      this.answered(Number(ua));
    }
    this.#carry = text.slice(at);
  }
}

export async function runRegisterHarness(o: HarnessOptions): Promise<HarnessResult> {
  const token = new FlowTokenCodec([SECRET], `${EDGE.host}:${EDGE.port}`).encode({ transport: 'ws', host: '127.0.0.1', port: 40000, flow: 'f1' });
  const cores = [startCore({ CoreNode, MemoryLocationStore })];
  if (o.baseline !== undefined) cores.push(startCore(await loadBaseline(o.baseline)));
  // The comparison's floor (its answering core): a 200 with the request's header lines, no SIP.
  const floor = await listenAnswering(0);
  const loops: TcpClosedLoop[] = [];
  try {
    const mine = await TcpClosedLoop.open((await cores[0]!.start()).tcp!.port, o.uas, token);
    loops.push(mine);
    const baseline = cores[1] ? await TcpClosedLoop.open((await cores[1].start()).tcp!.port, o.uas, token) : undefined;
    if (baseline) loops.push(baseline);
    const floorLoop = await TcpClosedLoop.open((floor.address() as net.AddressInfo).port, o.uas, token);
    loops.push(floorLoop);
    // Unmeasured warm-up: V8 compiles the hot paths, the cores' bindings and caches fill.
    const r = await compareWithFloor(
      { mine, baseline, floor: floorLoop },
      { runs: o.runs, count: o.count, warmup: { node: Math.min(o.count, 50_000), floor: Math.min(o.count, 20_000) } },
    );
    return {
      uas: o.uas,
      count: o.count,
      core: r.mine,
      floor: r.floor,
      coreWork: r.work,
      ...(r.baseline ? { baseline: { core: r.baseline.mine, coreWork: r.baseline.work, difference: r.baseline.difference } } : {}),
    };
  } finally {
    for (const l of loops) l.close();
    floor.close();
    for (const c of cores) await c.stop();
  }
}

/** `npm run bench -- core-register`. */
export async function runCoreRegisterBench(): Promise<HarnessResult> {
  const baseline = process.env.SIPFLOW_HARNESS_BASELINE || undefined;
  const o = { uas: envCount('SIPFLOW_HARNESS_UAS', 100), count: envCount('SIPFLOW_HARNESS_COUNT', 100_000), runs: envCount('SIPFLOW_HARNESS_RUNS', 5), ...(baseline ? { baseline } : {}) };
  process.stdout.write(`core REGISTER harness: ${o.uas} UAs, ${o.runs} rounds of ${o.count} REGISTERs per target, alternating${baseline ? `; baseline core from ${baseline}` : ''}\n`);
  const r = await runRegisterHarness(o);
  process.stdout.write(
    `CPU per REGISTER (this process, µs): core ${r.core.join(' ')}; ${r.baseline ? `baseline ${r.baseline.core.join(' ')}; ` : ''}floor ${r.floor.join(' ')}\n` +
      `core's SIP work per REGISTER (median core − median floor): ${r.coreWork} µs\n` +
      (r.baseline
        ? `baseline's SIP work per REGISTER: ${r.baseline.coreWork} µs; this build − baseline, median of the ${o.runs} rounds' differences: ${r.baseline.difference} µs\n`
        : ''),
  );
  return r;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runCoreRegisterBench();
