import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * The request bodies of the Sage Intacct REST API (v1) objects the Sage connector writes, as
 * closed JSON Schemas: a field not listed here, a missing required field or a wrong type is a
 * violation. Sage publishes its OpenAPI files on its developer site under its site terms, so they
 * are not committed; this catalog was written from them and from the reference pages:
 *   - https://developer.sage.com/intacct/docs/_oas/accounts-receivable.openapi.yaml (v1):
 *     `objects.accounts-receivable.customer`, `.invoice`, `.invoice-line`, `.adjustment`,
 *     `.adjustment-line`, `.payment`, `.payment-detail`, `.customer-refund`, `.customer-refund-detail`,
 *     their `…RequiredProperties`, and the shared `contact-ref`.
 *   - https://developer.sage.com/intacct/docs/_oas/core.openapi.yaml: the query service body.
 *   - https://developer.sage.com/intacct/docs/developer-portal/guides/oauth2: the token request.
 * It lists the writable properties of those objects (read-only ones such as `key`, `href`,
 * totals and `audit` are left out, so sending them is a violation too), minus features the
 * connector has no use for (dimensions, tax entries, e-invoicing, attachments, print templates).
 * One deviation: the spec's customer-refund marks `id` both required and read-only; Sage's own
 * example omits it, and so does this catalog.
 */

type Schema = Record<string, unknown>;

const text = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const nullableText = (extra: Schema = {}): Schema => ({ type: ['string', 'null'], ...extra });
const date: Schema = { type: 'string', format: 'date' };
/** Sage's `decimal-precision-2`: amounts travel as decimal strings. */
const decimal: Schema = { type: 'string', format: 'decimal' };
const object = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: 'object', properties, required, additionalProperties: false });
const list = (items: Schema): Schema => ({ type: 'array', items });
/** A reference to another record by its key or id. */
const ref = (required: string[] = []): Schema => object({ key: text(), id: text() }, required);

const contactRef = object({
  key: text(),
  id: text(),
  printAs: text(),
  companyName: nullableText(),
  firstName: nullableText(),
  lastName: nullableText(),
  email1: nullableText(),
  email2: nullableText(),
  phone1: nullableText(),
  URL1: nullableText(),
});

const customer = object({
  id: text(),
  name: text(),
  status: { enum: [null, 'active', 'activeNonPosting', 'inactive'] },
  customerType: ref(),
  parent: ref(),
  taxId: text(),
  creditLimit: { type: 'number' },
  isOnHold: { type: 'boolean' },
  contacts: object({ default: contactRef, primary: ref(), billTo: ref(), shipTo: ref() }),
  term: ref(),
  currency: text(),
  emailOptIn: { type: 'boolean' },
  deliveryOptions: { enum: ['print', 'email', 'both'] },
  notes: text(),
  overrideOffsetGLAccount: ref(),
  defaultRevenueGLAccount: ref(),
  accountGroup: ref(),
});

const invoiceLine = object(
  {
    glAccount: ref(['id']),
    overrideOffsetGLAccount: ref(),
    txnAmount: decimal,
    memo: text(),
    accountLabel: ref(),
    allocation: ref(),
  },
  ['txnAmount'],
);

const invoice = object(
  {
    invoiceNumber: text(),
    state: { enum: ['draft', 'posted'] },
    referenceNumber: text(),
    description: text(),
    invoiceDate: date,
    dueDate: date,
    currency: object({
      baseCurrency: text(),
      txnCurrency: text(),
      exchangeRate: object({ date, rate: { type: 'number' }, typeId: text() }),
    }),
    customerMessage: ref(),
    customer: ref(['id']),
    term: ref(),
    invoiceSummary: object({ key: text(), id: text(), glPostingDate: date }),
    lines: list(invoiceLine),
  },
  ['invoiceDate', 'dueDate'],
);

const adjustmentLine = object(
  {
    memo: text(),
    txnCurrency: object({ currency: text(), amount: decimal }, ['amount']),
    glAccount: ref(['id']),
    overrideOffsetGLAccount: ref(),
    accountLabel: ref(),
  },
  ['glAccount'],
);

const adjustment = object(
  {
    adjustmentNumber: nullableText(),
    state: { enum: ['draft', 'posted'] },
    description: nullableText(),
    documentNumber: text(),
    txnCurrency: object({ currency: text() }, ['currency']),
    customer: ref(['id']),
    createdDate: date,
    glPostingDate: date,
    adjustmentSummary: object({ key: { type: 'integer' }, id: text() }, ['id']),
    lines: list(adjustmentLine),
  },
  ['createdDate'],
);

const paymentDetail = object(
  {
    discountDate: date,
    txnCurrency: object({ paymentAmount: nullableText({ format: 'decimal' }), inlineAmount: nullableText(), adjustmentAmount: nullableText() }, ['paymentAmount']),
    arInvoice: ref(),
    arInvoiceLine: ref(),
    arAdjustment: ref(),
    inlineTxn: ref(),
  },
  ['arInvoice'],
);

