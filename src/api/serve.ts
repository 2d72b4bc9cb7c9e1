import { createServer, type RequestListener, type ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from './app.js';
import type { AppDeps } from './http/context.js';
import { fastLane } from './fast-lane.js';
import { createSharedServices } from './services.js';

/**
 * Serves the API over HTTP: the app, with the fast lane in front of it (seat verification and
 * single usage events, the hottest calls, without the general pipeline: `fastLane`).
 */
export function serveApi(deps: AppDeps, listen: { hostname: string; port: number }, onListening?: (info: AddressInfo) => void): ServerType {
  const shared = createSharedServices(deps);
  const app = createApp(deps, shared);
  const lane = fastLane(deps, shared);
  return serve({
    fetch: app.fetch,
    ...listen,
    // @hono/node-server calls it as http's createServer(options, listener), with the app as listener.
    createServer: ((options: ServerOptions, app: RequestListener) => createServer(options, (request, response) => lane(request, response, app))) as typeof createServer,
  }, onListening);
}
