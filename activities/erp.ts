import { Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../src/clock.js';
import type { Orm } from '../src/db/orm.js';
import {
  creditNoteSource,
  customerSource,
  enqueueErpDependency,
  erpIntegrationRow,
  erpSyncDocument,
  flagIntegration,
  glMappingsOf,
  invoiceSource,
  paymentSource,
  recordErpSyncAttempt,
  refundSource,
  updateErpSyncDocument,
  type ErpIntegrationRow,
  type ErpSyncKey,
  type InvoiceOf,
} from '../src/db/repositories/erp-sync.js';
import {
  buildErpCreditNote,
  buildErpCustomer,
  buildErpInvoice,
  buildErpPayment,
  buildErpRefund,
  erpReference,
  missingMappingsMessage,
  type ErpBuildResult,
  type ErpDocument,
  type ErpDocumentRef,
  type ErpDocumentType,
} from '../src/domain/index.js';
import { ErpError, type ErpConnector } from '../src/integrations/erp/index.js';
import { openConnector, type AccessTokenCache } from '../src/integrations/erp/runtime.js';
import type { Logger } from '../src/logger.js';
import { createSecretBox, type SecretBox } from '../src/secrets.js';
import type { ErpPushOutcome, ErpSyncInput } from '../workflows/messages/erp.js';

export interface ErpActivityDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
  /** Seals ERP credentials; without it (benchmarks, suites without integrations) a push fails saying LEDGERFLOW_SECRET_KEYS is unset. */
  secrets?: SecretBox;
}

/** Attempts in all, rate-limited ones included (all transient: 1 + 2 + … + 512 + 600 s = 1,623 s, about 27 minutes of backoff), then the document fails and waits for a manual re-sync. */
const maxErpAttempts = 12;

/** Backoff after the nth failed attempt: 1 s, 2 s, 4 s… up to 10 minutes. */
const erpRetryDelayMs = (attempt: number) => Math.min(1_000 * 2 ** (attempt - 1), 600_000);

const truncate = (text: string) => (text.length > 2_000 ? `${text.slice(0, 1_997)}...` : text);

/** The document ready to push, or why it cannot be. */
type Prepared =
  | { kind: 'ready'; integration: ErpIntegrationRow; document: ErpDocument; attempt: number; reconcile: boolean }
  | { kind: 'done'; outcome: ErpPushOutcome };

/** What one push attempt ends in. */
type AttemptOutcome = Extract<ErpPushOutcome, { status: 'synced' | 'failed' | 'retrying' }>;
type UnsyncedAttempt = Extract<AttemptOutcome, { status: 'failed' | 'retrying' }>;

/** The ERP reference and external id of a synced document (its dependency). */
type DependencyLookup = { ref: ErpDocumentRef } | { outcome: ErpPushOutcome };

/**
 * `pushErpDocument` is one attempt of `erp:`: read and build the document in one transaction and
 * count the attempt (committed before any request, so an attempt whose worker died is known to the
 * next one, which then reconciles first), talk to the ERP outside any transaction, record the
 * outcome in a second one. Vendor failures come back as outcomes; only database trouble throws.
 */
