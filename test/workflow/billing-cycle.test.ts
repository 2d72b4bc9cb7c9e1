import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { BillingActivities } from '../../activities/billing.js';
import type { ClosedPeriod, InvoicingActivities } from '../../activities/invoicing.js';
import { MS_PER_DAY, formatDay, parseDay } from '../../src/domain/index.js';
import { billingStateQuery, runNowUpdate } from '../../workflows/messages.js';
import { sharedServer } from '../support/servers.js';
import { recordHistory } from './support/subscriptions.js';

const testServer = fileURLToPath(new URL('../../.tools/bin/temporal-test-server', import.meta.url));

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  // The retry test fails activities on purpose; only errors are worth printing.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServer } },
  });
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

type CycleActivities = Pick<BillingActivities, 'recordBillingCycleStarted'> & Pick<InvoicingActivities, 'nextBillingDay' | 'closeBillingDay'>;

/** The first day of the month after `day`. */
function nextMonthStart(day: string): string {
  const [year, month] = day.split('-').map(Number) as [number, number];
  return month === 12 ? `${year + 1}-01-01` : `${year}-${String(month + 1).padStart(2, '0')}-01`;
}

/** A monthly account whose first billing day is `firstDay`; records every closing, and every day `nextBillingDay` was asked after. */
function monthlyAccount(firstDay: string, closed: string[], asked: (string | null)[] = []): Omit<CycleActivities, 'recordBillingCycleStarted'> {
  const after = (afterDay: string | null) => (afterDay === null ? firstDay : nextMonthStart(afterDay));
  return {
    nextBillingDay: async (_accountId, afterDay) => {
      asked.push(afterDay);
      return after(afterDay);
    },
    closeBillingDay: async ({ billingDay }) => {
      closed.push(billingDay);
      // Nothing owed: collection (another workflow) is not part of this test.
      const invoice: ClosedPeriod = { invoiceId: `invoice-${billingDay}`, number: `INV-${closed.length}`, status: 'paid', amountDue: 0, collectionMethod: 'charge_automatically' };
      return { invoice, nextBillingDay: after(billingDay) };
    },
  };
}

const idle: Omit<CycleActivities, 'recordBillingCycleStarted'> = {
  nextBillingDay: async () => null,
  closeBillingDay: async () => ({ invoice: null, nextBillingDay: null }),
};

function workerWith(activities: CycleActivities, taskQueue: string) {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: sharedServer('workflowBundle') },
    activities,
  });
}

describe('billingCycle in the time-skipping environment', () => {
  it('records its start once, answers its state query, and keeps waiting through a year', async () => {
    const recorded: string[] = [];
    const worker = await workerWith(
      {
        recordBillingCycleStarted: async (organizationId) => {
          recorded.push(organizationId);
          return '2027-01-01T00:00:00.000Z';
        },
        ...idle,
      },
      'billing-year',
    );
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('billingCycle', {
        workflowId: 'billing:org-1',
        taskQueue: 'billing-year',
        args: [{ organizationId: 'org-1' }],
      });
      await env.sleep('365 days');
      expect(await handle.query(billingStateQuery)).toMatchObject({ organizationId: 'org-1' });
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(recorded).toEqual(['org-1']);
      await handle.terminate('test over');
    });
  });

  it('retries recording until the organization is visible (the API starts it just before commit)', async () => {
    let attempts = 0;
    const worker = await workerWith(
      {
        recordBillingCycleStarted: async (organizationId) => {
          attempts += 1;
          if (attempts < 3) throw ApplicationFailure.retryable(`organization ${organizationId} is not visible yet`, 'OrganizationNotFound');
          return '2027-01-01T00:00:00.000Z';
        },
        ...idle,
      },
      'billing-retry',
    );
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('billingCycle', {
        workflowId: 'billing:org-2',
        taskQueue: 'billing-retry',
        args: [{ organizationId: 'org-2' }],
      });
      await env.sleep('5 minutes');
      expect(attempts).toBe(3);
      await handle.terminate('test over');
    });
  });

  it('closes each monthly billing day exactly when it comes, for a year, continuing as new after each', async () => {
    const today = formatDay(Math.floor((await env.currentTimeMs()) / MS_PER_DAY));
    const firstDay = nextMonthStart(today);
    const closed: string[] = [];
    const worker = await workerWith({ recordBillingCycleStarted: async () => '2027-01-01T00:00:00.000Z', ...monthlyAccount(firstDay, closed) }, 'billing-months');
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('billingCycle', { workflowId: 'billing:org-3', taskQueue: 'billing-months', args: [{ organizationId: 'org-3' }] });
      const firstRunId = (await handle.describe()).runId;
      let expected = firstDay;
      const months: string[] = [];
      for (let month = 0; month < 12; month += 1, expected = nextMonthStart(expected)) months.push(expected);
      // Until just before the twelfth billing day, then past it.
      await env.sleep(parseDay(months[11]!) * MS_PER_DAY - (await env.currentTimeMs()) - 60_000);
      expect(closed).toEqual(months.slice(0, 11));
      await env.sleep('2 minutes');
      expect(closed).toEqual(months);
      expect(await handle.query(billingStateQuery)).toMatchObject({ lastBilledDay: months[11], nextRunDay: nextMonthStart(months[11]!) });
      expect((await handle.describe()).runId).not.toBe(firstRunId);
      await recordHistory('billing-first-closing', handle, firstRunId);
      await handle.terminate('test over');
    });
  });

  it('answers runNow with the closing of today, and a second runNow the same day with the same invoice', async () => {
    const today = formatDay(Math.floor((await env.currentTimeMs()) / MS_PER_DAY));
    const closed: string[] = [];
    const asked: (string | null)[] = [];
    const worker = await workerWith({ recordBillingCycleStarted: async () => '2027-01-01T00:00:00.000Z', ...monthlyAccount(nextMonthStart(today), closed, asked) }, 'billing-run-now');
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('billingCycle', { workflowId: 'billing:org-4', taskQueue: 'billing-run-now', args: [{ organizationId: 'org-4' }] });
      const first = await handle.executeUpdate(runNowUpdate);
      expect(first).toMatchObject({ billingDay: today, invoice: { invoiceId: `invoice-${today}` } });
      const second = await handle.executeUpdate(runNowUpdate);
      expect(second.invoice?.invoiceId).toBe(first.invoice?.invoiceId);
      expect(closed).toEqual([today, today]);
      // The run after the closing starts from the day the closing answered; nobody asked after today.
      expect(await handle.query(billingStateQuery)).toMatchObject({ lastBilledDay: today, nextRunDay: nextMonthStart(today) });
      expect(asked).toEqual([null]);
      await handle.terminate('test over');
    });
  });
});
