import { ApiKey } from './api-key.js';
import { Application } from './application.js';
import { AuditEvent } from './audit-event.js';
import { Department } from './department.js';
import { ExternalId } from './external-id.js';
import { IdempotencyRecord } from './idempotency-record.js';
import { Member } from './member.js';
import { Metric } from './metric.js';
import { Organization } from './organization.js';
import { Plan, PlanCharge } from './plan.js';
import { SeatAssignment, Subscription, SubscriptionPhase } from './subscription.js';
import { WebhookEndpoint } from './webhook-endpoint.js';

export { ApiKey, platformRoleValues, scopeValues, type PlatformRole, type Scope } from './api-key.js';
export { Application } from './application.js';
export { AuditEvent } from './audit-event.js';
export { Department } from './department.js';
export { ExternalId } from './external-id.js';
export { IdempotencyRecord } from './idempotency-record.js';
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
export { WebhookEndpoint } from './webhook-endpoint.js';

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
];
