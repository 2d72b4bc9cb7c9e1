/**
 * Contracts through the real stack: the API, `contract:<id>` and the billing workflow on a real
 * worker, PostgreSQL. A contract's terms show in the preview and on the invoice, line by line.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { addMonths, formatDayOf } from '../../src/domain/index.js';
import { contractSearchAttributes, contractStateQuery } from '../../workflows/messages/contract.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { expectProblem } from './support/problems.js';
import { bearer, call, signJwt, unique } from './support/world.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

interface Line {
  type: string;
  amount: number;
  description: string;
}
interface InvoiceView {
  id: string;
  total: number;
  lines: Line[];
}
interface ContractView {
  id: string;
  status: string;
  version: number;
  endDate: string;
  terminatesOn: string | null;
  amendments: { id: string; status: string; version: number | null; approvalRequestId: string | null }[];
  versions: { version: number; terms: { priceOverrides: { basePrice?: number }[] } }[];
}

const today = () => formatDayOf(Date.now());

/** A customer and the Team plan (list: 10.00 base, 5.00 a seat); `subscribe` puts it on 2 seats, billed from today. */
async function customer() {
  const suffix = randomUUID().slice(0, 8);
  const applicationSlug = `app-${suffix}`;
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Reports' } });
  const planCode = `team-${suffix}`;
  await call(stack, 'POST', '/v1/plans', { body: { code: planCode, name: 'Team', applicationSlug, currency: 'USD', interval: 'month', basePrice: 1_000, seatPrice: 500 } });
  const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('customer'), currency: 'USD', paymentTerms: 'send_invoice', netTermsDays: 30 } });
  // After the contract: the billing cycle may close today's period as soon as the subscription exists.
  const subscribe = () => call(stack, 'POST', '/v1/subscriptions', { body: { organizationId: organization.id, planCode, seats: 2 } });
  return { organizationId: organization.id, planCode, subscribe };
}

const createContract = (body: object) => stack.request('POST', '/v1/contracts', { body });

const brief = (lines: readonly Line[]) => lines.map((line) => [line.type, line.amount, line.description]);

