/**
 * The `java` command line Cassandra's own scripts would build (bin/cassandra + cassandra-env.sh +
 * conf/jvm-server.options + conf/jvm17-server.options of Cassandra 5.0), reproduced because the
 * Maven artifacts come without bin/ and conf/. Deviations, each for this small shared machine:
 * a fixed small heap, the serial collector (no parallel GC threads fighting other engineers' work),
 * no -XX:+AlwaysPreTouch (it makes start slower), and short gossip/ring delays for fresh clusters.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { NodePaths } from './paths.js';
import type { NodeSpec } from './topology.js';

/** From conf/jvm17-server.options ("### JPMS"): what Cassandra reaches into on Java 17. */
export const JAVA17_MODULE_FLAGS = [
  '-Djdk.attach.allowAttachSelf=true',
  '--add-exports', 'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports', 'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports', 'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports', 'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports', 'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports', 'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports', 'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports', 'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens', 'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens', 'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens', 'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens', 'java.base/java.io=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens', 'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util=ALL-UNNAMED',
  // Netty settings from the same file.
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dio.netty.allocator.useCacheForAllThreads=true',
  '-Dio.netty.allocator.maxOrder=11',
];

export interface JvmOptions {
  heapMb?: number;
  extra?: string[];
}

export function javaBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'java') : 'java';
}

/**
 * The program to spawn for a node: `java` itself, or, for a node in a network namespace,
 * `ip netns exec <ns> java ...`. `ip` enters the namespace and then execs java without forking, so
 * the spawned pid IS the JVM's, and the pid file and /proc/<pid>/cmdline checks work unchanged.
 */
export function launchCommand(spec: Pick<NodeSpec, 'netns'>, java: string, args: readonly string[]): { command: string; args: string[] } {
  if (spec.netns === undefined) return { command: java, args: [...args] };
  return { command: 'ip', args: ['netns', 'exec', spec.netns, java, ...args] };
}

const fileUrl = (p: string) => pathToFileURL(p).href;

export function javaArgs(spec: NodeSpec, paths: NodePaths, lib: string, options: JvmOptions = {}): string[] {
  const heap = options.heapMb ?? 512;
  const jamm = existsSync(lib) ? readdirSync(lib).find((f) => /^jamm-.*\.jar$/.test(f)) : undefined;
  return [
    // conf/jvm-server.options, general settings
    '-ea',
    '-da:net.openhft...',
    '-XX:+UseThreadPriorities',
    '-Xss256k',
    '-XX:+UseTLAB',
    '-XX:+ResizeTLAB',
    '-XX:+PerfDisableSharedMem',
    '-Djava.net.preferIPv4Stack=true',
    `-Xms${heap}m`,
    `-Xmx${heap}m`,
    '-XX:+UseSerialGC',
    // Cassandra's startup check asks for this: a JVM that hit OOM may corrupt data if it goes on.
    '-XX:+ExitOnOutOfMemoryError',
    `-XX:HeapDumpPath=${paths.dir}`,
    `-XX:ErrorFile=${join(paths.logs, 'hs_err_%p.log')}`,
    ...JAVA17_MODULE_FLAGS,
    // cassandra-env.sh adds jamm as an agent so memtable sizes are measured, not estimated.
    ...(jamm ? [`-javaagent:${join(lib, jamm)}`] : []),
    // bin/cassandra
    `-Dcassandra.config=${fileUrl(paths.yaml)}`,
    '-Dcassandra-foreground=yes',
    `-Dcassandra.storagedir=${paths.dir}`,
    `-Dcassandra.logdir=${paths.logs}`,
    `-Dlogback.configurationFile=${fileUrl(paths.logback)}`,
    `-Dcassandra-rackdc.properties=${fileUrl(paths.rackdc)}`,
    // Fresh local clusters: no reason to wait for gossip to settle or for a 30 s ring delay.
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    `-Dcassandra.ring_delay_ms=${spec.ringDelayMs}`,
    '-Dcassandra.available_processors=2',
    ...(options.extra ?? []),
    '-cp',
    `${paths.conf}:${join(lib, '*')}`,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
}
