import { describe, expect, it } from '@jest/globals';
import {
  buildErpCreditNote,
  buildErpCustomer,
  buildErpInvoice,
  buildErpPayment,
  buildErpRefund,
  missingMappingsMessage,
  type ErpDocumentRef,
  type GlMapping,
  type InvoiceLineSource,
  type InvoiceSource,
} from '../../../../src/domain/index.js';

const customer: ErpDocumentRef = { reference: 'CUS-0A1B2C3D4E5F6071', externalId: 'qb-58' };
const invoiceRef: ErpDocumentRef = { reference: 'INV-0A1B2C3D-000042', externalId: 'qb-911' };
const creditNoteRef: ErpDocumentRef = { reference: 'CN-77AA88BB99CC00DD', externalId: 'qb-1204' };

const mappings: GlMapping[] = [
  { kind: 'revenue', account: '4000' },
  { kind: 'revenue', planCode: 'team', account: '4100' },
  { kind: 'revenue', planCode: 'team', departmentId: 'eng', account: '4100-ENG' },
  { kind: 'revenue', metricCode: 'api_calls', account: '4200' },
  { kind: 'discount', account: '4900' },
  { kind: 'tax', account: '2200' },
  { kind: 'credit', account: '4800' },
  { kind: 'receivable', account: '1200' },
  { kind: 'cash', account: '1000' },
  { kind: 'refund', account: '4950' },
];

const line = (overrides: Partial<InvoiceLineSource>): InvoiceLineSource => ({
  type: 'subscription',
  description: 'Team base fee',
  quantity: '1',
  amount: 10_000,
  planCode: 'team',
  metricCode: null,
  departmentId: null,
  ...overrides,
});

const invoice = (overrides: Partial<InvoiceSource> = {}): InvoiceSource => ({
  id: '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
  number: 'INV-0A1B2C3D-000042',
  currency: 'USD',
  finalizedAt: '2027-03-01T00:00:04.123Z',
  dueAt: '2027-03-31T23:59:59.000Z',
  amountDue: 10_000,
  lines: [line({})],
  ...overrides,
});