describe('contracts through the real stack', () => {
  it('create → the preview reflects it → the invoice shows each term on its line; a second contract overlapping it is refused', async () => {
    const { organizationId, planCode, subscribe } = await customer();
    const created = await createContract({
      organizationId,
      name: 'Acme MSA',
      startDate: today(),
      endDate: addMonths(today(), 12),
      discountPercent: '10',
      priceOverrides: [{ planCode, basePrice: 800, seatPrice: 400 }],
      terminationFee: 5_000,
    });
    expect(created.status).toBe(201);
    const contract = (await created.json()) as ContractView;
    expect(contract).toMatchObject({ status: 'active', version: 1 });
    await subscribe();
    const handle = stack.temporal.workflow.getHandle(`contract:${contract.id}`);
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(contractSearchAttributes.status)).toBe('active');
    expect(description.typedSearchAttributes.get(contractSearchAttributes.endDate)).toBe(addMonths(today(), 12));

    const expected = [
      ['subscription', 800, 'Team (contract Acme MSA v1 price) base fee'],
      ['seat', 800, expect.stringContaining('Team (contract Acme MSA v1 price)')],
      ['discount', -80, expect.stringMatching(/^Contract Acme MSA v1: 10% off Team \(contract Acme MSA v1 price\) base fee/)],
      ['discount', -80, expect.stringMatching(/^Contract Acme MSA v1: 10% off Team/)],
    ];
    const preview = await call<InvoiceView>(stack, 'GET', `/v1/organizations/${organizationId}/upcoming-invoice`);
    expect(brief(preview.lines)).toEqual(expected);
    const run = await call<{ invoices: InvoiceView[] }>(stack, 'POST', `/v1/organizations/${organizationId}/invoices/run`, { expect: 200 });
    expect(brief(run.invoices[0]!.lines)).toEqual(expected);
    expect(run.invoices[0]!.total).toBe(1_440);

    await expectProblem(await createContract({ organizationId, name: 'Second', startDate: addMonths(today(), 6), endDate: addMonths(today(), 18) }), 409, 'contract_overlaps');
    expect(await stack.sql('select id from contracts where organization_id = $1', [organizationId])).toHaveLength(1);
    // After it ends another may follow.
    expect((await createContract({ organizationId, name: 'Next', startDate: addMonths(today(), 12), endDate: addMonths(today(), 24) })).status).toBe(201);
  });

  it('terminates now: the fee is on the next invoice, and list prices come back', async () => {
    const { organizationId, planCode, subscribe } = await customer();
    const contract = await call<ContractView>(stack, 'POST', '/v1/contracts', {
      body: { organizationId, name: 'Short', startDate: today(), endDate: addMonths(today(), 12), priceOverrides: [{ planCode, basePrice: 700 }], terminationFee: 5_000 },
    });
    await subscribe();
    const first = await call<{ invoices: InvoiceView[] }>(stack, 'POST', `/v1/organizations/${organizationId}/invoices/run`, { expect: 200 });
    expect(brief(first.invoices[0]!.lines)[0]).toEqual(['subscription', 700, 'Team (contract Short v1 price) base fee']);
    const terminated = await call<ContractView>(stack, 'POST', `/v1/contracts/${contract.id}/terminate`, { body: { at: 'now', reason: 'Customer moved to a reseller.' }, expect: 200 });
    expect(terminated).toMatchObject({ status: 'terminated', terminatesOn: today() });
    const preview = await call<InvoiceView>(stack, 'GET', `/v1/organizations/${organizationId}/upcoming-invoice`);
    expect(brief(preview.lines).filter(([type]) => type === 'one_off')).toEqual([['one_off', 5_000, 'Contract Short: termination fee']]);
    // Terminated the day it started, the contract never applied: the period billed at its price is adjusted to the list price.
    expect(brief(preview.lines)).toEqual(expect.arrayContaining([['subscription', 300, 'Adjustment: Team base fee']]));
    await expectProblem(await stack.request('POST', `/v1/contracts/${contract.id}/renew`, { body: {} }), 409, 'contract_ended');
    const events = await stack.sql<{ type: string }>("select type from webhook_events where organization_id = $1 and type like 'contract.%' order by created_at", [organizationId]);
    expect(events.map((event) => event.type)).toEqual(['contract.activated', 'contract.terminated']);
  });

  it('an amendment over a contract_amendment rule waits for approval as a child workflow, then is a new version', async () => {
    const { organizationId, planCode, subscribe } = await customer();
    await call(stack, 'POST', '/v1/approval-rules', { body: { name: 'Contract changes', subjectType: 'contract_amendment', organizationId, minAmount: 0, levels: [{ role: 'platform_admin' }] } });
    const contract = await call<ContractView>(stack, 'POST', '/v1/contracts', { body: { organizationId, name: 'Amended', startDate: today(), endDate: addMonths(today(), 12), priceOverrides: [{ planCode, basePrice: 900 }] } });
    await subscribe();
    const answer = await stack.request('POST', `/v1/contracts/${contract.id}/amendments`, {
      body: { changes: { priceOverrides: [{ planCode, basePrice: 600 }] }, effectiveAt: today(), reason: 'Volume commitment agreed.' },
    });
    expect(answer.status).toBe(202);
    const pending = (await answer.json()) as { id: string; status: string; approvalRequestId: string };
    expect(pending.status).toBe('pending_approval');
    expect((await stack.temporal.workflow.getHandle(`approval:${pending.approvalRequestId}`).describe()).parentExecution?.workflowId).toBe(`contract:${contract.id}`);
    expect((await call<ContractView>(stack, 'GET', `/v1/contracts/${contract.id}`)).version).toBe(1);

    const admin = bearer(await signJwt(unique('admin'), 'platform_admin'));
    await call(stack, 'POST', `/v1/approval-requests/${pending.approvalRequestId}/decisions`, { body: { decision: 'approve' }, authorization: admin, expect: 200 });
    const amended = await eventually(async () => {
      const view = await call<ContractView>(stack, 'GET', `/v1/contracts/${contract.id}`);
      return view.version === 2 ? view : undefined;
    });
    expect(amended.amendments).toEqual([expect.objectContaining({ id: pending.id, status: 'applied', version: 2 })]);
    expect(amended.versions.map((version) => version.terms.priceOverrides[0]?.basePrice)).toEqual([900, 600]);
    expect(await stack.temporal.workflow.getHandle(`contract:${contract.id}`).query(contractStateQuery)).toMatchObject({ version: 2 });
    const preview = await call<InvoiceView>(stack, 'GET', `/v1/organizations/${organizationId}/upcoming-invoice`);
    // Whether or not today's period was billed at the first version meanwhile, the new price is what it comes to.
    expect(brief(preview.lines)).toEqual(expect.arrayContaining([['subscription', 600, 'Team (contract Amended v2 price) base fee']]));
  });

  it('credits an SLA breach once on the next invoice; refuses a second breach of the period and a period out of term', async () => {
    const { organizationId, subscribe } = await customer();
    const contract = await call<ContractView>(stack, 'POST', '/v1/contracts', {
      body: { organizationId, name: 'SLA', startDate: today(), endDate: addMonths(today(), 12), sla: { uptimePercent: '99.9', creditPercent: '10' } },
    });
    await subscribe();
    const breach = { periodStart: today(), periodEnd: addMonths(today(), 1), measuredUptimePercent: '99.5' };
    expect(await call(stack, 'POST', `/v1/contracts/${contract.id}/sla-breaches`, { body: breach })).toMatchObject({ belowSla: true });
    await expectProblem(await stack.request('POST', `/v1/contracts/${contract.id}/sla-breaches`, { body: breach }), 409, 'sla_breach_recorded');
    await expectProblem(
      await stack.request('POST', `/v1/contracts/${contract.id}/sla-breaches`, { body: { ...breach, periodStart: addMonths(today(), 13), periodEnd: addMonths(today(), 14) } }),
      422,
      'breach_out_of_term',
    );
    const run = await call<{ invoices: InvoiceView[] }>(stack, 'POST', `/v1/organizations/${organizationId}/invoices/run`, { expect: 200 });
    expect(brief(run.invoices[0]!.lines).filter(([type]) => type === 'credit')).toEqual([['credit', -200, expect.stringMatching(/^Contract SLA: SLA credit 10%/)]]);
    expect(run.invoices[0]!.total).toBe(2_000 - 200);
  });

  it('refuses what the contract cannot take, with clear problems', async () => {
    const { organizationId } = await customer();
    await expectProblem(await createContract({ organizationId, name: 'Backwards', startDate: today(), endDate: today() }), 400, 'validation_failed');
    await expectProblem(await createContract({ organizationId, name: 'Too much', startDate: today(), endDate: addMonths(today(), 1), discountPercent: '150' }), 422, 'invalid_contract');
    const member = bearer(await signJwt(unique('owner')));
    await call(stack, 'POST', `/v1/organizations/${organizationId}/members`, { body: { userId: 'x', role: 'OWNER' } }).catch(() => undefined);
    await expectProblem(await stack.request('POST', '/v1/contracts', { body: { organizationId, name: 'Mine', startDate: today(), endDate: addMonths(today(), 1) }, headers: { authorization: member } }), 404, 'organization_not_found');
    const contract = await call<ContractView>(stack, 'POST', '/v1/contracts', { body: { organizationId, name: 'Refusals', startDate: today(), endDate: addMonths(today(), 12) } });
    await expectProblem(await stack.request('POST', `/v1/contracts/${contract.id}/terminate`, { body: { at: addMonths(today(), 12), reason: 'x' } }), 422, 'termination_out_of_term');
    await expectProblem(
      await stack.request('POST', `/v1/contracts/${contract.id}/amendments`, { body: { changes: { commitmentPeriod: 'year' }, effectiveAt: today(), reason: 'x' } }),
      422,
      'commitment_period_fixed',
    );
    expect(await stack.sql('select id from contract_amendments where contract_id = $1', [contract.id])).toEqual([]);
    const renewed = await call<ContractView>(stack, 'POST', `/v1/contracts/${contract.id}/renew`, { body: { termMonths: 6 }, expect: 200 });
    expect(renewed).toMatchObject({ endDate: addMonths(addMonths(today(), 12), 6), version: 2 });
  });
});
