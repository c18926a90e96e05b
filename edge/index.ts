/** The edge node's public API: what the CLI, the cluster launcher and the benchmarks use. */
export { EdgeNode, type EdgeAddresses } from './edge-node.js';
export { DEV_SECRET, type EdgeNodeOptions } from './edge-options.js';
export { EdgeMetrics, REFUSAL_CAUSES, CLOSE_REASONS, type RefusalCause, type CloseReason } from './metrics.js';
export { uwsRuntime, type UwsRuntime } from './uws-runtime.js';
