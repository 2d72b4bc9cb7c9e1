import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * The NetSuite record bodies the mock accepts, written down because Oracle publishes no static
 * spec: every account serves its own OpenAPI document (`GET /services/rest/record/v1/metadata-catalog`
 * with `Accept: application/swagger+json`), which needs a live account. The fields below are the
 * writable body fields and sublists of the REST API Browser, Record API v1 (2026.1,
 * https://system.netsuite.com/help/helpcenter/en_US/APIs/REST_API_Browser/record/v1/2026.1/index.html),
 * definitions `customer`, `invoice`, `invoice-itemElement`, `creditMemo`, `creditMemo-applyElement`,
 * `customerPayment`, `customerPayment-applyElement` and `customerRefund`: the ones the connector
 * sends plus the other common ones; read-only and computed fields (`links`, `total` of invoices,
 * balances, `createdDate`…) are left out, so sending one is a violation as on an account that
 * validates property names (`X-NetSuite-PropertyNameValidation: Error`). Required fields are the
 * ones the standard entry forms make mandatory (the Browser flags none).
 *
 * Every object is closed: an unknown field, a missing required one or a wrong type is a violation.
 */

type FieldType =
  | 'string'
  /** `YYYY-MM-DD` */
  | 'date'
  | 'number'
  | 'integer'
  | 'boolean'
  /** A record reference (`nsResource`): `{id}` or `{externalId}`. */
  | 'ref'
  /** A select field's value object: `{id}` (`status`, `undepFunds`…). */
  | 'select'
  | Sublist;

interface Sublist {
  sublist: RecordShape;
}

interface RecordShape {
  fields: Record<string, FieldType>;
  required?: string[];
}

const sublist = (element: RecordShape): Sublist => ({ sublist: element });

/** `invoice-itemElement` / `creditMemo-itemElement`: an item line; the item carries the GL account. */
const itemLine: RecordShape = {
  fields: {
    account: 'ref',
    amount: 'number',
    class: 'ref',
    department: 'ref',
    description: 'string',
    isTaxable: 'boolean',
    item: 'ref',
    line: 'integer',
    location: 'ref',
    price: 'ref',
    quantity: 'number',
    rate: 'number',
    revRecEndDate: 'date',
    revRecStartDate: 'date',
    taxCode: 'ref',
    taxRate1: 'number',
    units: 'string',
  },
  required: ['item'],
};

/** `creditMemo-applyElement`, `customerPayment-applyElement`, `customerRefund-applyElement`: one open transaction settled. */
const applyLine: RecordShape = {
  fields: { amount: 'number', apply: 'boolean', applyDate: 'date', doc: 'ref', line: 'integer', refNum: 'string' },
  required: ['doc'],
};

/** Body fields every sales transaction shares. */
const transactionFields: Record<string, FieldType> = {
  class: 'ref',
  currency: 'ref',
  customForm: 'ref',
  department: 'ref',
  exchangeRate: 'number',
  externalId: 'string',
  location: 'ref',
  memo: 'string',
  postingPeriod: 'ref',
  subsidiary: 'ref',
  tranDate: 'date',
  tranId: 'string',
};

const salesFields: Record<string, FieldType> = {
  ...transactionFields,
  account: 'ref',
  discountItem: 'ref',
  email: 'string',
  endDate: 'date',
  entity: 'ref',
  isTaxable: 'boolean',
  item: sublist(itemLine),
  message: 'string',
  otherRefNum: 'string',
  salesRep: 'ref',
  startDate: 'date',
  taxItem: 'ref',
  terms: 'ref',
  toBeEmailed: 'boolean',
  toBePrinted: 'boolean',
};

export const netsuiteRecords = {
  customer: {
    fields: {
      accountNumber: 'string',
      altEmail: 'string',
      altName: 'string',
      autoName: 'boolean',
      category: 'ref',
      comments: 'string',
      companyName: 'string',
      creditLimit: 'number',
      currency: 'ref',
      email: 'string',
      emailTransactions: 'boolean',
      endDate: 'date',
      entityId: 'string',
      externalId: 'string',
      fax: 'string',
      firstName: 'string',
      isInactive: 'boolean',
      isPerson: 'boolean',
      lastName: 'string',
      middleName: 'string',
      parent: 'ref',
      phone: 'string',
      printTransactions: 'boolean',
      receivablesAccount: 'ref',
      resaleNumber: 'string',
      salesRep: 'ref',
      startDate: 'date',
      subsidiary: 'ref',
      taxable: 'boolean',
      terms: 'ref',
    },
    required: ['companyName'],
  },
  invoice: {
    fields: { ...salesFields, approvalStatus: 'select', dueDate: 'date', shipDate: 'date' },
    required: ['entity', 'item'],
  },
  creditMemo: {
    fields: { ...salesFields, apply: sublist(applyLine), autoApply: 'boolean', createdFrom: 'ref' },
    required: ['entity', 'item'],
  },
  customerPayment: {
    fields: {
      ...transactionFields,
      account: 'ref',
      apply: sublist(applyLine),
      arAcct: 'ref',
      autoApply: 'boolean',
      checkNumber: 'string',
      customer: 'ref',
      payment: 'number',
      undepFunds: 'select',
    },
    required: ['customer', 'payment'],
  },
  customerRefund: {
    fields: {
      ...transactionFields,
      account: 'ref',
      address: 'string',
      apply: sublist(applyLine),
      arAcct: 'ref',
      checkNumber: 'string',
      customer: 'ref',
      toBePrinted: 'boolean',
    },
    required: ['customer', 'account'],
  },
} satisfies Record<string, RecordShape>;

export type NetSuiteRecordType = keyof typeof netsuiteRecords;

export const isNetSuiteRecordType = (name: string): name is NetSuiteRecordType => Object.hasOwn(netsuiteRecords, name);

type JsonSchema = Record<string, unknown>;

const nsResource: JsonSchema = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9]+$' }, externalId: { type: 'string' }, refName: { type: 'string' } },
  additionalProperties: false,
  anyOf: [{ required: ['id'] }, { required: ['externalId'] }],
};

function fieldSchema(type: FieldType): JsonSchema {
  switch (type) {
    case 'date':
      return { type: 'string', format: 'date' };
    case 'ref':
      return nsResource;
    case 'select':
      return { type: 'object', properties: { id: { type: 'string' } }, required: ['id'], additionalProperties: false };
    case 'string':
    case 'number':
    case 'integer':
    case 'boolean':
      return { type };
    default:
      // A sublist is written as `{items: [...]}`; its paging fields are read-only.
      return { type: 'object', properties: { items: { type: 'array', items: recordSchema(type.sublist) } }, required: ['items'], additionalProperties: false };
  }
}

function recordSchema(shape: RecordShape): JsonSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(Object.entries(shape.fields).map(([name, type]) => [name, fieldSchema(type)])),
    required: shape.required ?? [],
    additionalProperties: false,
  };
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv, ['date']);
const validators = new Map<NetSuiteRecordType, ValidateFunction>();

/** What is wrong with a body written to `recordType`; empty when it conforms. */
export function netsuiteBodyViolations(recordType: NetSuiteRecordType, body: unknown): string[] {
  let validate = validators.get(recordType);
  if (!validate) {
    validate = ajv.compile(recordSchema(netsuiteRecords[recordType]));
    validators.set(recordType, validate);
  }
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error) =>
    error.keyword === 'additionalProperties'
      ? `${error.instancePath || '/'}: unknown field ${JSON.stringify(error.params.additionalProperty)}`
      : `${error.instancePath || '/'}: ${error.message}`,
  );
}
