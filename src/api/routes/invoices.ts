import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Context } from 'hono';
import { computeInvoice, instantOfDay, type InvoiceLine as DomainInvoiceLine, type InvoiceProposal } from '../../domain/index.js';
import { Invoice, InvoiceLine, Subscription } from '../../db/entities/index.js';
import { billingDay, loadBillingAccount, toDomainLine, upcomingBillingDay, type BillingScope } from '../../db/repositories/billing.js';
import { ancestryOf } from '../../db/repositories/organizations.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import type { billingCycle } from '../../../workflows/billing-cycle.js';
import { runNowUpdate } from '../../../workflows/messages/billing.js';
import { requireOrganization, requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { afterCursor, pageOrder, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { waitsOnWorkflow } from '../middleware/unit-of-work.js';
import { jsonResponse, uuidParam } from '../http/schemas.js';
import { sendWorkflowUpdate } from '../http/workflow-updates.js';

const lineTypes = ['subscription', 'seat', 'usage', 'proration', 'commitment', 'one_off', 'discount', 'tax', 'credit'] as const;

const InvoiceLineSchema = z
  .object({
    type: z.enum(lineTypes),
    description: z.string(),
    subscriptionId: z.uuid().optional(),
    organizationId: z.uuid(),
    departmentId: z.uuid().optional(),
    metricCode: z.string().optional(),
    quantity: z.string().openapi({ description: 'Units, seats, or "1" for a flat fee (a decimal string).' }),
    unitAmount: z.number().int().optional(),
    amount: z.number().int().openapi({ description: 'Signed minor units.' }),
    periodStart: z.iso.datetime(),
    periodEnd: z.iso.datetime(),
  })
  .openapi('InvoiceLine');

const totals = {
  currency: z.string(),
  periodStart: z.iso.datetime(),
  periodEnd: z.iso.datetime(),
  subtotal: z.number().int(),
  discount: z.number().int(),
  tax: z.number().int(),
  total: z.number().int(),
  creditApplied: z.number().int().openapi({ description: "The customer's credit balance used on this invoice." }),
  amountDue: z.number().int(),
  lines: z.array(InvoiceLineSchema),
};

const InvoiceSchema = z
  .object({
    id: z.uuid(),
    number: z.string(),
    organizationId: z.uuid(),
    status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']),
    collectionMethod: z.enum(['charge_automatically', 'send_invoice']),
    ...totals,
    amountPaid: z.number().int(),
    amountCredited: z.number().int(),
    dueAt: z.iso.datetime().nullable(),
    finalizedAt: z.iso.datetime().nullable(),
    paidAt: z.iso.datetime().nullable(),
    voidedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Invoice');

const InvoicePreviewSchema = z
  .object({
    organizationId: z.uuid(),
    status: z.literal('draft'),
    asOf: z.iso.datetime().openapi({ description: 'The `asOf` asked for; without one, the next billing day (as `billingDay`).' }),
    billingDay: z.iso.datetime().openapi({ description: 'The billing day previewed (UTC midnight): the day of `asOf`, or the next billing day.' }),
    ...totals,
  })
  .openapi('InvoicePreview', {
    description:
      'The invoice the billing cycle would issue on `billingDay`; nothing is saved. Without `asOf`, the next invoice: at the next billing day, with the usage recorded so far, the next period\'s fees in advance, prorations and credits.',
  });

const InvoiceRunSchema = z
  .object({
    accountId: z.uuid().openapi({ description: 'The billing account that was run (the root of the organization hierarchy).' }),
    billingDay: z.iso.datetime(),
    invoices: z.array(InvoiceSchema).openapi({ description: 'Empty when nothing was due.' }),
  })
  .openapi('InvoiceRun');

const security = [{ bearer: [] }];
const asOfQuery = z.object({
  asOf: z.iso.datetime().optional().openapi({ description: 'Preview the invoice of this instant\'s billing day instead of the next invoice.' }),
});

const listRoute = createRoute({
  method: 'get',
  path: '/v1/invoices',
  tags: ['Invoices'],
  security,
  summary: "A billing account's invoices, oldest first",
  request: { query: PageQuerySchema.extend({ organizationId: z.uuid() }) },
  responses: { 200: jsonResponse('A page of invoices', pageSchema(InvoiceSchema, 'InvoicePage')), ...problemResponses(400, 401, 403, 404) },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/invoices/{id}',
  tags: ['Invoices'],
  security,
  summary: 'An invoice with its lines',
  request: { params: z.object({ id: uuidParam('id') }) },
  responses: { 200: jsonResponse('The invoice', InvoiceSchema), ...problemResponses(400, 401, 403, 404) },
});

const runRoute = createRoute({
  method: 'post',
  path: '/v1/organizations/{id}/invoices/run',
  tags: ['Invoices'],
  security,
  middleware: waitsOnWorkflow,
  summary: "Bill what is due now on the organization's billing account (its workflow closes today and answers with the invoice)",
  description:
    'A closing the billing rules refuse (an amount beyond the safe range, say) answers 422 with their code, and the account needs attention (a `billing.failed` event). A workflow that does not answer within `WORKFLOW_UPDATE_TIMEOUT_MS` answers 504 `timeout`: the invoice, once closed, is listed at `details.location`.',
  request: { params: z.object({ id: uuidParam('id') }) },
  responses: { 200: jsonResponse('What the run billed', InvoiceRunSchema), ...problemResponses(400, 401, 403, 404, 422, 503, 504) },
});

const organizationPreviewRoute = createRoute({
  method: 'get',
  path: '/v1/organizations/{id}/upcoming-invoice',
  tags: ['Invoices'],
  security,
  summary: "Preview the organization's next invoice (a child: its share of its account's), or asOf's; nothing is saved",
  request: { params: z.object({ id: uuidParam('id') }), query: asOfQuery },
  responses: { 200: jsonResponse('The preview', InvoicePreviewSchema), ...problemResponses(400, 401, 403, 404) },
});

const subscriptionPreviewRoute = createRoute({
  method: 'get',
  path: '/v1/subscriptions/{id}/upcoming-invoice',
  tags: ['Invoices'],
  security,
  summary: "Preview one subscription's part of its next invoice, or of asOf's; nothing is saved",
  request: { params: z.object({ id: uuidParam('id') }), query: asOfQuery },
  responses: { 200: jsonResponse('The preview', InvoicePreviewSchema), ...problemResponses(400, 401, 403, 404) },
});


function lineView(line: DomainInvoiceLine) {
  return {
    type: line.type,
    description: line.description,
    ...(line.subscriptionId ? { subscriptionId: line.subscriptionId } : {}),
    organizationId: line.organizationId,
    ...(line.departmentId ? { departmentId: line.departmentId } : {}),
    ...(line.metricCode ? { metricCode: line.metricCode } : {}),
    quantity: line.quantity,
    ...(line.unitAmount !== undefined ? { unitAmount: line.unitAmount } : {}),
    amount: line.amount,
    periodStart: instantOfDay(line.periodStart),
    periodEnd: instantOfDay(line.periodEnd),
  };
}

export function invoiceView(invoice: Invoice, lines: readonly InvoiceLine[]) {
  return {
    id: invoice.id,
    number: invoice.number ?? '',
    organizationId: invoice.organization.id,
    status: invoice.status,
    collectionMethod: invoice.collectionMethod,
    currency: invoice.currency,
    periodStart: invoice.periodStart.toISOString(),
    periodEnd: invoice.periodEnd.toISOString(),
    subtotal: invoice.subtotal,
    discount: invoice.discount,
    tax: invoice.tax,
    total: invoice.total,
    creditApplied: invoice.creditApplied,
    amountDue: invoice.amountDue,
    amountPaid: invoice.amountPaid,
    amountCredited: invoice.amountCredited,
    lines: lines.map((line) => lineView(toDomainLine(line))),
    dueAt: invoice.dueAt?.toISOString() ?? null,
    finalizedAt: invoice.finalizedAt?.toISOString() ?? null,
    paidAt: invoice.paidAt?.toISOString() ?? null,
    voidedAt: invoice.voidedAt?.toISOString() ?? null,
    createdAt: invoice.createdAt.toISOString(),
  };
}

function previewView(proposal: InvoiceProposal, asOf: string | undefined) {
  const previewed = instantOfDay(proposal.targetDate);
  return {
    organizationId: proposal.organizationId,
    status: 'draft' as const,
    asOf: asOf ?? previewed,
    billingDay: previewed,
    currency: proposal.currency,
    periodStart: instantOfDay(proposal.periodStart),
    periodEnd: instantOfDay(proposal.periodEnd),
    subtotal: proposal.subtotal,
    discount: proposal.discount,
    tax: proposal.tax,
    total: proposal.total,
    creditApplied: proposal.creditApplied,
    amountDue: proposal.amountDue,
    lines: proposal.lines.map(lineView),
  };
}

/**
 * The billing day a preview shows: `asOf`'s, or the day of the next invoice the cycle issues with
 * something for `accountId` (or the one subscription): it rates the usage recorded so far.
 */
async function previewDay(c: Context<AppEnv>, accountId: string, asOf: string | undefined, scope: BillingScope = {}) {
  return asOf === undefined ? upcomingBillingDay(c.var.em, accountId, billingDay(c.var.clock.now()), scope) : billingDay(new Date(asOf));
}

async function viewsOf(c: Context<AppEnv>, invoices: Invoice[]) {
  const lines = invoices.length ? await c.var.em.find(InvoiceLine, { invoice: { $in: invoices.map((invoice) => invoice.id) } }, { orderBy: { position: 'asc' } }) : [];
  return invoices.map((invoice) => invoiceView(invoice, lines.filter((line) => line.invoice.id === invoice.id)));
}


/**
 * The cycle answers runNow and then continues as new; a client that polls for the result after
 * that asks the new run, which never saw the update. Asking again is safe: the new run closes the
 * same day and finds the same invoice.
 */
async function runNow(c: Context<AppEnv>, accountId: string) {
  const handle = c.var.temporal.workflow.getHandle<typeof billingCycle>(workflowIds.billing(accountId));
  return sendWorkflowUpdate(c, { workflowId: handle.workflowId, location: `/v1/invoices?organizationId=${accountId}` }, async () => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await handle.executeUpdate(runNowUpdate);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError) || attempt === 3) throw error;
      }
    }
  });
}

