import type { EntityManager } from '@mikro-orm/postgresql';
import type {
  CreditNoteSource,
  CustomerSource,
  ErpDocumentType,
  ErpProvider,
  GlMapping,
  InvoiceLineType,
  InvoiceSource,
  PaymentSource,
  RefundSource,
} from '../../domain/index.js';
import type { ErpAttemptOutcome, ErpSyncStatus } from '../entities/index.js';
import { sql } from '../sql.js';
import { organizationTree } from './organizations.js';

/**
 * ERP sync state: the per-document outbox (`erp_sync_documents`), each push attempt
 * (`erp_sync_attempts`), GL mappings, and the integration's shared rate limiter and sealed token.
 */

/**
 * The document a queued one waits for, derived from `<alias>.document_type` and `document_id`
 * (and `organization_id`, an invoice's customer): a customer before its invoices, an invoice
 * before its payments and credit notes, a credit note before its refund.
 */
const dependencyOf = (alias: string) => `
  case ${alias}.document_type when 'invoice' then 'customer' when 'payment' then 'invoice' when 'credit_note' then 'invoice' when 'refund' then 'credit_note' end,
  case ${alias}.document_type
    when 'invoice' then ${alias}.organization_id
    when 'payment' then (select invoice_id from payments where id = ${alias}.document_id)
    when 'credit_note' then (select invoice_id from credit_notes where id = ${alias}.document_id)
    when 'refund' then ${alias}.document_id
  end`;

const queuedColumns = 'integration_id, document_type, document_id, organization_id, depends_on_type, depends_on_id, status, attempts, created_at, updated_at';

/** The values of a new outbox row for `<alias>`'s document, queued for the integration `integrationId` names (a column or a parameter). */
const queuedValues = (integrationId: string, alias: string) =>
  `${integrationId}, ${alias}.document_type, ${alias}.document_id, ${alias}.organization_id, ${dependencyOf(alias)}, 'pending', 0, now(), now()`;

export interface ErpDocumentKey {
  documentType: ErpDocumentType;
  documentId: string;
}

export interface ErpSyncKey extends ErpDocumentKey {
  integrationId: string;
}

export interface ErpOutboxEntry extends ErpDocumentKey {
  /** The organization the document belongs to (an integration with an organization covers it and its descendants). */
  organizationId: string;
}

/**
 * Queues documents for every connected integration that takes their type and covers their
 * organization, in the caller's transaction: they are pushed only if it commits, and then even if
 * the process dies right after (the dispatcher finds undispatched rows). A document queued before
 * is left as it is.
 */
export async function enqueueErpDocuments(em: EntityManager, entries: readonly ErpOutboxEntry[]): Promise<number> {
  if (entries.length === 0) return 0;
  // An invoice's customer is queued with it (a no-op once it is in), so both start together instead of the invoice finding it missing.
  const customers = [...new Set(entries.filter((entry) => entry.documentType === 'invoice').map((entry) => entry.organizationId))].map((organizationId) => ({
    documentType: 'customer' as const,
    documentId: organizationId,
    organizationId,
  }));
  const all = [...customers, ...entries];
  const rows = await sql<{ count: string }>(
    em,
    `with recursive entry(document_type, document_id, organization_id) as (
       select * from unnest($1::text[], $2::uuid[], $3::uuid[])
     ),
     ${organizationTree('ancestry', 'ancestors', 'id in (select organization_id from entry)')},
     inserted as (
       insert into erp_sync_documents (${queuedColumns})
       select distinct ${queuedValues('integration.id', 'entry')}
       from entry join erp_integrations integration
         on integration.status <> 'disconnected'
        and entry.document_type = any(integration.document_types)
        and (integration.organization_id is null
             or integration.organization_id in (select ancestry.id from ancestry where ancestry.origin = entry.organization_id))
       on conflict do nothing
       returning 1
     )
     select count(*)::text as count from inserted`,
    [all.map((entry) => entry.documentType), all.map((entry) => entry.documentId), all.map((entry) => entry.organizationId)],
  );
  return Number(rows[0]?.count ?? 0);
}

