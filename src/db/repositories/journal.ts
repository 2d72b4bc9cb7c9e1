import type { EntityManager } from '@mikro-orm/postgresql';
import { assertBalanced, type JournalLineDraft } from '../../domain/index.js';
import { sql } from '../sql.js';

export interface JournalPosting {
  organizationId: string;
  invoiceId: string | null;
  /** Unique per financial event (e.g. `invoice:<id>:finalized`): posting it again posts nothing. */
  sourceKey: string;
  description: string;
  currency: string;
  postedAt: Date;
  lines: readonly JournalLineDraft[];
}

/**
 * Posts one balanced entry in the caller's transaction; returns false when the event was already
 * posted. An entry without lines (a zero invoice) is not posted.
 */
export async function postJournalEntry(em: EntityManager, posting: JournalPosting): Promise<boolean> {
  assertBalanced(posting.lines);
  if (posting.lines.length === 0) return false;
  // One statement: the lines go in only with an entry inserted now. As JSON: the driver expands an
  // array parameter into a list of parameters, not a PostgreSQL array.
  const posted = await sql<{ id: string }>(
    em,
    `with entry as (
       insert into journal_entries (id, organization_id, invoice_id, source_key, description, currency, posted_at)
       values (gen_random_uuid(), $1, $2, $3, $4, $5, $6) on conflict (source_key) do nothing returning id
     ),
     lines as (
       insert into journal_lines (id, entry_id, account, debit, credit)
       select gen_random_uuid(), entry.id, l.account, l.debit, l.credit from entry, jsonb_to_recordset($7::jsonb) as l(account text, debit bigint, credit bigint)
     )
     select id from entry`,
    [posting.organizationId, posting.invoiceId, posting.sourceKey, posting.description, posting.currency, posting.postedAt, JSON.stringify(posting.lines)],
  );
  return posted.length > 0;
}

/** The customer's credit balance: what the `customer_credit` account owes the organization. */
export async function creditBalanceOf(em: EntityManager, organizationId: string): Promise<number> {
  const [row] = await sql<{ balance: string | null }>(
    em,
    `select sum(l.credit - l.debit) as balance from journal_lines l join journal_entries e on e.id = l.entry_id
      where e.organization_id = $1 and l.account = 'customer_credit'`,
    [organizationId],
  );
  return Number(row?.balance ?? 0);
}
