/**
 * The edge's cost per REGISTER: WebSocket UAs in this process (the `ws` client) send REGISTERs as
 * browsers do, one per UA in a closed loop, through a real EdgeNode relaying over TCP to the
 * comparison floor's answering server (bench/kamailio/floor-answer.ts: a 200 with the request's
 * header lines, no SIP). The same load also goes through the floor's edge (bench/kamailio/
 * floor-ws.ts: uWebSockets.js handing each frame to that server and each answer back, no SIP), with
 * clients of its own. The two take turns round by round; each figure is this process's CPU per
 * REGISTER (clients, edge and answering server together), so the difference of their medians is
 * what the edge's SIP work costs. With a baseline (SIPFLOW_HARNESS_BASELINE=<other checkout>/dist)
 * that build's edge joins the rotation, and the median of the per-round differences between the two
 * edges is what the change between the builds costs or saves. Runs minutes apart drift by ±10–15 %
 * on this machine; a difference taken within one round does not. `node --cpu-prof` on it profiles
 * the edge.
 *
 *   npm run bench -- edge-register     (SIPFLOW_HARNESS_UAS, _COUNT, _RUNS, _BASELINE: 100, 20000, 10, none)
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo, Server } from 'node:net';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { EdgeNode } from '../../edge/edge-node.js';
import { listenAnswering } from '../kamailio/floor-answer.js';
import { listenFloorEdge, type FloorWs } from '../kamailio/floor-ws.js';
import { registerRequest, type UaIdentity } from '../loadgen/sip-builder.js';
import { ClosedLoop, compareWithFloor, envCount, importBuild } from '../harness/closed-loop.js';

const DOMAIN = 'bench.example';

export interface EdgeHarnessOptions {
  uas: number;
  /** REGISTERs per measured round and edge. */
  count: number;
  runs: number;
  /** A build of other code (a checkout's dist/ directory) whose edge is measured alongside. */
  baseline?: string;
}

export interface EdgeHarnessResult {
  uas: number;
  count: number;
  /** CPU per REGISTER of this process (clients, edge, answering server), µs, every round, sorted. */
  edge: number[];
  /** The same with the floor's edge in place of sipflow's. */
  floor: number[];
  /** Median edge − median floor: the edge's SIP work per REGISTER, µs. */
  edgeWork: number;
  /** With a baseline: its edge's figures, its SIP work, and the median of (edge − baseline) per round, µs. */
  baseline?: { edge: number[]; edgeWork: number; difference: number };
}

/** `uas` WebSocket UAs registering in a closed loop through one edge. */
class WsClosedLoop extends ClosedLoop {
  readonly #sockets: WebSocket[];
  readonly #ids: UaIdentity[];
  readonly #cseqs: number[];

  private constructor(sockets: WebSocket[], ids: UaIdentity[]) {
    super(ids.length);
    this.#sockets = sockets;
    this.#ids = ids;
    this.#cseqs = new Array<number>(ids.length).fill(0);
    sockets.forEach((ws, i) => {
      ws.on('message', (data: Buffer) => this.#read(i, data));
      ws.on('close', () => this.fail(new Error(`UA ${i}'s WebSocket closed during a round`)));
    });
  }

  static async open(port: number, count: number, tag: string): Promise<WsClosedLoop> {
    const ids: UaIdentity[] = [];
    const sockets: WebSocket[] = [];
    for (let i = 0; i < count; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, 'sip');
      await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
      sockets.push(ws);
      ids.push({ user: `${tag}${i}`, domain: DOMAIN, transport: 'ws', host: `${tag}${i}.invalid`, instance: randomUUID() });
    }
    return new WsClosedLoop(sockets, ids);
  }

  close(): void {
    for (const ws of this.#sockets) ws.terminate();
  }

  /** Ends the current round in error (something it depends on failed). */
  abort(err: Error): void {
    this.fail(err);
  }

  protected send(ua: number): void {
    const cseq = ++this.#cseqs[ua]!;
    const id = this.#ids[ua]!;
    this.#sockets[ua]!.send(registerRequest(id, { callId: `${id.user}-harness`, cseq, branch: `z9hG4bK${id.user}x${cseq}`, fromTag: `t${id.user}`, expires: 600 }));
  }

  #read(ua: number, data: Buffer): void {
    const text = data.toString('latin1');
    const cseq = /\r\nCSeq:\s*(\d+) REGISTER/i.exec(text)?.[1];
    // An answer that is not a 200 to this UA's latest REGISTER is an error, never a REGISTER done.
    if (!text.startsWith('SIP/2.0 200 ') || Number(cseq) !== this.#cseqs[ua] || !text.includes(`${this.#ids[ua]!.user}-harness`)) {
      this.fail(new Error(`unexpected answer: ${text.slice(0, 300)}`));
      return;
    }
    this.answered(ua);
  }
}