export function createErpActivities({ orm, clock, logger, secrets = createSecretBox(undefined) }: ErpActivityDeps) {
  const tokenCache: AccessTokenCache = new Map();

  async function dependency(tx: EntityManager, key: ErpSyncKey, documentType: ErpDocumentType, documentId: string, organizationId: string, number?: string | null): Promise<DependencyLookup> {
    const dependencyKey = { integrationId: key.integrationId, documentType, documentId };
    const row = await erpSyncDocument(tx, dependencyKey);
    if (row?.status === 'synced' && row.externalId) return { ref: { reference: erpReference(documentType, { id: documentId, number: number ?? null }), externalId: row.externalId } };
    if (row?.status === 'failed') {
      return { outcome: { status: 'failed', error: truncate(`its ${documentType.replace('_', ' ')} ${documentId} failed to sync: ${row.lastError ?? 'unknown error'}`) } };
    }
    if (!row) await enqueueErpDependency(tx, dependencyKey, organizationId);
    return { outcome: { status: 'waiting', dependency: { documentType, documentId } } };
  }

  /** A payment's or credit note's invoice and customer as synced; undefined when the invoice is not issued. */
  async function invoiceAndCustomer(tx: EntityManager, key: ErpSyncKey, of: InvoiceOf): Promise<{ invoice: ErpDocumentRef; customer: ErpDocumentRef } | { outcome: ErpPushOutcome } | undefined> {
    if (of.invoiceNumber === null) return undefined;
    const invoice = await dependency(tx, key, 'invoice', of.invoiceId, of.organizationId, of.invoiceNumber);
    if ('outcome' in invoice) return invoice;
    const customer = await dependency(tx, key, 'customer', of.organizationId, of.organizationId);
    if ('outcome' in customer) return customer;
    return { invoice: invoice.ref, customer: customer.ref };
  }

  /**
   * Builds the document, or the outcome that stands in for it (waiting for a dependency, gone,
   * unmapped). GL mappings are read only for a document that is about to be built with them.
   */
  async function build(tx: EntityManager, key: ErpSyncKey): Promise<ErpBuildResult<ErpDocument> | ErpPushOutcome> {
    const mappings = () => glMappingsOf(tx, key.integrationId);
    const gone: ErpPushOutcome = { status: 'stopped', reason: `${key.documentType} ${key.documentId} no longer exists (or was voided)` };
    switch (key.documentType) {
      case 'customer': {
        const source = await customerSource(tx, key.documentId);
        return source ? { ok: true, document: buildErpCustomer(source) } : gone;
      }
      case 'invoice': {
        const source = await invoiceSource(tx, key.documentId);
        if (!source) return gone;
        const customer = await dependency(tx, key, 'customer', source.organizationId, source.organizationId);
        return 'outcome' in customer ? customer.outcome : buildErpInvoice(source, customer.ref, await mappings());
      }
      case 'payment': {
        const source = await paymentSource(tx, key.documentId);
        if (!source) return gone;
        const refs = await invoiceAndCustomer(tx, key, source);
        if (!refs) return gone;
        return 'outcome' in refs ? refs.outcome : buildErpPayment(source, refs.customer, refs.invoice, await mappings());
      }
      case 'credit_note': {
        const source = await creditNoteSource(tx, key.documentId);
        if (!source) return gone;
        const refs = await invoiceAndCustomer(tx, key, source);
        if (!refs) return gone;
        return 'outcome' in refs ? refs.outcome : buildErpCreditNote(source, refs.customer, refs.invoice, await mappings());
      }
      case 'refund': {
        const source = await refundSource(tx, key.documentId);
        if (!source) return gone;
        const creditNote = await dependency(tx, key, 'credit_note', key.documentId, source.organizationId);
        if ('outcome' in creditNote) return creditNote.outcome;
        const customer = await dependency(tx, key, 'customer', source.organizationId, source.organizationId);
        if ('outcome' in customer) return customer.outcome;
        return buildErpRefund(source, customer.ref, creditNote.ref, await mappings());
      }
    }
  }

  async function prepare(key: ErpSyncKey): Promise<Prepared> {
    return orm.em.fork().transactional(async (tx): Promise<Prepared> => {
      const integration = await erpIntegrationRow(tx, key.integrationId);
      const row = await erpSyncDocument(tx, key, { lock: true });
      if (!integration || !row) return { kind: 'done', outcome: { status: 'stopped', reason: 'not queued for this integration' } };
      if (row.status === 'synced' && row.externalId) return { kind: 'done', outcome: { status: 'synced', externalId: row.externalId } };
      const settle = async (outcome: ErpPushOutcome & { status: 'failed' | 'stopped' }): Promise<Prepared> => {
        await updateErpSyncDocument(tx, key, { status: outcome.status === 'failed' ? 'failed' : 'pending', lastError: outcome.status === 'failed' ? outcome.error : outcome.reason });
        return { kind: 'done', outcome };
      };
      if (integration.status === 'disconnected') return settle({ status: 'stopped', reason: 'the integration is disconnected' });
      if (integration.status === 'needs_attention') return settle({ status: 'failed', error: truncate(`the integration needs attention: ${integration.lastError ?? 'its credentials were refused'}`) });
      const built = await build(tx, key);
      if ('status' in built) {
        if (built.status === 'failed' || built.status === 'stopped') return settle(built);
        return { kind: 'done', outcome: built };
      }
      if (!built.ok) return settle({ status: 'failed', error: truncate(missingMappingsMessage(built.missing)) });
      const attempt = row.attempts + 1;
      await updateErpSyncDocument(tx, key, { status: attempt > 1 ? 'retrying' : 'pending', attempts: attempt, lastError: row.lastError });
      return { kind: 'ready', integration, document: built.document, attempt, reconcile: row.attempts > 0 };
    });
  }

  async function push(connector: ErpConnector, document: ErpDocument, reconcile: boolean): Promise<{ externalId: string; reconciled: boolean }> {
    if (reconcile) {
      const found = await connector.findByReference(document);
      if (found !== null) return { externalId: found, reconciled: true };
    }
    switch (document.type) {
      case 'customer':
        return { ...(await connector.upsertCustomer(document)), reconciled: false };
      case 'invoice':
        return { ...(await connector.pushInvoice(document)), reconciled: false };
      case 'credit_note':
        return { ...(await connector.pushCreditNote(document)), reconciled: false };
      case 'payment':
        return { ...(await connector.pushPayment(document)), reconciled: false };
      case 'refund':
        return { ...(await connector.pushRefund(document)), reconciled: false };
    }
  }

  function outcomeOf(error: ErpError, attempt: number): UnsyncedAttempt {
    const message = truncate(error.message);
    if (error.kind === 'validation' || error.kind === 'auth') return { status: 'failed', error: message };
    if (attempt >= maxErpAttempts) return { status: 'failed', error: truncate(`gave up after ${attempt} attempts: ${message}`) };
    const delayMs = error.kind === 'rate_limited' ? Math.max(error.details.retryAfterMs ?? 1_000, 100) : erpRetryDelayMs(attempt);
    return { status: 'retrying', delayMs, error: message };
  }

  return {
    async pushErpDocument(input: ErpSyncInput): Promise<ErpPushOutcome> {
      const key: ErpSyncKey = input;
      const prepared = await prepare(key);
      if (prepared.kind === 'done') return prepared.outcome;
      const { integration, document, attempt, reconcile } = prepared;
      const startedAt = clock.now();
      // Heartbeats tell Temporal within seconds that a worker died mid-push, so the retry (which reconciles) comes soon.
      const context = Context.current();
      const beat = setInterval(() => context.heartbeat(), 1_000);
      let outcome: AttemptOutcome;
      let reconciled = false;
      let credentialsRefused = false;
      try {
        const connector = openConnector({ orm, secrets, tokenCache }, integration);
        const pushed = await push(connector, document, reconcile);
        reconciled = pushed.reconciled;
        outcome = { status: 'synced', externalId: pushed.externalId };
      } catch (error) {
        if (!(error instanceof ErpError)) throw error;
        outcome = outcomeOf(error, attempt);
        credentialsRefused = error.kind === 'auth';
      } finally {
        clearInterval(beat);
      }
      const externalId = outcome.status === 'synced' ? outcome.externalId : null;
      const error = outcome.status === 'synced' ? null : outcome.error;
      await orm.em.fork().transactional(async (tx) => {
        await updateErpSyncDocument(tx, key, { status: outcome.status, externalId, lastError: error });
        await recordErpSyncAttempt(tx, key, { attempt, outcome: reconciled ? 'reconciled' : outcome.status, externalId, error, startedAt, finishedAt: clock.now() });
        if (credentialsRefused && error) await flagIntegration(tx, key.integrationId, error);
      });
      logger.info({ ...key, attempt, status: outcome.status, reconciled, ...(outcome.status === 'synced' ? { externalId: outcome.externalId } : {}) }, 'erp push attempt');
      return outcome;
    },

    /** The push kept failing outside the vendor's answers (the database, a bug): the document fails with that message. */
    async failErpDocument(input: ErpSyncInput, error: string): Promise<ErpPushOutcome> {
      const outcome: ErpPushOutcome = { status: 'failed', error: truncate(error) };
      await orm.em.fork().transactional((tx) => updateErpSyncDocument(tx, input, { status: 'failed', lastError: outcome.error }));
      return outcome;
    },
  };
}
