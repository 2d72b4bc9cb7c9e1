import { ApiKey } from './api-key.js';
import { ApprovalComment, ApprovalRequest, ApprovalRule } from './approval.js';
import { Application } from './application.js';
import { AuditEvent } from './audit-event.js';
import { Budget, BudgetAlert, SubscriptionCostAllocation } from './budget.js';
import { Contract, ContractAmendment, ContractVersion, SlaBreach } from './contract.js';
import { Department } from './department.js';
import { Dispute, DisputeComment } from './dispute.js';
import { ErpGlMapping, ErpIntegration, ErpSyncAttempt, ErpSyncDocument } from './erp.js';
import { ExternalId } from './external-id.js';
import { IdempotencyRecord } from './idempotency-record.js';
import { CreditNote, Invoice, InvoiceLine, InvoiceNumberSequence, JournalEntry, JournalLine, Payment } from './invoice.js';
import { Member } from './member.js';
import { Metric } from './metric.js';
import { Organization } from './organization.js';
import { Plan, PlanCharge } from './plan.js';
import { SeatAssignment, Subscription, SubscriptionPhase } from './subscription.js';
import { UsageAggregate, UsageDistinctValue, UsageEventKey, UsageThresholdCrossing } from './usage.js';
import { StripeEvent } from './stripe-event.js';
import { WebhookEndpoint } from './webhook-endpoint.js';
import { WebhookDelivery, WebhookDeliveryAttempt, WebhookEvent } from './webhook-event.js';

export { ApiKey, platformRoleValues, scopeValues, type PlatformRole, type Scope } from './api-key.js';
export { ApprovalComment, ApprovalRequest, ApprovalRule, approvalStatusValues, approvalSubjectTypeValues } from './approval.js';
export { Application } from './application.js';
export { AuditEvent } from './audit-event.js';
export { Budget, BudgetAlert, SubscriptionCostAllocation, budgetEnforcements, budgetPeriods } from './budget.js';
export { Contract, ContractAmendment, ContractVersion, SlaBreach, amendmentStatusValues, contractStatusValues, type AmendmentStatus, type ContractStatus } from './contract.js';
export { Department } from './department.js';
export { Dispute, DisputeComment, disputeOutcomes, disputeReasons, disputeSources, disputeStatuses, type DisputeFailure } from './dispute.js';
export { ErpGlMapping, ErpIntegration, ErpSyncAttempt, ErpSyncDocument, erpAttemptOutcomes, erpIntegrationStatuses, erpSyncStatuses, type ErpAttemptOutcome, type ErpSyncStatus } from './erp.js';
export { ExternalId } from './external-id.js';
export { IdempotencyRecord } from './idempotency-record.js';
export {
  CreditNote,
  Invoice,
  InvoiceLine,
  InvoiceNumberSequence,
  JournalEntry,
  JournalLine,
  Payment,
  collectionMethodValues,
  creditNoteDispositionValues,
  invoiceStatusValues,
  journalAccountValues,
  paymentMethodValues,
  type CollectionMethod,
  type CreditNoteDisposition,
  type InvoiceStatus,
  type JournalAccount,
  type PaymentMethod,
} from './invoice.js';
export { Member, organizationRoleValues, type OrganizationRole } from './member.js';
export { Metric, aggregationValues, type Aggregation } from './metric.js';
export { Organization, paymentTermsValues, type PaymentTerms } from './organization.js';
export {
  Plan,
  PlanCharge,
  allocationValues,
  chargeModelValues,
  intervalValues,
  type BillingInterval,
  type ChargeModelName,
  type PriceTier,
} from './plan.js';
export { SeatAssignment, Subscription, SubscriptionPhase, type SubscriptionStatus } from './subscription.js';
export {
  UsageAggregate,
  UsageDistinctValue,
  UsageEventKey,
  UsageThresholdCrossing,
  usageAggregateScopeValues,
  type UsageAggregateScope,
} from './usage.js';
export { StripeEvent } from './stripe-event.js';
export { WebhookEndpoint } from './webhook-endpoint.js';
export { WebhookDelivery, WebhookDeliveryAttempt, WebhookEvent, webhookDeliveryStatusValues, type WebhookDeliveryStatus } from './webhook-event.js';

export const entities = [
  Application,
  Organization,
  Metric,
  Plan,
  PlanCharge,
  Department,
  Member,
  ExternalId,
  ApiKey,
  WebhookEndpoint,
  IdempotencyRecord,
  AuditEvent,
  Subscription,
  SubscriptionPhase,
  SeatAssignment,
  Invoice,
  InvoiceLine,
  InvoiceNumberSequence,
  Payment,
  CreditNote,
  JournalEntry,
  JournalLine,
  UsageEventKey,
  UsageAggregate,
  UsageDistinctValue,
  UsageThresholdCrossing,
  StripeEvent,
  WebhookEvent,
  WebhookDelivery,
  WebhookDeliveryAttempt,
  ApprovalRule,
  ApprovalRequest,
  ApprovalComment,
  Dispute,
  DisputeComment,
  Contract,
  ContractVersion,
  ContractAmendment,
  SlaBreach,
  Budget,
  BudgetAlert,
  SubscriptionCostAllocation,
  ErpIntegration,
  ErpGlMapping,
  ErpSyncDocument,
  ErpSyncAttempt,
];
