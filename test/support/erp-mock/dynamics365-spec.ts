import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { openApiValidator } from './openapi.js';

/**
 * Validates Business Central API v2.0 request bodies against Microsoft's v1.0 OpenAPI document
 * (the only one published) plus an explicit overlay of what v2.0 adds or types differently. Each
 * overlay field is checked against its own schema and taken out of the body; what remains must
 * satisfy v1.0's closed schema, so a field neither v1.0 nor the overlay knows is a violation.
 */

const specPath = fileURLToPath(new URL('../../fixtures/erp-specs/dynamics365-business-central/BCOAS1.0.yaml', import.meta.url));

/** The v1.0 request bodies the mock's routes take, by the entity name the overlay uses. */
export type BcEntity = 'customer' | 'salesInvoice' | 'salesInvoiceLine' | 'salesCreditMemo' | 'salesCreditMemoLine' | 'customerPayment' | 'journalLine';

type OverlayField =
  /** A field whose v2.0 shape is this JSON schema (added in v2.0, or typed differently from v1.0's file). */
  | { schema: object; source: string }
  /** A deep-inserted navigation property: an array of `entity` bodies, each validated as POSTed to `segment`. */
  | { lines: BcEntity; segment: string; source: string };

const pages = 'microsoft/ALAppExtensions Apps/W1/APIV2/app/src/pages';
/** v2.0 serialises AL Date fields as Edm.Date; v1.0's file types every date as date-time. */
const edmDate = { type: 'string', format: 'date' };
const code20 = { type: 'string', maxLength: 20 };

const overlay: Partial<Record<BcEntity, Record<string, OverlayField>>> = {
  salesInvoice: {
    invoiceDate: { schema: edmDate, source: `${pages}/APIV2SalesInvoices.Page.al field(invoiceDate; Rec."Document Date")` },
    postingDate: { schema: edmDate, source: `${pages}/APIV2SalesInvoices.Page.al field(postingDate; Rec."Posting Date"), new in v2.0` },
    dueDate: { schema: edmDate, source: `${pages}/APIV2SalesInvoices.Page.al field(dueDate; Rec."Due Date")` },
    salesInvoiceLines: { lines: 'salesInvoiceLine', segment: 'salesInvoiceLines', source: `${pages}/APIV2SalesInvoices.Page.al part(salesInvoiceLines; "APIV2 - Sales Invoice Lines")` },
  },
  salesInvoiceLine: {
    lineObjectNumber: { schema: code20, source: `${pages}/APIV2SalesInvoiceLines.Page.al field(lineObjectNumber; Rec."No."), replacing v1.0's accountId/itemId` },
  },
  salesCreditMemo: {
    creditMemoDate: { schema: edmDate, source: `${pages}/APIV2SalesCreditMemos.Page.al field(creditMemoDate; Rec."Document Date")` },
    postingDate: { schema: edmDate, source: `${pages}/APIV2SalesCreditMemos.Page.al field(postingDate; Rec."Posting Date"), new in v2.0` },
    salesCreditMemoLines: {
      lines: 'salesCreditMemoLine',
      segment: 'salesCreditMemoLines',
      source: `${pages}/APIV2SalesCreditMemos.Page.al part(salesCreditMemoLines; "APIV2 - Sales Cr. Memo Lines")`,
    },
  },
  salesCreditMemoLine: {
    lineObjectNumber: { schema: code20, source: `${pages}/APIV2SalesCreditMemLines.Page.al field(lineObjectNumber; Rec."No."), replacing v1.0's accountId/itemId` },
  },
  customerPayment: {
    postingDate: { schema: edmDate, source: `${pages}/APIV2CustomerPayments.Page.al field(postingDate; Rec."Posting Date")` },
  },
  journalLine: {
    postingDate: { schema: edmDate, source: `${pages}/APIV2JournalLines.Page.al field(postingDate; Rec."Posting Date")` },
    balancingAccountNumber: { schema: code20, source: `${pages}/APIV2JournalLines.Page.al field(balancingAccountNumber; Rec."Bal. Account No."), new in v2.0` },
  },
};

const nilId = '00000000-0000-0000-0000-000000000000';

/** A violation of a deep-inserted line, located under its parent (`/: …` is the line itself). */
const under = (at: string, violation: string) => (at === '' ? violation : violation.startsWith('/:') ? at + violation.slice(1) : at + violation);

export interface BcBodyValidator {
  /** Violations of a v2.0 body sent as `method path` (a concrete path under `pathPrefix`). */
  validate(entity: BcEntity, method: string, path: string, body: unknown): string[];
}

/** `pathPrefix`: what precedes v1.0's `/companies(…)` in the mock's URLs (`/v2.0/{tenant}/{environment}/api/v2.0`). */
export function businessCentralValidator(pathPrefix: string): BcBodyValidator {
  const v1 = openApiValidator(specPath, { pathPrefix });
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const compiled = new Map<object, ValidateFunction>();
  const schemaCheck = (schema: object) => {
    let check = compiled.get(schema);
    if (!check) {
      check = ajv.compile(schema);
      compiled.set(schema, check);
    }
    return check;
  };

  function validate(entity: BcEntity, method: string, path: string, body: unknown, at = ''): string[] {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return [`${at || '/'}: must be an object`];
    const rest: Record<string, unknown> = { ...(body as Record<string, unknown>) };
    const violations: string[] = [];
    for (const [field, rule] of Object.entries(overlay[entity] ?? {})) {
      if (!(field in rest)) continue;
      const value = rest[field];
      delete rest[field];
      if ('schema' in rule) {
        const check = schemaCheck(rule.schema);
        if (!check(value)) violations.push(...(check.errors ?? []).map((error) => `${at}/${field}${error.instancePath}: ${error.message}`));
        continue;
      }
      if (!Array.isArray(value)) {
        violations.push(`${at}/${field}: must be an array`);
        continue;
      }
      const linePath = `${path}(${nilId})/${rule.segment}`;
      value.forEach((line, index) => violations.push(...validate(rule.lines, 'POST', linePath, line, `${at}/${field}/${index}`)));
    }
    violations.push(...v1.validate(method, path, rest).map((violation) => under(at, violation)));
    return violations;
  }

  return { validate: (entity, method, path, body) => validate(entity, method, path, body) };
}