const payment = {
  ...object({
    payerName: text(),
    financialEntity: object({ entityId: text() }),
    undepositedGLAccount: ref(),
    state: { enum: ['complete', 'draft'] },
    paymentMethod: { enum: [null, 'printedCheck', 'creditCard', 'eft', 'cash', 'onlineChargeCard', 'onlineAchDebit', 'paymentAcceptanceService'] },
    documentNumber: text(),
    description: text({ maxLength: 1000 }),
    baseCurrency: object({ currency: text(), amountToPay: decimal }),
    txnCurrency: object({ currency: text(), amountToPay: decimal, totalAmount: decimal }, ['currency']),
    referenceNumber: nullableText({ maxLength: 21 }),
    paymentSummary: object({ key: text(), id: text(), receiptDate: date, name: text() }, ['receiptDate']),
    customer: object({ key: text(), id: text({ maxLength: 21 }) }),
    paidDate: date,
    overPaymentAmount: decimal,
    paymentDetails: list(paymentDetail),
  }),
  // Where the money went (a bank account or an undeposited-funds account) and who paid: one of each.
  allOf: [{ oneOf: [{ required: ['undepositedGLAccount'] }, { required: ['financialEntity'] }] }, { oneOf: [{ required: ['customer'] }, { required: ['payerName'] }] }],
};

const refundDetail = object(
  {
    txnRefundAmount: nullableText({ format: 'decimal' }),
    baseRefundAmount: nullableText(),
    overPayment: ref(),
    negativeInvoice: ref(),
    arPayment: ref(),
    arAdjustment: ref(),
    arAdvance: ref(),
  },
  ['txnRefundAmount'],
);

const customerRefund = object(
  {
    state: { enum: ['posted', 'draft'] },
    paymentMethod: { enum: ['eft', 'processInAP', 'electronicPayment'] },
    documentNumber: text(),
    description: text(),
    paymentDate: date,
    refundDate: date,
    baseCurrency: object({ currency: text(), refundAmount: decimal }),
    txnCurrency: object({ currency: text(), refundAmount: decimal }),
    customer: object({ key: text(), id: text({ maxLength: 21 }) }),
    financialEntity: object({ key: text(), id: text() }),
    payTo: ref(),
    refundDetails: list(refundDetail),
  },
  ['financialEntity', 'paymentMethod', 'customer', 'payTo', 'refundDate'],
);

const filterValue: Schema = { type: ['string', 'number', 'boolean', 'null'] };
const comparison = (operator: string): Schema => object({ [operator]: { type: 'object', additionalProperties: filterValue, minProperties: 1 } }, [operator]);
const query = object(
  {
    object: text(),
    fields: list(text()),
    filters: list({ anyOf: ['$eq', '$ne', '$lt', '$lte', '$gt', '$gte', '$contains', '$startsWith'].map(comparison) }),
    filterExpression: text(),
    orderBy: list({ type: 'object', additionalProperties: { enum: ['asc', 'desc'] } }),
    start: { type: 'integer', minimum: 1 },
    size: { type: 'integer', minimum: 1, maximum: 4000 },
  },
  ['object', 'fields'],
);

const tokenRequest = object(
  { grant_type: { enum: ['refresh_token', 'authorization_code', 'client_credentials'] }, client_id: text(), client_secret: text(), refresh_token: text(), code: text(), redirect_uri: text(), username: text() },
  ['grant_type', 'client_id', 'client_secret'],
);

/** Which catalog entry checks the body of `METHOD path` (paths below the API base). */
const bodies: { method: string; path: RegExp; schema: Schema }[] = [
  { method: 'POST', path: /^\/oauth2\/token$/, schema: tokenRequest },
  { method: 'POST', path: /^\/services\/core\/query$/, schema: query },
  { method: 'POST', path: /^\/objects\/accounts-receivable\/customer$/, schema: { ...customer, required: ['name'] } },
  { method: 'PATCH', path: /^\/objects\/accounts-receivable\/customer\/[^/]+$/, schema: { ...customer, properties: { ...(customer.properties as Schema), id: false } } },
  { method: 'POST', path: /^\/objects\/accounts-receivable\/invoice$/, schema: invoice },
  { method: 'POST', path: /^\/objects\/accounts-receivable\/adjustment$/, schema: adjustment },
  { method: 'POST', path: /^\/objects\/accounts-receivable\/payment$/, schema: payment },
  { method: 'POST', path: /^\/objects\/accounts-receivable\/customer-refund$/, schema: customerRefund },
];

export interface SageSpecValidator {
  /** Violations of the body of `method path` (`path` relative to `/ia/api/v1`); throws for an operation outside the catalog. */
  validate(method: string, path: string, body: unknown): string[];
}

export function sageSpecValidator(): SageSpecValidator {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv, ['date']);
  ajv.addFormat('decimal', /^-?\d+(\.\d+)?$/);
  const compiled = new Map<Schema, ValidateFunction>();
  return {
    validate(method, path, body) {
      const entry = bodies.find((candidate) => candidate.method === method && candidate.path.test(path));
      if (!entry) throw new Error(`the Sage catalog has no body for ${method} ${path}`);
      let validate = compiled.get(entry.schema);
      if (!validate) {
        validate = ajv.compile(entry.schema);
        compiled.set(entry.schema, validate);
      }
      if (validate(body)) return [];
      return (validate.errors ?? []).map((error) =>
        error.keyword === 'additionalProperties'
          ? `${error.instancePath || '/'}: unknown field ${JSON.stringify(error.params.additionalProperty)}`
          : error.keyword === 'false schema'
            ? `${error.instancePath}: read-only field`
            : `${error.instancePath || '/'}: ${error.message}`,
      );
    },
  };
}