describe('buildErpInvoice', () => {
  it('builds the whole document from a one-line invoice', () => {
    expect(buildErpInvoice(invoice(), customer, mappings)).toEqual({
      ok: true,
      document: {
        type: 'invoice',
        reference: 'INV-0A1B2C3D-000042',
        number: 'INV-0A1B2C3D-000042',
        customer,
        issueDate: '2027-03-01',
        dueDate: '2027-03-31',
        currency: 'USD',
        lines: [{ description: 'Team base fee', kind: 'revenue', quantity: '1', amount: 10_000, account: '4100' }],
        total: 10_000,
        receivableAccount: '1200',
      },
    });
  });

  it.each<[InvoiceLineSource['type'], string, string]>([
    ['subscription', 'revenue', '4100'],
    ['seat', 'revenue', '4100'],
    ['proration', 'revenue', '4100'],
    ['commitment', 'revenue', '4100'],
    ['one_off', 'revenue', '4100'],
    ['usage', 'revenue', '4200'],
    ['discount', 'discount', '4900'],
    ['tax', 'tax', '2200'],
    ['credit', 'credit', '4800'],
  ])('posts a %s line as %s to %s', (type, kind, account) => {
    const result = buildErpInvoice(invoice({ lines: [line({ type, metricCode: type === 'usage' ? 'api_calls' : null, amount: 123 })], amountDue: 123 }), customer, mappings);
    if (!result.ok) throw new Error(`missing ${result.missing.join('; ')}`);
    expect(result.document.lines).toEqual([{ description: 'Team base fee', kind, quantity: '1', amount: 123, account }]);
  });

  it('maps usage lines by their metric, never by the plan they also carry', () => {
    const usage = line({ type: 'usage', description: 'API calls', quantity: '1520.5', amount: 1_520, planCode: 'team', metricCode: 'api_calls', departmentId: 'eng' });
    const result = buildErpInvoice(invoice({ lines: [usage], amountDue: 1_520 }), customer, mappings);
    expect(result).toMatchObject({ ok: true, document: { lines: [{ kind: 'revenue', quantity: '1520.5', amount: 1_520, account: '4200' }] } });
    const withoutMetricMapping = mappings.filter((mapping) => mapping.metricCode === undefined);
    expect(buildErpInvoice(invoice({ lines: [usage], amountDue: 1_520 }), customer, withoutMetricMapping)).toMatchObject({
      ok: true,
      document: { lines: [{ account: '4000' }] },
    });
  });

  it('maps plan and department of fee lines, and only the department of discounts, tax and credits', () => {
    const departmental: GlMapping[] = [...mappings, { kind: 'tax', departmentId: 'eng', account: '2200-ENG' }, { kind: 'discount', departmentId: 'eng', account: '4900-ENG' }];
    const result = buildErpInvoice(
      invoice({
        lines: [
          line({ departmentId: 'eng' }),
          line({ type: 'discount', description: 'Launch coupon', amount: -1_000, departmentId: 'eng' }),
          line({ type: 'tax', description: 'Sales tax', amount: 720, departmentId: 'eng' }),
          line({ type: 'credit', description: 'Balance applied', amount: -500, departmentId: 'eng' }),
        ],
        amountDue: 9_220,
      }),
      customer,
      departmental,
    );
    if (!result.ok) throw new Error(`missing ${result.missing.join('; ')}`);
    expect(result.document.lines.map((each) => [each.kind, each.amount, each.account])).toEqual([
      ['revenue', 10_000, '4100-ENG'],
      ['discount', -1_000, '4900-ENG'],
      ['tax', 720, '2200-ENG'],
      ['credit', -500, '4800'],
    ]);
    expect(result.document.total).toBe(9_220);
  });

  it('drops zero-amount lines and keeps the others in invoice order', () => {
    const result = buildErpInvoice(
      invoice({
        lines: [
          line({ description: 'Team base fee' }),
          line({ type: 'usage', description: 'API calls (included)', metricCode: 'api_calls', amount: 0 }),
          line({ type: 'discount', description: 'Expired coupon', amount: 0 }),
          line({ type: 'tax', description: 'Sales tax', amount: 825 }),
        ],
        amountDue: 10_825,
      }),
      customer,
      mappings,
    );
    if (!result.ok) throw new Error(`missing ${result.missing.join('; ')}`);
    expect(result.document.lines.map((each) => each.description)).toEqual(['Team base fee', 'Sales tax']);
  });

  it('does not ask for a mapping a zero-amount line would need', () => {
    const result = buildErpInvoice(invoice({ lines: [line({}), line({ type: 'usage', metricCode: 'storage_gb', planCode: null, amount: 0 })] }), customer, mappings.filter((mapping) => mapping.kind !== 'revenue' || mapping.planCode));
    expect(result.ok).toBe(true);
  });

  it('uses the invoice’s amount due as its total, not a sum of its own', () => {
    const result = buildErpInvoice(invoice({ amountDue: 7_777 }), customer, mappings);
    expect(result).toMatchObject({ ok: true, document: { total: 7_777 } });
  });

  it.each<[string, string | null, string, string | null]>([
    ['2027-03-01T00:00:04.123Z', '2027-03-31T23:59:59.000Z', '2027-03-01', '2027-03-31'],
    ['2026-12-31T23:59:59.999Z', null, '2026-12-31', null],
    ['2028-02-29T12:00:00Z', '2028-03-30T00:00:00Z', '2028-02-29', '2028-03-30'],
  ])('finalized %s, due %s → issued %s, due %s', (finalizedAt, dueAt, issueDate, dueDate) => {
    expect(buildErpInvoice(invoice({ finalizedAt, dueAt }), customer, mappings)).toMatchObject({ ok: true, document: { issueDate, dueDate } });
  });

  it('lists every missing mapping once, in the order first needed, receivable last', () => {
    const partial: GlMapping[] = [{ kind: 'revenue', planCode: 'team', account: '4100' }];
    const result = buildErpInvoice(
      invoice({
        lines: [
          line({}),
          line({ planCode: 'pro' }),
          line({ type: 'seat', planCode: 'pro', quantity: '3' }),
          line({ type: 'usage', planCode: 'team', metricCode: 'api_calls', departmentId: 'eng' }),
          line({ type: 'usage', planCode: 'pro', metricCode: 'api_calls', departmentId: 'eng' }),
          line({ type: 'tax', amount: 300 }),
          line({ type: 'tax', amount: 200 }),
          line({ type: 'discount', amount: -100, departmentId: 'sales' }),
        ],
      }),
      customer,
      partial,
    );
    expect(result).toEqual({
      ok: false,
      missing: ['revenue (plan "pro")', 'revenue (metric "api_calls", department eng)', 'tax', 'discount (department sales)', 'receivable'],
    });
  });

  it('names everything missing when nothing is mapped', () => {
    expect(buildErpInvoice(invoice(), customer, [])).toEqual({ ok: false, missing: ['revenue (plan "team")', 'receivable'] });
  });
});