async function edgeClass(dist: string | undefined): Promise<typeof EdgeNode> {
  if (dist === undefined) return EdgeNode;
  return (await importBuild(dist, 'edge/edge-node.js')).EdgeNode as typeof EdgeNode;
}

export async function runEdgeRegisterHarness(o: EdgeHarnessOptions): Promise<EdgeHarnessResult> {
  const classes = [EdgeNode, ...(o.baseline !== undefined ? [await edgeClass(o.baseline)] : [])];
  const answering: Server = await listenAnswering(0);
  const core = { host: '127.0.0.1', port: (answering.address() as AddressInfo).port };
  const edges: EdgeNode[] = [];
  const loops: WsClosedLoop[] = [];
  let floorEdge: FloorWs | undefined;
  try {
    for (const Edge of classes) {
      // No rate limits: a closed loop of 100 UAs sends hundreds of REGISTERs a second per flow.
      const edge = new Edge({ ws: { host: '127.0.0.1', port: 0 }, cores: [core], coreTransport: 'tcp', secrets: ['edge-harness-secret'], ratePerFlow: 0, ratePerIp: 0, maxFlowsPerIp: 0 });
      edges.push(edge);
      const addr = await edge.start();
      loops.push(await WsClosedLoop.open(addr.ws.port, o.uas, `e${edges.length}u`));
    }
    // This build's edge, and the baseline's when there is one.
    const [mine, baseline] = loops;
    let floorLoop: WsClosedLoop | undefined;
    floorEdge = await listenFloorEdge(0, core, (err) => floorLoop?.abort(new Error(`the floor's edge lost its answering server: ${err.message}`)));
    floorLoop = await WsClosedLoop.open(floorEdge.port, o.uas, 'fu');
    loops.push(floorLoop);
    // The warm-up is unmeasured: V8 compiles the hot paths of the clients, the edges and the server.
    const warmup = Math.min(o.count, 20_000);
    const r = await compareWithFloor({ mine: mine!, baseline, floor: floorLoop }, { runs: o.runs, count: o.count, warmup: { node: warmup, floor: warmup } });
    return {
      uas: o.uas,
      count: o.count,
      edge: r.mine,
      floor: r.floor,
      edgeWork: r.work,
      ...(r.baseline ? { baseline: { edge: r.baseline.mine, edgeWork: r.baseline.work, difference: r.baseline.difference } } : {}),
    };
  } finally {
    for (const l of loops) l.close();
    floorEdge?.close();
    for (const e of edges) await e.stop();
    answering.close();
  }
}

/** `npm run bench -- edge-register`. */
export async function runEdgeRegisterBench(): Promise<EdgeHarnessResult> {
  const baseline = process.env.SIPFLOW_HARNESS_BASELINE || undefined;
  const o = { uas: envCount('SIPFLOW_HARNESS_UAS', 100), count: envCount('SIPFLOW_HARNESS_COUNT', 20_000), runs: envCount('SIPFLOW_HARNESS_RUNS', 10), ...(baseline ? { baseline } : {}) };
  process.stdout.write(`edge REGISTER harness: ${o.uas} WebSocket UAs per edge, ${o.runs} rounds of ${o.count} REGISTERs per edge${baseline ? `; baseline edge from ${baseline}` : ''}\n`);
  const r = await runEdgeRegisterHarness(o);
  process.stdout.write(
    `CPU per REGISTER (this process: clients, edge, answering server; µs): edge ${r.edge.join(' ')}; ${r.baseline ? `baseline ${r.baseline.edge.join(' ')}; ` : ''}floor's edge ${r.floor.join(' ')}\n` +
      `edge's SIP work per REGISTER (median edge − median floor's edge): ${r.edgeWork} µs\n` +
      (r.baseline
        ? `baseline's SIP work per REGISTER: ${r.baseline.edgeWork} µs; this build − baseline, median of the ${o.runs} rounds' differences: ${r.baseline.difference} µs\n`
        : ''),
  );
  return r;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runEdgeRegisterBench();