/** A credit note's outbox entries: the note, and its refund once Stripe refunded it. */
export function creditNoteErpEntries(creditNote: { id: string; stripeRefundId?: string | null }, organizationId: string): ErpOutboxEntry[] {
  return [
    { documentType: 'credit_note', documentId: creditNote.id, organizationId },
    ...(creditNote.stripeRefundId ? [{ documentType: 'refund' as const, documentId: creditNote.id, organizationId }] : []),
  ];
}

/** Queues one document for one integration (a dependency found missing); returns whether it was new. */
export async function enqueueErpDependency(em: EntityManager, key: ErpSyncKey, organizationId: string): Promise<boolean> {
  const rows = await sql(
    em,
    `with entry(document_type, document_id, organization_id) as (select $2::text, $3::uuid, $4::uuid)
     insert into erp_sync_documents (${queuedColumns})
     select ${queuedValues('$1', 'entry')} from entry
     on conflict do nothing returning 1`,
    [key.integrationId, key.documentType, key.documentId, organizationId],
  );
  return rows.length > 0;
}

/**
 * Locks up to `limit` undispatched rows that may start now (skipping rows another dispatcher
 * holds), oldest first. A row whose dependency is still on its way waits here, not in a workflow
 * polling for it: it becomes ready once the dependency is synced (or failed, which fails it too).
 */
export async function lockUndispatchedErpDocuments(em: EntityManager, limit: number): Promise<(ErpSyncKey & { organizationId: string })[]> {
  return sql(
    em,
    `select document.integration_id as "integrationId", document.document_type as "documentType", document.document_id as "documentId", document.organization_id as "organizationId"
     from erp_sync_documents document
     left join erp_sync_documents dependency
       on dependency.integration_id = document.integration_id and dependency.document_type = document.depends_on_type and dependency.document_id = document.depends_on_id
     where document.dispatched_at is null and (dependency.status is null or dependency.status in ('synced', 'failed'))
     order by document.created_at limit $1 for update of document skip locked`,
    [limit],
  );
}

export async function markErpDocumentsDispatched(em: EntityManager, keys: readonly ErpSyncKey[]): Promise<void> {
  if (keys.length === 0) return;
  await sql(
    em,
    `update erp_sync_documents set dispatched_at = now()
     where (integration_id, document_type, document_id) in (select * from unnest($1::uuid[], $2::text[], $3::uuid[]))`,
    [keys.map((key) => key.integrationId), keys.map((key) => key.documentType), keys.map((key) => key.documentId)],
  );
}

export interface ErpSyncRow {
  status: ErpSyncStatus;
  externalId: string | null;
  attempts: number;
  lastError: string | null;
}

/** The document's sync row; `lock` holds it for the rest of the caller's transaction. */
export async function erpSyncDocument(em: EntityManager, key: ErpSyncKey, options: { lock?: boolean } = {}): Promise<ErpSyncRow | undefined> {
  const [row] = await sql<ErpSyncRow>(
    em,
    `select status, external_id as "externalId", attempts, last_error as "lastError"
     from erp_sync_documents where integration_id = $1 and document_type = $2 and document_id = $3${options.lock ? ' for update' : ''}`,
    [key.integrationId, key.documentType, key.documentId],
  );
  return row;
}

export async function updateErpSyncDocument(
  em: EntityManager,
  key: ErpSyncKey,
  change: { status: ErpSyncStatus; attempts?: number; externalId?: string | null; lastError: string | null },
): Promise<void> {
  await sql(
    em,
    `update erp_sync_documents set status = $4, attempts = coalesce($5, attempts), external_id = coalesce($6, external_id), last_error = $7,
       synced_at = case when $4 = 'synced' then now() else synced_at end, updated_at = now()
     where integration_id = $1 and document_type = $2 and document_id = $3`,
    [key.integrationId, key.documentType, key.documentId, change.status, change.attempts ?? null, change.externalId ?? null, change.lastError],
  );
}

