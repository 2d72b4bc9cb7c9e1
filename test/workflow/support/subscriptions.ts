import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import type { Orm } from '../../../src/db/orm.js';
import type { PlanTerms } from '../../../workflows/messages/subscription.js';

export const historiesDir = new URL('../histories/', import.meta.url);

/** `npm run record:histories` sets this: the workflow tests then (re)write their histories for the replay test. */
export const recordingHistories = process.env.LEDGERFLOW_RECORD_HISTORIES === '1';

export async function recordHistory(name: string, handle: WorkflowHandle, runId?: string): Promise<void> {
  if (!recordingHistories) return;
  const history = await handle.client.getHandle(handle.workflowId, runId).fetchHistory();
  mkdirSync(historiesDir, { recursive: true });
  // protobufjs's own JSON form (enum names, string longs); the replayer reads it back with historyFromJSON.
  writeFileSync(new URL(`${name}.json`, historiesDir), `${JSON.stringify({ workflowId: handle.workflowId, history })}\n`);
}

/** Polls `probe` in real time (the test server's clock does not move meanwhile) until it returns a value. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface SeededCatalog {
  organizationId: string;
  applicationId: string;
  basic: PlanTerms;
  pro: PlanTerms;
}

/** An application, an organization and two monthly plans (basic with a 14-day trial, pro without), as rows. */
export async function seedCatalog(orm: Orm): Promise<SeededCatalog> {
  const em = orm.em.fork();
  const applicationId = randomUUID();
  const organizationId = randomUUID();
  const slug = `app-${applicationId.slice(0, 8)}`;
  await em.execute('insert into applications (id, slug, name, created_at) values (?, ?, ?, now())', [applicationId, slug, 'Seats app']);
  await em.execute(
    `insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days, created_at, updated_at)
     values (?, 'Acme', 'USD', 0, 'charge_automatically', 0, now(), now())`,
    [organizationId],
  );
  const plan = async (code: string, basePrice: number, seatPrice: number, trialDays: number): Promise<PlanTerms> => {
    const id = randomUUID();
    await em.execute(
      `insert into plans (id, code, version, name, application_id, currency, interval, base_price, seat_price, included_seats, trial_days, created_at)
       values (?, ?, 1, ?, ?, 'USD', 'month', ?, ?, 0, ?, now())`,
      [id, code, code, applicationId, basePrice, seatPrice, trialDays],
    );
    return { id, code, name: code, version: 1, applicationId, currency: 'USD', interval: 'month', basePrice, seatPrice, includedSeats: 0, trialDays };
  };
  const suffix = applicationId.slice(0, 8);
  return {
    organizationId,
    applicationId,
    basic: await plan(`basic-${suffix}`, 1_000, 500, 14),
    pro: await plan(`pro-${suffix}`, 3_000, 1_000, 0),
  };
}