describe('missingMappingsMessage', () => {
  it('names one missing mapping as "it"', () => {
    expect(missingMappingsMessage(['receivable'])).toBe('no GL mapping for receivable: map it with PUT /v1/integrations/{id}/gl-mappings, then POST /v1/integrations/{id}/sync');
  });

  it('joins several with semicolons as "them"', () => {
    expect(missingMappingsMessage(['revenue (plan "pro")', 'tax', 'receivable'])).toBe(
      'no GL mapping for revenue (plan "pro"); tax; receivable: map them with PUT /v1/integrations/{id}/gl-mappings, then POST /v1/integrations/{id}/sync',
    );
  });
});

describe('buildErpCreditNote', () => {
  const source = { id: '77aa88bb-99cc-00dd-8eef-112233445566', number: 'CN-0001', currency: 'EUR', createdAt: '2027-04-02T10:30:00Z', amount: 2_500, reason: 'SLA credit for March' };

  it('credits the credit account against receivable', () => {
    expect(buildErpCreditNote(source, customer, invoiceRef, mappings)).toEqual({
      ok: true,
      document: {
        type: 'credit_note',
        reference: 'CN-77AA88BB99CC00DD',
        number: 'CN-0001',
        customer,
        invoice: invoiceRef,
        issueDate: '2027-04-02',
        currency: 'EUR',
        reason: 'SLA credit for March',
        amount: 2_500,
        creditAccount: '4800',
        receivableAccount: '1200',
      },
    });
  });

  it.each<[GlMapping[], string[]]>([
    [[], ['credit', 'receivable']],
    [[{ kind: 'credit', account: '4800' }], ['receivable']],
    [[{ kind: 'receivable', account: '1200' }], ['credit']],
    [[{ kind: 'credit', departmentId: 'eng', account: '4800-ENG' }, { kind: 'receivable', account: '1200' }], ['credit']],
  ])('with %j misses %j', (given, missing) => {
    expect(buildErpCreditNote(source, customer, invoiceRef, given)).toEqual({ ok: false, missing });
  });
});

describe('buildErpPayment', () => {
  const source = { id: 'c0ffee00-1234-4abc-9def-0123456789ab', currency: 'JPY', receivedAt: '2027-04-05T08:00:00Z', amount: 5_000, reference: 'ch_3Pabc' };

  it('debits cash against receivable', () => {
    expect(buildErpPayment(source, customer, invoiceRef, mappings)).toEqual({
      ok: true,
      document: {
        type: 'payment',
        reference: 'PAY-C0FFEE0012344ABC',
        customer,
        invoice: invoiceRef,
        date: '2027-04-05',
        currency: 'JPY',
        amount: 5_000,
        cashAccount: '1000',
        receivableAccount: '1200',
        paymentReference: 'ch_3Pabc',
      },
    });
  });

  it('misses cash and receivable when they are unmapped', () => {
    expect(buildErpPayment(source, customer, invoiceRef, [{ kind: 'refund', account: '4950' }])).toEqual({ ok: false, missing: ['cash', 'receivable'] });
  });
});

describe('buildErpRefund', () => {
  const source = { creditNoteId: '77aa88bb-99cc-00dd-8eef-112233445566', currency: 'USD', createdAt: '2027-04-09T23:00:00Z', amount: 2_500 };

  it('is referenced by its credit note and pays out of cash', () => {
    expect(buildErpRefund(source, customer, creditNoteRef, mappings)).toEqual({
      ok: true,
      document: {
        type: 'refund',
        reference: 'RF-77AA88BB99CC00DD',
        customer,
        creditNote: creditNoteRef,
        date: '2027-04-09',
        currency: 'USD',
        amount: 2_500,
        cashAccount: '1000',
        refundAccount: '4950',
        receivableAccount: '1200',
      },
    });
  });

  it.each<[GlMapping[], string[]]>([
    [[], ['cash', 'refund', 'receivable']],
    [[{ kind: 'cash', account: '1000' }, { kind: 'receivable', account: '1200' }], ['refund']],
  ])('with %j misses %j', (given, missing) => {
    expect(buildErpRefund(source, customer, creditNoteRef, given)).toEqual({ ok: false, missing });
  });
});

describe('buildErpCustomer', () => {
  it('references the organization by its id', () => {
    expect(buildErpCustomer({ organizationId: '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9', name: 'Acme GmbH', email: 'billing@acme.test', currency: 'EUR' })).toEqual({
      type: 'customer',
      reference: 'CUS-0A1B2C3D4E5F6071',
      organizationId: '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
      name: 'Acme GmbH',
      email: 'billing@acme.test',
      currency: 'EUR',
    });
  });

  it('keeps a missing email as null', () => {
    expect(buildErpCustomer({ organizationId: 'ffffffff-0000-4000-8000-000000000000', name: 'No Mail Ltd', email: null, currency: 'GBP' })).toMatchObject({ reference: 'CUS-FFFFFFFF00004000', email: null });
  });
});