export async function recordErpSyncAttempt(
  em: EntityManager,
  key: ErpSyncKey,
  attempt: { attempt: number; outcome: ErpAttemptOutcome; externalId: string | null; error: string | null; startedAt: Date; finishedAt: Date },
): Promise<void> {
  await sql(
    em,
    `insert into erp_sync_attempts (integration_id, document_type, document_id, attempt, outcome, external_id, error, started_at, finished_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [key.integrationId, key.documentType, key.documentId, attempt.attempt, attempt.outcome, attempt.externalId, attempt.error, attempt.startedAt, attempt.finishedAt],
  );
  if (attempt.outcome === 'synced' || attempt.outcome === 'reconciled') {
    await sql(em, 'update erp_integrations set last_sync_at = $2 where id = $1', [key.integrationId, attempt.finishedAt]);
  }
}

export async function glMappingsOf(em: EntityManager, integrationId: string): Promise<GlMapping[]> {
  return sql<GlMapping>(
    em,
    `select kind, plan_code as "planCode", metric_code as "metricCode", department_id as "departmentId", account
     from erp_gl_mappings where integration_id = $1 order by position`,
    [integrationId],
  );
}

export async function replaceGlMappings(em: EntityManager, integrationId: string, mappings: readonly GlMapping[]): Promise<void> {
  await sql(em, 'delete from erp_gl_mappings where integration_id = $1', [integrationId]);
  if (mappings.length === 0) return;
  await sql(
    em,
    `insert into erp_gl_mappings (id, integration_id, position, kind, plan_code, metric_code, department_id, account)
     select gen_random_uuid(), $1, position - 1, kind, plan_code, metric_code, department_id, account
     from unnest($2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[]) with ordinality as m(kind, plan_code, metric_code, department_id, account, position)`,
    [
      integrationId,
      mappings.map((mapping) => mapping.kind),
      mappings.map((mapping) => mapping.planCode ?? null),
      mappings.map((mapping) => mapping.metricCode ?? null),
      mappings.map((mapping) => mapping.departmentId ?? null),
      mappings.map((mapping) => mapping.account),
    ],
  );
}

/**
 * Reserves the integration's next request slot (GCRA): the theoretical arrival time moves on by
 * one interval per request, never further back than `burst - 1` intervals before now, so after a
 * quiet spell `burst` requests go at once and the next waits an interval. Answers the
 * milliseconds to wait before sending; when that wait would exceed `maxWaitMs` nothing is reserved
 * (the caller retries later instead of holding an activity slot) and the wait is until the next free slot.
 */
export async function reserveErpRequestSlot(
  em: EntityManager,
  integrationId: string,
  intervalMs: number,
  burst: number,
  maxWaitMs: number,
): Promise<{ waitMs: number; reserved: boolean }> {
  const [row] = await sql<{ waitMs: number; reserved: boolean }>(
    em,
    `with slot as (
       select greatest(rate_next_at, clock_timestamp() - make_interval(secs => $2::float8 * ($3 - 1) / 1000)) as at from erp_integrations where id = $1 for update
     ),
     reserved as (
       update erp_integrations set rate_next_at = slot.at + make_interval(secs => $2::float8 / 1000)
       from slot
       where id = $1 and slot.at <= clock_timestamp() + make_interval(secs => $4::float8 / 1000)
       returning 1
     )
     select greatest(0, extract(epoch from slot.at - clock_timestamp()) * 1000)::float8 as "waitMs", exists(select 1 from reserved) as reserved from slot`,
    [integrationId, intervalMs, burst, maxWaitMs],
  );
  return row ?? { waitMs: 0, reserved: false };
}

/** Holds every sender of the integration for `ms` (the vendor said Retry-After). */
export async function holdErpRequests(em: EntityManager, integrationId: string, ms: number): Promise<void> {
  await sql(em, `update erp_integrations set rate_next_at = greatest(rate_next_at, clock_timestamp() + make_interval(secs => $2::float8 / 1000)) where id = $1`, [integrationId, ms]);
}

export interface SealedIntegrationSecrets {
  credentials: string;
  accessToken: string | null;
}

/**
 * The integration's secrets, under a transaction-scoped advisory lock that serializes token
 * refreshes. Not a row lock: the refresh request itself goes through the rate limiter, which
 * updates the same row, and would wait for a row lock held by its own caller.
 */
export async function lockIntegrationSecrets(em: EntityManager, integrationId: string): Promise<SealedIntegrationSecrets | undefined> {
  await sql(em, `select pg_advisory_xact_lock(hashtextextended('erp-token:' || $1, 0))`, [integrationId]);
  const [row] = await sql<SealedIntegrationSecrets>(em, `select credentials, access_token as "accessToken" from erp_integrations where id = $1`, [integrationId]);
  return row;
}

export async function storeIntegrationSecrets(em: EntityManager, integrationId: string, secrets: SealedIntegrationSecrets): Promise<void> {
  await sql(em, 'update erp_integrations set credentials = $2, access_token = $3, updated_at = now() where id = $1', [integrationId, secrets.credentials, secrets.accessToken]);
}

export interface ErpIntegrationRow {
  id: string;
  provider: ErpProvider;
  status: 'connected' | 'disconnected' | 'needs_attention';
  settings: Record<string, unknown>;
  lastError: string | null;
  /** Sealed: opened by the activity that calls the vendor, nowhere else. */
  credentials: string;
}

export async function erpIntegrationRow(em: EntityManager, integrationId: string): Promise<ErpIntegrationRow | undefined> {
  const [row] = await sql<ErpIntegrationRow>(em, `select id, provider, status, settings, last_error as "lastError", credentials from erp_integrations where id = $1`, [integrationId]);
  return row;
}

/** Marks the integration as needing attention (its credentials were refused). */
export async function flagIntegration(em: EntityManager, integrationId: string, reason: string): Promise<void> {
  await sql(em, `update erp_integrations set status = 'needs_attention', last_error = $2, updated_at = now() where id = $1 and status = 'connected'`, [integrationId, reason]);
}

export async function customerSource(em: EntityManager, organizationId: string): Promise<CustomerSource | undefined> {
  const [row] = await sql<CustomerSource>(
    em,
    `select id as "organizationId", name, billing_email as email, currency from organizations where id = $1`,
    [organizationId],
  );
  return row;
}

export async function invoiceSource(em: EntityManager, invoiceId: string): Promise<(InvoiceSource & { organizationId: string }) | undefined> {
  const [invoice] = await sql<Omit<InvoiceSource, 'lines'> & { organizationId: string }>(
    em,
    `select id, number, currency, organization_id as "organizationId", amount_due as "amountDue",
       to_char(finalized_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "finalizedAt",
       to_char(due_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "dueAt"
     from invoices where id = $1 and finalized_at is not null and number is not null`,
    [invoiceId],
  );
  if (!invoice) return undefined;
  const lines = await sql<{ type: InvoiceLineType; description: string; quantity: string; amount: number; planCode: string | null; metricCode: string | null; departmentId: string | null }>(
    em,
    `select line.type, line.description, line.quantity, line.amount::float8 as amount, plan.code as "planCode", line.metric_code as "metricCode", line.department_id as "departmentId"
     from invoice_lines line
     left join subscriptions subscription on subscription.id = line.subscription_id
     left join plans plan on plan.id = subscription.plan_id
     where line.invoice_id = $1 order by line.position`,
    [invoiceId],
  );
  return { ...invoice, amountDue: Number(invoice.amountDue), lines };
}

/** What a payment or credit note carries of its invoice: its id, its number (null while the invoice is not issued) and its customer. */
export interface InvoiceOf {
  invoiceId: string;
  invoiceNumber: string | null;
  organizationId: string;
}

/** The invoice's columns an `InvoiceOf` is read from, as `invoice`. */
const invoiceOfColumns = `invoice.id as "invoiceId", case when invoice.finalized_at is not null then invoice.number end as "invoiceNumber", invoice.organization_id as "organizationId"`;

export async function creditNoteSource(em: EntityManager, creditNoteId: string): Promise<(CreditNoteSource & InvoiceOf & { refunded: boolean }) | undefined> {
  const [row] = await sql<CreditNoteSource & InvoiceOf & { refunded: boolean }>(
    em,
    `select note.id, note.number, invoice.currency, note.amount::float8 as amount, note.reason, ${invoiceOfColumns}, note.stripe_refund_id is not null as refunded,
       to_char(note.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "createdAt"
     from credit_notes note join invoices invoice on invoice.id = note.invoice_id
     where note.id = $1 and note.voided_at is null`,
    [creditNoteId],
  );
  return row;
}

export async function paymentSource(em: EntityManager, paymentId: string): Promise<(PaymentSource & InvoiceOf) | undefined> {
  const [row] = await sql<PaymentSource & InvoiceOf>(
    em,
    `select payment.id, payment.currency, payment.amount::float8 as amount, payment.reference, ${invoiceOfColumns},
       to_char(payment.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as "receivedAt"
     from payments payment join invoices invoice on invoice.id = payment.invoice_id where payment.id = $1`,
    [paymentId],
  );
  return row;
}

/** A refund is its credit note's money paid back: present once Stripe refunded it. */
export async function refundSource(em: EntityManager, creditNoteId: string): Promise<(RefundSource & { organizationId: string }) | undefined> {
  const row = await creditNoteSource(em, creditNoteId);
  if (!row?.refunded) return undefined;
  return { creditNoteId: row.id, currency: row.currency, createdAt: row.createdAt, amount: row.amount, organizationId: row.organizationId };
}

export interface ErpIntegrationCounts {
  synced: number;
  pending: number;
  failed: number;
}

export async function erpIntegrationCounts(em: EntityManager, integrationId: string): Promise<ErpIntegrationCounts> {
  const [row] = await sql<{ synced: string; pending: string; failed: string }>(
    em,
    `select count(*) filter (where status = 'synced')::text as synced,
       count(*) filter (where status in ('pending', 'retrying'))::text as pending,
       count(*) filter (where status = 'failed')::text as failed
     from erp_sync_documents where integration_id = $1`,
    [integrationId],
  );
  return { synced: Number(row?.synced ?? 0), pending: Number(row?.pending ?? 0), failed: Number(row?.failed ?? 0) };
}

export interface ErpSyncLogRow {
  documentType: ErpDocumentType;
  documentId: string;
  externalId: string | null;
  status: ErpSyncStatus;
  attempts: number;
  lastError: string | null;
  at: string;
}

export async function erpSyncLog(
  em: EntityManager,
  integrationId: string,
  filter: { status?: ErpSyncStatus; documentType?: ErpDocumentType; limit: number },
): Promise<ErpSyncLogRow[]> {
  return sql<ErpSyncLogRow>(
    em,
    `select document_type as "documentType", document_id as "documentId", external_id as "externalId", status, attempts, last_error as "lastError",
       to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at
     from erp_sync_documents
     where integration_id = $1 and ($2::text is null or status = $2) and ($3::text is null or document_type = $3)
     order by updated_at desc, document_type, document_id limit $4`,
    [integrationId, filter.status ?? null, filter.documentType ?? null, filter.limit],
  );
}

/**
 * A manual re-sync: failed documents go back to pending, and documents of the integration's scope
 * that were never queued (created before it was connected, or while it was disconnected) are
 * queued, from `since` on. Everything affected is left undispatched for the dispatcher.
 */
export async function requeueErpDocuments(em: EntityManager, integrationId: string, documentTypes: readonly ErpDocumentType[], since: Date | null): Promise<number> {
  const [row] = await sql<{ count: string }>(
    em,
    `with recursive integration as (select id, organization_id from erp_integrations where id = $1),
     ${organizationTree('scope', 'descendants', 'id = (select organization_id from integration) or (select organization_id from integration) is null')},
     source(document_type, document_id, organization_id, created_at) as (
       select 'customer', o.id, o.id, o.created_at from organizations o
       where o.id in (select organization_id from invoices where finalized_at is not null)
       union all
       select 'invoice', i.id, i.organization_id, i.finalized_at from invoices i where i.finalized_at is not null and i.number is not null
       union all
       select 'payment', p.id, i.organization_id, p.created_at from payments p join invoices i on i.id = p.invoice_id
       union all
       select 'credit_note', n.id, i.organization_id, n.created_at from credit_notes n join invoices i on i.id = n.invoice_id where n.voided_at is null
       union all
       select 'refund', n.id, i.organization_id, n.created_at from credit_notes n join invoices i on i.id = n.invoice_id where n.voided_at is null and n.stripe_refund_id is not null
     ),
     wanted as (
       select * from source
       where document_type = any($2::text[]) and ($3::timestamptz is null or created_at >= $3)
         and organization_id in (select id from scope)
     ),
     queued as (
       insert into erp_sync_documents (${queuedColumns})
       select ${queuedValues('$1', 'wanted')} from wanted
       on conflict (integration_id, document_type, document_id) do update
         set status = 'pending', last_error = null, dispatched_at = null, updated_at = now()
         where erp_sync_documents.status = 'failed'
            or (erp_sync_documents.status = 'pending' and erp_sync_documents.dispatched_at is not null)
       returning 1
     )
     select count(*)::text as count from queued`,
    [integrationId, documentTypes, since],
  );
  return Number(row?.count ?? 0);
}
