import { isGrpcServiceError, type Connection } from '@temporalio/client';
import temporalProtos from '@temporalio/proto';
import type { Logger } from '../logger.js';
import { approvalSearchAttributes } from '../../workflows/messages/approval.js';
import { billingStatusSearchAttribute } from '../../workflows/messages/billing.js';
import { contractSearchAttributes } from '../../workflows/messages/contract.js';
import { disputeSearchAttributes } from '../../workflows/messages/dispute.js';
import { erpSearchAttributes } from '../../workflows/messages/erp.js';

const { IndexedValueType } = temporalProtos.temporal.api.enums.v1;
/** gRPC's ALREADY_EXISTS: the attribute is registered already. */
const grpcAlreadyExists: number = 6;

/** The custom search attributes the workflows set; a namespace must know them before a workflow sets one. */
export const ledgerflowSearchAttributes = [
  billingStatusSearchAttribute,
  approvalSearchAttributes.organizationId,
  approvalSearchAttributes.subjectType,
  approvalSearchAttributes.status,
  disputeSearchAttributes.invoiceId,
  disputeSearchAttributes.status,
  contractSearchAttributes.status,
  contractSearchAttributes.endDate,
  erpSearchAttributes.documentType,
  erpSearchAttributes.status,
] as const;

/** As `temporal server start-dev` takes them: `--search-attribute BillingStatus=Keyword`. */
export function devServerSearchAttributeArgs(): string[] {
  return ledgerflowSearchAttributes.flatMap((attribute) => ['--search-attribute', `${attribute.name}=${attribute.type[0]}${attribute.type.slice(1).toLowerCase()}`]);
}

/**
 * Registers them on the namespace at worker start (the dev server is started with them too). Where
 * the operator API is not open to the worker (Temporal Cloud), it warns: create them there once
 * (README, "Operations").
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string, logger: Pick<Logger, 'warn'>): Promise<void> {
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(ledgerflowSearchAttributes.map((attribute) => [attribute.name, IndexedValueType[`INDEXED_VALUE_TYPE_${attribute.type}`]])),
    });
  } catch (error) {
    if (isGrpcServiceError(error) && Number(error.code) === grpcAlreadyExists) return;
    logger.warn({ err: error, namespace, searchAttributes: ledgerflowSearchAttributes.map((attribute) => attribute.name) }, 'custom search attributes not registered; create them in the namespace');
  }
}
