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
    /** The organization's one Stripe customer, created the first time it is needed. */
    stripeCustomerId: p.string().length(255).nullable().unique('organizations_stripe_customer_id_unique'),
    /** The card (or other method) saved through Stripe Checkout that automatic charges use. */
    stripeDefaultPaymentMethodId: p.string().length(255).nullable(),
    /** When Stripe reported that method (its event's time): an older event never replaces a newer method. */
    stripeDefaultPaymentMethodSetAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  indexes: [{ name: 'organizations_parent_id_index', properties: ['parent'] }],
  // A parent may have parents of its own, but an organization never becomes its own ancestor.
  triggers: [
    {
      name: 'organizations_no_cycle',
      timing: 'before',
      events: ['insert', 'update'],
      forEach: 'row',
      body: `if new.parent_id is not null and exists (
          with recursive ancestors(id) as (
            select new.parent_id
            union
            select o.parent_id from organizations o join ancestors a on o.id = a.id where o.parent_id is not null
          )
          select 1 from ancestors where id = new.id
        ) then
          raise exception 'organization % would become its own ancestor', new.id
            using errcode = 'check_violation', constraint = 'organizations_no_cycle';
        end if;
        return new;`,
    },
  ],
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
