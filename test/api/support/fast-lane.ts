import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { pino } from 'pino';
import { createApp } from '../../../src/api/app.js';
import { createSharedServices } from '../../../src/api/services.js';
import { fastLane } from '../../../src/api/fast-lane.js';
import { systemClock } from '../../../src/clock.js';
import { createStripeClient } from '../../../src/integrations/stripe.js';
import type { TestStack } from '../../support/stack.js';

/**
 * A real HTTP server with the fast lane in front of the app, over the stack's database and
 * Temporal, that counts the requests the lane hands to the app.
 */
export async function startLaneServer(stack: TestStack) {
  const deps = {
    config: { TEMPORAL_TASK_QUEUE: stack.taskQueue, RATE_LIMIT_PER_MINUTE: 1_000 },
    orm: stack.orm,
    temporal: stack.temporal,
    stripe: createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_lane', STRIPE_API_URL: 'http://127.0.0.1:1' }),
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    readiness: {},
    apiKeyCache: stack.apiKeyCache,
  };
  const shared = createSharedServices(deps);
  const app = getRequestListener(createApp(deps, shared).fetch);
  const lane = fastLane(deps, shared);
  let handedToApp = 0;
  const server = createServer((request, response) =>
    lane(request, response, (...args) => {
      handedToApp += 1;
      void app(...args);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    /** POSTs a JSON body with these credentials. */
    post: (path: string, body: unknown, authorization: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }),
    handedToApp: () => handedToApp,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
