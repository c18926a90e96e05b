/**
 * Loads uWebSockets.js and tells which implementation runs. The package quietly falls back to a slow
 * pure-JS server when its native addon does not match this Node build (src/uws.js catches the
 * require error and loads ../dist/index), so the edge must say which one it got: a fallback edge
 * works in a test and collapses under load.
 */
import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';

export { uWS };
export type {
  HttpRequest, HttpResponse, TemplatedApp, WebSocket as UwsWebSocket, WebSocketBehavior, us_listen_socket, us_socket_context_t,
} from 'uWebSockets.js';

export interface UwsRuntime {
  implementation: 'native' | 'fallback';
  /** Path of the loaded addon (native) or of the fallback entry point. */
  module: string;
}

const require = createRequire(import.meta.url);

/**
 * The ESM import above goes through the CommonJS loader, so the addon, when it loaded, sits in
 * require.cache as `.../binaries/uws_<platform>_<arch>_<abi>.node`.
 */
export function uwsRuntime(): UwsRuntime {
  const keys = Object.keys(require.cache);
  const native = keys.find((k) => /[\\/]uws_[^\\/]+\.node$/.test(k));
  if (native !== undefined) return { implementation: 'native', module: native };
  const fallback = keys.find((k) => /uWebSockets\.js[\\/]dist[\\/]/.test(k) || /uws-js-unofficial[\\/]dist[\\/]/.test(k));
  return { implementation: 'fallback', module: fallback ?? 'unknown' };
}
