import pg from 'pg';

/** Ids are md5 of (label, what, index): repeatable for one label, distinct across labels (workflow ids are per namespace). */
const pgText = (value: string) => `'${value.replaceAll("'", "''")}'`;
const idsOf = (label: string) => (sql: string) => `md5(${pgText(label)} || ${sql})::uuid`;

export interface BillingAccountsLoad {
  /** The billing accounts (organization ids), in load order. */
  organizationIds: string[];
  /** The first day of the subscriptions: one month before today, so today closes a full usage window. */
  startDay: string;
}

/**
 * Bulk-loads `count` billing accounts with plain SQL (generate_series): one application, a monthly
 * plan with a base fee (20.00), a seat price (5.00 × 3 seats) and a per-unit usage charge (0.05
 * per call over 100 included), and per account an organization that is charged automatically on
 * a Stripe customer and default payment method, an active subscription that started a month ago
 * (its `start` phase, as the subscription workflow writes it) and three days of usage aggregates
 * in its first, now closed, period. The billing cycle of every account is therefore due today.
 */
export async function loadBillingAccounts(databaseUrl: string, count: number, label: string): Promise<BillingAccountsLoad> {
  const uuidOf = idsOf(label);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(`insert into applications (id, slug, name, created_at) values (${uuidOf("'app'")}, 'billing-load', 'Billing load', now())`);
    await client.query(`insert into metrics (id, code, name, aggregation, created_at) values (${uuidOf("'metric'")}, 'api_calls', 'API calls', 'count', now())`);
    await client.query(`insert into plans (id, code, version, name, application_id, currency, interval, base_price, seat_price, included_seats, trial_days, created_at)
      values (${uuidOf("'plan'")}, 'billing-load', 1, 'Billing load', ${uuidOf("'app'")}, 'USD', 'month', 2000, 500, 0, 0, now())`);
    await client.query(`insert into plan_charges (id, plan_id, position, metric_id, model, unit_price, included, allocation)
      values (${uuidOf("'charge'")}, ${uuidOf("'plan'")}, 0, ${uuidOf("'metric'")}, 'per_unit', 0.05, 100, 'pooled')`);
    await client.query(`insert into organizations (id, name, currency, tax_rate_percent, payment_terms, net_terms_days,
        stripe_customer_id, stripe_default_payment_method_id, stripe_default_payment_method_set_at, created_at, updated_at)
      select ${uuidOf("'org' || i")}, 'Account ' || i, 'USD', 0, 'charge_automatically', 0, 'cus_load_' || i, 'pm_card_visa', now(), now(), now()
      from generate_series(1, $1::int) i`, [count]);
    const started = `(date_trunc('day', now() at time zone 'utc') - interval '1 month') at time zone 'utc'`;
    const today = `date_trunc('day', now() at time zone 'utc') at time zone 'utc'`;
    await client.query(`insert into subscriptions (id, organization_id, application_id, plan_id, status, seats, start_date, trial_end,
        current_period_start, current_period_end, version, created_at, updated_at)
      select ${uuidOf("'sub' || i")}, ${uuidOf("'org' || i")}, ${uuidOf("'app'")}, ${uuidOf("'plan'")}, 'active', 3, ${started}, ${started},
        ${today}, ${today} + interval '1 month', 1, now(), now()
      from generate_series(1, $1::int) i`, [count]);
    await client.query(`insert into subscription_phases (id, subscription_id, sequence, kind, effective_at, plan_id, seats, proration_lines, created_at)
      select ${uuidOf("'phase' || i")}, ${uuidOf("'sub' || i")}, 1, 'start', ${started}, ${uuidOf("'plan'")}, 3, '[]', now()
      from generate_series(1, $1::int) i`, [count]);
    // Different volumes per account: some stay within the 100 included calls, most are billed overage.
    await client.query(`insert into usage_aggregates (id, organization_id, subscription_id, metric_id, aggregation, period_start, period_end,
        scope, user_key, department_key, quantity, event_count, updated_at)
      select gen_random_uuid(), ${uuidOf("'org' || i")}, ${uuidOf("'sub' || i")}, ${uuidOf("'metric'")}, 'count',
        ${started} + d * interval '1 day', ${started} + (d + 1) * interval '1 day', 'total', '', '', (i * 37 + d * 101) % 400, (i * 37 + d * 101) % 400, now()
      from generate_series(1, $1::int) i, generate_series(0, 2) d`, [count]);
    await client.query('commit');
    await client.query('analyze');
    const { rows } = await client.query<{ id: string; start_day: string }>(
      `select ${uuidOf("'org' || i")}::text as id, to_char(${started} at time zone 'utc', 'YYYY-MM-DD') as start_day from generate_series(1, $1::int) i order by i`,
      [count],
    );
    return { organizationIds: rows.map((row) => row.id), startDay: rows[0]?.start_day ?? '' };
  } finally {
    await client.end();
  }
}