export function registerInvoices(app: OpenAPIHono<AppEnv>) {
  app.openapi(listRoute, async (c) => {
    const { organizationId, cursor, limit } = c.req.valid('query');
    await requireOrganization(c, 'invoice.read', organizationId);
    const rows = await c.var.em.find(Invoice, { organization: organizationId, ...afterCursor(cursor) }, { orderBy: pageOrder, limit: limit + 1 });
    const page = toPage(rows, limit, (row) => row);
    return c.json({ data: await viewsOf(c, page.data), nextCursor: page.nextCursor }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const notFound = () => new ApiError(404, 'invoice_not_found', `No invoice ${id}.`);
    const invoice = await c.var.em.findOne(Invoice, { id });
    if (!invoice) throw notFound();
    await requireOwnedObject(c, 'invoice.read', invoice.organization.id, notFound);
    const [view] = await viewsOf(c, [invoice]);
    return c.json(view!, 200);
  });

  app.openapi(runRoute, async (c) => {
    const { id } = c.req.valid('param');
    // A child is invoiced on its billing account (the root of its hierarchy): that account's cycle runs.
    const accountId = (await requireOrganization(c, 'invoice.run', id)).at(-1)!;
    const result = await runNow(c, accountId);
    const invoice = result.invoice ? await c.var.em.findOne(Invoice, { id: result.invoice.invoiceId }) : null;
    const view = { accountId, billingDay: instantOfDay(result.billingDay), invoices: invoice ? await viewsOf(c, [invoice]) : [] };
    audit(c, { action: 'invoice.run', organizationId: accountId, targetType: 'organization', targetId: accountId, before: null, after: view });
    return c.json(view, 200);
  });

  app.openapi(organizationPreviewRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { asOf } = c.req.valid('query');
    await requireOrganization(c, 'invoice.read', id);
    const loaded = await loadBillingAccount(c.var.em, id, await previewDay(c, id, asOf));
    return c.json(previewView(computeInvoice(loaded!.input), asOf), 200);
  });

  app.openapi(subscriptionPreviewRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { asOf } = c.req.valid('query');
    const notFound = () => new ApiError(404, 'subscription_not_found', `No subscription ${id}.`);
    const subscription = await c.var.em.findOne(Subscription, { id });
    if (!subscription) throw notFound();
    await requireOwnedObject(c, 'invoice.read', subscription.organization.id, notFound);
    const accountId = (await ancestryOf(c.var.em, subscription.organization.id))!.at(-1)!;
    const loaded = await loadBillingAccount(c.var.em, accountId, await previewDay(c, accountId, asOf, { subscriptionId: id }), { subscriptionId: id });
    return c.json(previewView(computeInvoice(loaded!.input), asOf), 200);
  });
}
