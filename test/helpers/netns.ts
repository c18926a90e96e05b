/**
 * Network namespaces for peer tests that need more than loopback: a phone behind a NAT.
 *
 *   root namespace (the cores, in the test process)        sfcore-nat                     sfcore-phone
 *   sfcore-pub 10.200.9.1/24  <--veth-->  pub0 10.200.9.2/24 | MASQUERADE | priv0 10.200.1.1/24 <--veth--> eth0 10.200.1.2/24
 *
 * The root namespace has no route to 10.200.1.0/24, so the cores only ever see the NAT's public
 * address; the iptables rule lives inside sfcore-nat and dies with it. Nothing leaves the machine.
 * `destroy()` deletes both namespaces (which deletes the veth pairs); it is idempotent and also
 * cleans up what a crashed earlier run left behind.
 *
 * Also here: a UdpUa bound to a chosen address and port (UdpUa.open() binds 127.0.0.1:0).
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { UdpUa } from './udp-ua.js';

export const NAT = {
  natNs: 'sfcore-nat',
  phoneNs: 'sfcore-phone',
  rootIf: 'sfcore-pub',
  /** The cores' address, in the root namespace. */
  coreHost: '10.200.9.1',
  /** What the cores see as the phone's source address. */
  natPublic: '10.200.9.2',
  natPrivate: '10.200.1.1',
  phoneHost: '10.200.1.2',
} as const;

/** Fails (does not skip) with a message saying what is missing. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root (network namespaces, veth, iptables); run the tests as root, e.g. sudo npm test`);
}

export function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

function tryRun(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  } catch {
    /* already gone */
  }
}

export function namespaceExists(name: string): boolean {
  return run('ip', ['netns', 'list']).split('\n').some((l) => l.split(' ')[0] === name);
}

export function pidsIn(ns: string): number[] {
  return run('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number);
}

/** For a namespace a test made: every process in it is one the test started. */
export function killAllIn(ns: string): void {
  if (!namespaceExists(ns)) return;
  for (const pid of pidsIn(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function deleteNamespace(ns: string): void {
  if (!namespaceExists(ns)) return;
  killAllIn(ns);
  try {
    run('ip', ['netns', 'del', ns]);
  } catch {
    /* a process still exiting holds it; the next run's preflight deletes it */
  }
}

export class NatTopology {
  #destroyed = false;

  private constructor() {}

  static create(): NatTopology {
    requireRoot('the NAT test');
    const topo = new NatTopology();
    topo.destroy();
    topo.#destroyed = false;
    const { natNs, phoneNs, rootIf } = NAT;
    const inNat = (...a: string[]) => run('ip', ['netns', 'exec', natNs, ...a]);
    const inPhone = (...a: string[]) => run('ip', ['netns', 'exec', phoneNs, ...a]);
    try {
      run('ip', ['netns', 'add', natNs]);
      run('ip', ['netns', 'add', phoneNs]);
      run('ip', ['link', 'add', rootIf, 'type', 'veth', 'peer', 'name', 'pub0', 'netns', natNs]);
      run('ip', ['addr', 'add', `${NAT.coreHost}/24`, 'dev', rootIf]);
      run('ip', ['link', 'set', rootIf, 'up']);
      inNat('ip', 'link', 'set', 'lo', 'up');
      inNat('ip', 'addr', 'add', `${NAT.natPublic}/24`, 'dev', 'pub0');
      inNat('ip', 'link', 'set', 'pub0', 'up');
      inNat('ip', 'link', 'add', 'priv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', phoneNs);
      inNat('ip', 'addr', 'add', `${NAT.natPrivate}/24`, 'dev', 'priv0');
      inNat('ip', 'link', 'set', 'priv0', 'up');
      inNat('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
      inNat('iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.200.1.0/24', '-o', 'pub0', '-j', 'MASQUERADE');
      inPhone('ip', 'link', 'set', 'lo', 'up');
      inPhone('ip', 'addr', 'add', `${NAT.phoneHost}/24`, 'dev', 'eth0');
      inPhone('ip', 'link', 'set', 'eth0', 'up');
      inPhone('ip', 'route', 'add', 'default', 'via', NAT.natPrivate);
    } catch (err) {
      topo.destroy();
      throw err;
    }
    process.once('exit', () => topo.destroy());
    return topo;
  }

  /** The NAT's address translations (conntrack entries are not listed without conntrack-tools; the rule counters are). */
  natRuleCounters(): string {
    return run('ip', ['netns', 'exec', NAT.natNs, 'iptables', '-t', 'nat', '-L', 'POSTROUTING', '-n', '-v', '-x']);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    tryRun('ip', ['netns', 'del', NAT.phoneNs]);
    tryRun('ip', ['netns', 'del', NAT.natNs]);
    tryRun('ip', ['link', 'del', NAT.rootIf]);
  }
}

/** A UdpUa bound to `host:port` (UdpUa.open() only binds 127.0.0.1 on an ephemeral port). */
export async function udpUaAt(host: string, port: number): Promise<UdpUa> {
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // UdpUa's constructor is private to TypeScript only; it takes a bound socket.
  const ua = new (UdpUa as unknown as new (s: Socket) => UdpUa)(socket);
  ua.port = port;
  (ua as { host: string }).host = host;
  return ua;
}
