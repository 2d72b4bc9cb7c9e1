import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import temporalProtos from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { BillingActivities } from '../../activities/billing.js';
import { withDomainFailures } from '../../activities/domain-failures.js';
import type { InvoicingActivities } from '../../activities/invoicing.js';
import { DomainError, MS_PER_DAY, formatDay, parseDay } from '../../src/domain/index.js';
import {
  type BillingFailure,
  type ClosedPeriod,
  billingStateQuery,
  billingStatusSearchAttribute,
  runNowUpdate,
} from '../../workflows/messages/billing.js';
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
  // The Java test server takes custom search attributes through the operator API, as a real namespace does.
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: { [billingStatusSearchAttribute.name]: temporalProtos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
  });
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

type CycleActivities = Pick<BillingActivities, 'recordBillingCycleStarted'> &
  Pick<InvoicingActivities, 'nextBillingDay' | 'closeBillingDay'> &
  Partial<Pick<InvoicingActivities, 'recordBillingFailure'>>;

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

  it('puts an account whose closing overflows in needs_attention, reports it once a day, answers runNow at once with the code, and recovers when a closing succeeds', async () => {
    const today = formatDay(Math.floor((await env.currentTimeMs()) / MS_PER_DAY));
    let poisoned = true;
    const closed: string[] = [];
    const reported: BillingFailure[] = [];
    const overflow = () => new DomainError('AMOUNT_OVERFLOW', 'amount sum exceeds the safe integer range', {});
    const worker = await workerWith(
      // The activities' own wrapper turns the domain's error into a failure the workflow does not retry.
      withDomainFailures({
        recordBillingCycleStarted: async () => '2027-01-01T00:00:00.000Z',
        nextBillingDay: async (_accountId: string, _afterDay: string | null, asOf: string) => {
          if (poisoned) throw overflow();
          return asOf;
        },
        closeBillingDay: async ({ billingDay }: { accountId: string; billingDay: string }) => {
          closed.push(billingDay);
          if (poisoned) throw overflow();
          const invoice: ClosedPeriod = { invoiceId: `invoice-${billingDay}`, number: 'INV-1', status: 'paid', amountDue: 0, collectionMethod: 'charge_automatically' };
          return { invoice, nextBillingDay: nextMonthStart(billingDay) };
        },
        recordBillingFailure: async ({ failure }: { accountId: string; failure: BillingFailure }) => void reported.push(failure),
      }),
      'billing-poisoned',
    );
    await worker.runUntil(async () => {
      // An account billed before, so asking for its next billing day computes what is due (and overflows too).
      const yesterday = formatDay(parseDay(today) - 1);
      const handle = await env.client.workflow.start('billingCycle', {
        workflowId: 'billing:org-poisoned',
        taskQueue: 'billing-poisoned',
        args: [{ organizationId: 'org-poisoned', startedAt: '2027-01-01T00:00:00.000Z', lastBilledDay: yesterday }],
      });
      const firstRunId = (await handle.describe()).runId;
      const days = [0, 1, 2, 3].map((offset) => formatDay(parseDay(today) + offset));
      await env.sleep(3 * MS_PER_DAY);
      // One closing a day, not a retry a minute: no loop, and a history that stays small.
      expect(closed).toEqual(days);
      expect(reported.map((failure) => [failure.billingDay, failure.code])).toEqual(days.map((day) => [day, 'amount_overflow']));
      const history = await handle.fetchHistory();
      expect(history.events?.length).toBeLessThan(120);
      const state = await handle.query(billingStateQuery);
      expect(state).toMatchObject({ status: 'needs_attention', lastBilledDay: yesterday, lastError: { code: 'amount_overflow', billingDay: days[3] } });
      expect((await handle.describe()).typedSearchAttributes.get(billingStatusSearchAttribute)).toBe('needs_attention');

      const refused = await handle.executeUpdate(runNowUpdate).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (refused as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause.type).toBe('DomainError');
      expect(cause.details?.[0]).toMatchObject({ code: 'amount_overflow', billingDay: days[3] });

      poisoned = false;
      const recovered = await handle.executeUpdate(runNowUpdate);
      expect(recovered.invoice?.invoiceId).toBe(`invoice-${days[3]}`);
      expect(await handle.query(billingStateQuery)).toMatchObject({ status: 'ok', lastError: null, lastBilledDay: days[3] });
      expect((await handle.describe()).typedSearchAttributes.get(billingStatusSearchAttribute)).toBe('ok');
      // The run that failed, reported and recovered (it continued as new after the closing).
      expect((await handle.describe()).runId).not.toBe(firstRunId);
      await recordHistory('billing-needs-attention', handle, firstRunId);
      await handle.terminate('test over');
    });
  });
});
