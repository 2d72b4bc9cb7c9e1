import type { ErpDocumentType } from '../../src/domain/index.js';

/** What `erp:<integrationId>:<documentType>:<documentId>` pushes: ids only, never a credential. */
export interface ErpSyncInput {
  integrationId: string;
  documentType: ErpDocumentType;
  documentId: string;
}

/**
 * What one push attempt came to:
 * - `synced`: in the ERP (pushed now, found by reconciling, or synced before);
 * - `failed`: refused for good (validation, a missing GL mapping, credentials refused, too many attempts);
 * - `retrying`: a transient failure or a rate limit: try again after `delayMs`;
 * - `waiting`: a document it depends on (its customer, its invoice, its credit note) is not in the ERP yet;
 * - `stopped`: the integration was disconnected or the document no longer exists: nothing to push.
 */
export type ErpPushOutcome =
  | { status: 'synced'; externalId: string }
  | { status: 'failed'; error: string }
  | { status: 'retrying'; delayMs: number; error: string }
  | { status: 'waiting'; dependency: { documentType: ErpDocumentType; documentId: string } }
  | { status: 'stopped'; reason: string };

/**
 * Keyword search attributes of `erp:` workflows, so ops filter pushes by type and status in the
 * Temporal UI (with `OrganizationId`); one integration's are `WorkflowId STARTS_WITH "erp:<id>:"`
 * (the dev server's SQLite visibility allows ten Keyword attributes, and these are the ninth and tenth).
 */
export const erpSearchAttributes = {
  documentType: { name: 'ErpDocumentType', type: 'KEYWORD' },
  status: { name: 'ErpSyncStatus', type: 'KEYWORD' },
} as const;
