import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Connection } from '@temporalio/client';
import { pingDatabase, type Orm } from '../../db/orm.js';
import type { AppEnv, ReadinessCheck } from '../http/context.js';

const HealthSchema = z.object({ status: z.literal('ok') }).openapi('Health');
const ReadinessSchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })),
  })
  .openapi('Readiness');

const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['Operations'],
  summary: 'The process is up',
  responses: { 200: { description: 'Up', content: { 'application/json': { schema: HealthSchema } } } },
});

const readinessRoute = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['Operations'],
  summary: 'PostgreSQL and Temporal answer',
  responses: {
    200: { description: 'Ready to serve', content: { 'application/json': { schema: ReadinessSchema } } },
    503: { description: 'A dependency does not answer', content: { 'application/json': { schema: ReadinessSchema } } },
  },
});

const checkTimeoutMs = 2_000;

/** What `/readyz` asks: PostgreSQL answers a query and Temporal's health service says serving. */
export function dependencyChecks(orm: Orm, temporal: Connection): Record<string, ReadinessCheck> {
  return {
    postgres: async () => {
      await pingDatabase(orm);
    },
    temporal: async () => {
      await temporal.healthService.check({});
    },
  };
}

async function runCheck(check: () => Promise<void>): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${checkTimeoutMs} ms`)), checkTimeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealth(app: OpenAPIHono<AppEnv>) {
  app.openapi(healthRoute, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readinessRoute, async (c) => {
    const entries = await Promise.all(
      Object.entries(c.var.readiness).map(async ([name, check]) => [name, await runCheck(check)] as const),
    );
    const checks = Object.fromEntries(entries);
    const ready = entries.every(([, result]) => result.ok);
    return ready ? c.json({ status: 'ready' as const, checks }, 200) : c.json({ status: 'unavailable' as const, checks }, 503);
  });
}
