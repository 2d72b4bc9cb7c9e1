import { randomUUID } from 'node:crypto';
import { journalForFinalizedInvoice } from '../../../src/domain/index.js';
import type { TestStack } from '../../support/stack.js';

/**
 * An open, finalized invoice of `organizationId` with one subscription line and its finalization
 * journal entry, written directly: for suites that need an invoice to act on without running a
 * billing cycle (access control, payments). The billing cycle's own invoices are tested in
 * test/api/invoices.test.ts.
 */
export async function insertOpenInvoice(stack: TestStack, organizationId: string, amount = 10_000): Promise<string> {
  const id = randomUUID();
  const prefix = `TEST-${id.slice(0, 8).toUpperCase()}`;
  const day = '2026-11-01T00:00:00.000Z';
  const next = '2026-12-01T00:00:00.000Z';
  await stack.sql(
    `insert into invoices (id, organization_id, billing_date, number, status, currency, collection_method, period_start, period_end,
       subtotal, discount, tax, total, credit_applied, amount_due, amount_paid, amount_credited, due_at, finalized_at, created_at, updated_at)
     values ($1, $2, $3, $4, 'open', 'USD', 'send_invoice', $3, $5, $6, 0, 0, $6, 0, $6, 0, 0, $5, now(), now(), now())`,
    [id, organizationId, day, `${prefix}-000001`, next, amount],
  );
  await stack.sql(
    `insert into invoice_lines (id, invoice_id, position, key, type, description, organization_id, quantity, unit_amount, amount, period_start, period_end)
     values ($1, $2, 0, $3, 'subscription', 'Fixture plan base fee', $4, '1', $5, $5, $6, $7)`,
    [randomUUID(), id, `fixture:${id}`, organizationId, amount, day, next],
  );
  const entryId = randomUUID();
  await stack.sql(
    `insert into journal_entries (id, organization_id, invoice_id, source_key, description, currency, posted_at) values ($1, $2, $3, $4, 'Fixture invoice finalized', 'USD', now())`,
    [entryId, organizationId, id, `invoice:${id}:finalized`],
  );
  for (const line of journalForFinalizedInvoice({ subtotal: amount, discount: 0, tax: 0, total: amount, creditApplied: 0, creditCarriedForward: 0, amountDue: amount })) {
    await stack.sql('insert into journal_lines (id, entry_id, account, debit, credit) values ($1, $2, $3, $4, $5)', [randomUUID(), entryId, line.account, line.debit, line.credit]);
  }
  return id;
}
