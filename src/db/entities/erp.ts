import { defineEntity, p } from '@mikro-orm/core';
import { erpDocumentTypes, erpProviders, glAccountKinds, type ErpDocumentType } from '../../domain/index.js';
import { Department } from './department.js';
import { Organization } from './organization.js';

export const erpIntegrationStatuses = ['connected', 'disconnected', 'needs_attention'] as const;
export const erpSyncStatuses = ['pending', 'retrying', 'synced', 'failed'] as const;
export const erpAttemptOutcomes = ['synced', 'reconciled', 'retrying', 'failed'] as const;
export type ErpSyncStatus = (typeof erpSyncStatuses)[number];
export type ErpAttemptOutcome = (typeof erpAttemptOutcomes)[number];

/**
 * A connection to one ERP. Credentials and the current access token are sealed (src/secrets.ts)
 * and never leave the worker's activities decrypted. `rateNextAt` is the integration's shared
 * rate limiter: the earliest moment the next request may go (GCRA), advanced by every request of
 * every workflow of this integration.
 */
const ErpIntegrationSchema = defineEntity({
  name: 'ErpIntegration',
  tableName: 'erp_integrations',
  properties: {
    id: p.uuid().primary(),
    provider: p.enum(erpProviders),
    name: p.string().length(200),
    /** Null: every organization's documents; else this organization's and its descendants'. */
    organization: () => p.manyToOne(Organization).deleteRule('cascade').nullable(),
    status: p.enum(erpIntegrationStatuses),
    documentTypes: p.array<ErpDocumentType>(),
    credentials: p.text(),
    accessToken: p.text().nullable(),
    settings: p.json<Record<string, unknown>>(),
    rateNextAt: p.datetime(),
    lastSyncAt: p.datetime().nullable(),
    /** Why it needs attention (credentials refused). */
    lastError: p.string().length(2000).nullable(),
    createdBy: p.string().length(200),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

export class ErpIntegration extends ErpIntegrationSchema.class {}
ErpIntegrationSchema.setClass(ErpIntegration);

/** One GL mapping row; `position` keeps the order they were given in. */
const ErpGlMappingSchema = defineEntity({
  name: 'ErpGlMapping',
  tableName: 'erp_gl_mappings',
  properties: {
    id: p.uuid().primary(),
    integration: () => p.manyToOne(ErpIntegration).deleteRule('cascade'),
    position: p.integer(),
    kind: p.enum(glAccountKinds),
    planCode: p.string().length(64).nullable(),
    metricCode: p.string().length(64).nullable(),
    department: () => p.manyToOne(Department).deleteRule('cascade').nullable(),
    account: p.string().length(200),
  },
  indexes: [{ name: 'erp_gl_mappings_integration_index', properties: ['integration'] }],
});

export class ErpGlMapping extends ErpGlMappingSchema.class {}
ErpGlMappingSchema.setClass(ErpGlMapping);

/**
 * One document to push to one integration: the outbox row (written in the transaction that
 * finalized the invoice, recorded the payment, issued the credit note or the refund; started by
 * the dispatcher once `dispatchedAt` is null) and the document's sync state in that ERP.
 */
const ErpSyncDocumentSchema = defineEntity({
  name: 'ErpSyncDocument',
  tableName: 'erp_sync_documents',
  properties: {
    integration: () => p.manyToOne(ErpIntegration).deleteRule('cascade').primary(),
    documentType: p.enum(erpDocumentTypes).primary(),
    documentId: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    status: p.enum(erpSyncStatuses),
    /** The document that must be in the ERP first (an invoice's customer, a payment's invoice…): the row is dispatched once that one is synced or failed. */
    dependsOnType: p.enum(erpDocumentTypes).nullable(),
    dependsOnId: p.uuid().nullable(),
    externalId: p.string().length(200).nullable(),
    attempts: p.integer(),
    lastError: p.string().length(2000).nullable(),
    dispatchedAt: p.datetime().nullable(),
    syncedAt: p.datetime().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
  indexes: [{ name: 'erp_sync_documents_undispatched_index', expression: 'create index "erp_sync_documents_undispatched_index" on "erp_sync_documents" ("created_at") where "dispatched_at" is null' }],
});

export class ErpSyncDocument extends ErpSyncDocumentSchema.class {}
ErpSyncDocumentSchema.setClass(ErpSyncDocument);

/** One push attempt of a document, with its outcome: the sync log's history. */
const ErpSyncAttemptSchema = defineEntity({
  name: 'ErpSyncAttempt',
  tableName: 'erp_sync_attempts',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    integration: () => p.manyToOne(ErpIntegration).deleteRule('cascade'),
    documentType: p.enum(erpDocumentTypes),
    documentId: p.uuid(),
    attempt: p.integer(),
    outcome: p.enum(erpAttemptOutcomes),
    externalId: p.string().length(200).nullable(),
    error: p.string().length(2000).nullable(),
    startedAt: p.datetime(),
    finishedAt: p.datetime(),
  },
  indexes: [{ name: 'erp_sync_attempts_document_index', properties: ['integration', 'documentType', 'documentId'] }],
});

export class ErpSyncAttempt extends ErpSyncAttemptSchema.class {}
ErpSyncAttemptSchema.setClass(ErpSyncAttempt);
