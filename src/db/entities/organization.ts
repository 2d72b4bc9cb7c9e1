import { defineEntity, p } from '@mikro-orm/core';

export const paymentTermsValues = ['charge_automatically', 'send_invoice'] as const;
export type PaymentTerms = (typeof paymentTermsValues)[number];

/**
 * A customer or one of its billing entities. A child (with a parent) is invoiced on its
 * parent's consolidated invoice; only organizations without a parent are billing accounts.
 */
const OrganizationSchema = defineEntity({
  name: 'Organization',
  tableName: 'organizations',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(200),
    currency: p.string().length(3),
    parent: () => p.manyToOne(Organization).nullable().deleteRule('restrict'),
    billingEmail: p.string().length(320).nullable(),
    taxRatePercent: p.decimal('string').precision(7).scale(4).default('0'),
    paymentTerms: p.enum(paymentTermsValues).default('charge_automatically'),
    netTermsDays: p.integer().default(0),
    billingAnchorDay: p.integer().nullable(),
    /** Set by the billing workflow's first activity: proof that `billing:<id>` is running. */
    billingStartedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  indexes: [{ name: 'organizations_parent_id_index', properties: ['parent'] }],
  checks: [
    { name: 'organizations_currency_format', expression: `"currency" ~ '^[A-Z]{3}$'` },
    { name: 'organizations_not_own_parent', expression: '"parent_id" is null or "parent_id" <> "id"' },
    { name: 'organizations_tax_rate_range', expression: '"tax_rate_percent" >= 0 and "tax_rate_percent" <= 100' },
    { name: 'organizations_net_terms_range', expression: '"net_terms_days" >= 0 and "net_terms_days" <= 365' },
    { name: 'organizations_anchor_day_range', expression: '"billing_anchor_day" is null or ("billing_anchor_day" >= 1 and "billing_anchor_day" <= 31)' },
  ],
});

export class Organization extends OrganizationSchema.class {}
OrganizationSchema.setClass(Organization);
