import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Context } from 'hono';
import { Contract, ContractVersion, Organization, SlaBreach, amendmentStatusValues, contractStatusValues } from '../../db/entities/index.js';
import { amendmentsOf, contractView, contractViewOf, overlappingContract, recordContractEvent, versionsOf } from '../../db/repositories/contracts.js';
import { commitmentPeriods, isBelowSla, contractDay, dateOfDay, validateContractTerms, type ContractTerms } from '../../domain/index.js';
import { uuidFromKey } from '../../ids.js';
import { workflowIds } from '../../temporal/workflow-ids.js';
import { dispatchWebhookEvents } from '../../webhooks/outbox.js';
import type { contractLifecycle } from '../../../workflows/index.js';
import { approvalSearchAttributes } from '../../../workflows/messages/approval.js';
import {
  amendContractUpdate,
  contractSearchAttributes,
  renewContractUpdate,
  terminateContractUpdate,
  type ContractOrigin,
  type ContractWorkflowInput,
} from '../../../workflows/messages/contract.js';
import { actingUserId, type Action } from '../auth/policy.js';
import { requireGlobal, requireOrganization, requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { cursorPosition, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { codeSchema, jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';
import { sendWorkflowUpdate } from '../http/workflow-updates.js';
import { waitsOnWorkflow } from '../middleware/unit-of-work.js';

const tags = ['Contracts'];
const security = [{ bearer: [] }];

const daySchema = z.iso.date().openapi({ description: 'A day, "YYYY-MM-DD" (UTC).', example: '2027-01-01' });
const percentSchema = z.string().regex(/^\d{1,3}(\.\d{1,4})?$/, 'a decimal percent such as "10" or "99.9"');
const minorUnits = z.number().int().min(0).max(1_000_000_000_000);
const PriceOverrideSchema = z.strictObject({ planCode: codeSchema, basePrice: minorUnits.optional(), seatPrice: minorUnits.optional() });
const SlaSchema = z.strictObject({ uptimePercent: percentSchema, creditPercent: percentSchema });
const termFields = {
  discountPercent: percentSchema.optional(),
  committedAmount: minorUnits.optional(),
  commitmentPeriod: z.enum(commitmentPeriods).optional(),
  priceOverrides: z.array(PriceOverrideSchema).max(100).optional(),
  sla: SlaSchema.nullable().optional(),
};

const CreateSchema = z
  .strictObject({
    organizationId: z.uuid(),
    name: textSchema({ maxLength: 200 }),
    startDate: daySchema,
    endDate: daySchema,
    autoRenew: z.boolean().optional(),
    renewalTermMonths: z.number().int().min(1).max(120).optional(),
    renewalUpliftPercent: percentSchema.optional(),
    noticeDays: z.number().int().min(0).max(365).optional(),
    terminationFee: minorUnits.optional(),
    ...termFields,
  })
  .refine((body) => body.endDate > body.startDate, { message: 'endDate must be after startDate.', path: ['endDate'] })
  .openapi('CreateContract');
const AmendSchema = z
  .strictObject({
    changes: z.strictObject(termFields).refine((changes) => Object.values(changes).some((value) => value !== undefined), { message: 'change at least one term.' }),
    effectiveAt: daySchema,
    reason: textSchema({ maxLength: 2000, multiline: true }),
  })
  .openapi('AmendContract');
const RenewSchema = z.strictObject({ termMonths: z.number().int().min(1).max(120).optional() }).openapi('RenewContract');
const TerminateSchema = z
  .strictObject({ at: z.union([z.literal('now'), daySchema]), reason: textSchema({ maxLength: 2000, multiline: true }) })
  .openapi('TerminateContract');
const BreachSchema = z
  .strictObject({ periodStart: daySchema, periodEnd: daySchema, measuredUptimePercent: percentSchema })
  .refine((body) => body.periodEnd > body.periodStart, { message: 'periodEnd must be after periodStart.', path: ['periodEnd'] })
  .openapi('RecordSlaBreach');

const TermsSchema = z.object({
  discountPercent: z.string(),
  committedAmount: z.number().int(),
  commitmentPeriod: z.enum(commitmentPeriods),
  priceOverrides: z.array(z.object({ planCode: z.string(), basePrice: z.number().int().optional(), seatPrice: z.number().int().optional() })),
  sla: z.object({ uptimePercent: z.string(), creditPercent: z.string() }).nullable(),
});
const AmendmentViewSchema = z
  .object({
    id: z.uuid(),
    version: z.number().int().nullable(),
    changes: TermsSchema.partial(),
    effectiveAt: daySchema,
    reason: z.string(),
    status: z.enum(amendmentStatusValues),
    approvalRequestId: z.uuid().nullable(),
  })
  .openapi('ContractAmendment');
const ContractSchema = z
  .object({
    id: z.uuid(),
    organizationId: z.uuid(),
    name: z.string(),
    status: z.enum(contractStatusValues),
    startDate: daySchema,
    endDate: daySchema,
    autoRenew: z.boolean(),
    renewalTermMonths: z.number().int(),
    renewalUpliftPercent: z.string(),
    noticeDays: z.number().int(),
    ...TermsSchema.shape,
    terminationFee: z.number().int(),
    terminatesOn: daySchema.nullable(),
    terminationReason: z.string().nullable(),
    version: z.number().int(),
    versions: z.array(z.object({ version: z.number().int(), effectiveFrom: daySchema, terms: TermsSchema, reason: z.string() })),
    amendments: z.array(AmendmentViewSchema),
    workflowId: z.string(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Contract');
const PendingAmendmentSchema = AmendmentViewSchema.extend({ status: z.literal('pending_approval'), approvalRequestId: z.uuid() }).openapi('ContractAmendmentPendingApproval');
const BreachViewSchema = z
  .object({
    id: z.uuid(),
    contractId: z.uuid(),
    periodStart: daySchema,
    periodEnd: daySchema,
    measuredUptimePercent: z.string(),
    belowSla: z.boolean().openapi({ description: "Below the SLA's uptime: the next invoice credits that period's recurring charges × creditPercent." }),
  })
  .openapi('SlaBreach');

const params = z.object({ id: uuidParam('id') });
const ListQuerySchema = PageQuerySchema.extend({ organizationId: z.uuid().optional(), status: z.enum(contractStatusValues).optional() });

const createContractRoute = createRoute({
  method: 'post',
  path: '/v1/contracts',
  tags,
  security,
  summary: "Create a contract (platform roles): its terms apply to the organization's invoices and previews while its term runs",
  request: { body: jsonBody(CreateSchema) },
  responses: { 201: jsonResponse('Created', ContractSchema), ...problemResponses(400, 401, 403, 404, 409, 422) },
});
const listContractsRoute = createRoute({
  method: 'get',
  path: '/v1/contracts',
  tags,
  security,
  summary: "List contracts, oldest first: an organization's, or (platform roles) every one",
  request: { query: ListQuerySchema },
  responses: { 200: jsonResponse('A page of contracts', pageSchema(ContractSchema, 'ContractPage')), ...problemResponses(400, 401, 403, 404) },
});
const getContractRoute = createRoute({
  method: 'get',
  path: '/v1/contracts/{id}',
  tags,
  security,
  summary: 'Show a contract with its versions and amendments',
  request: { params },
  responses: { 200: jsonResponse('The contract', ContractSchema), ...problemResponses(400, 401, 403, 404) },
});
const amendRoute = createRoute({
  method: 'post',
  path: '/v1/contracts/{id}/amendments',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Amend the terms from a day on (a new version); above a contract_amendment rule it waits for approval',
  request: { params, body: jsonBody(AmendSchema) },
  responses: {
    201: jsonResponse('Applied: a new version', AmendmentViewSchema),
    202: jsonResponse('Waiting for approval; applied when approved', PendingAmendmentSchema),
    ...problemResponses(400, 401, 403, 404, 409, 422, 504),
  },
});
const renewRoute = createRoute({
  method: 'post',
  path: '/v1/contracts/{id}/renew',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Renew now: the next term starts at the current end, with the renewal uplift',
  request: { params, body: jsonBody(RenewSchema) },
  responses: { 200: jsonResponse('The renewed contract', ContractSchema), ...problemResponses(400, 401, 403, 404, 409, 422, 504) },
});
const terminateRoute = createRoute({
  method: 'post',
  path: '/v1/contracts/{id}/terminate',
  tags,
  security,
  middleware: waitsOnWorkflow,
  summary: 'Terminate now or on a day before the end; the termination fee is billed on the next invoice from then',
  request: { params, body: jsonBody(TerminateSchema) },
  responses: { 200: jsonResponse('The contract', ContractSchema), ...problemResponses(400, 401, 403, 404, 409, 422, 504) },
});
const breachRoute = createRoute({
  method: 'post',
  path: '/v1/contracts/{id}/sla-breaches',
  tags,
  security,
  summary: "Record a period's measured uptime; below the SLA, the next invoice credits that period's recurring charges × creditPercent (once per period)",
  request: { params, body: jsonBody(BreachSchema) },
  responses: { 201: jsonResponse('Recorded', BreachViewSchema), ...problemResponses(400, 401, 403, 404, 409, 422) },
});

type Em = AppEnv['Variables']['em'];
const contractNotFound = (id: string) => new ApiError(404, 'contract_not_found', `No contract ${id}.`);

async function requireContract(c: Context<AppEnv>, action: Action, id: string): Promise<Contract> {
  const contract = await c.var.em.findOne(Contract, { id }, { refresh: true });
  // Missing and not visible answer alike, so ids reveal nothing across tenants.
  if (!contract) throw contractNotFound(id);
  await requireOwnedObject(c, action, contract.organization.id, () => contractNotFound(id));
  return contract;
}

const originOf = (c: Context<AppEnv>): ContractOrigin => ({ actorType: c.var.principal.kind, actorId: c.var.principal.id, requestId: c.var.requestId });

function updateIdOf(c: Context<AppEnv>, kind: string, contractId: string): string {
  const key = c.req.header('idempotency-key');
  return key === undefined ? crypto.randomUUID() : uuidFromKey(`contract-${kind}\n${c.var.principal.id}\n${key}\n${contractId}`);
}

/** Sends an update to `contract:<id>`; a workflow that has ended leaves a contract that has ended. */
async function updateContract<T>(c: Context<AppEnv>, contract: Contract, updateId: string, send: (handle: ReturnType<typeof handleOf>) => Promise<T>): Promise<T> {
  try {
    return await sendWorkflowUpdate(c, { workflowId: workflowIds.contract(contract.id), location: `/v1/contracts/${contract.id}`, updateId }, () => send(handleOf(c, contract.id)));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new ApiError(409, 'contract_ended', `Contract ${contract.id} is ${contract.status}.`);
    throw error;
  }
}
const handleOf = (c: Context<AppEnv>, id: string) => c.var.temporal.workflow.getHandle<typeof contractLifecycle>(workflowIds.contract(id));

const freshView = async (em: Em, id: string) => contractViewOf(em, await em.findOneOrFail(Contract, { id }, { refresh: true }));

export function registerContracts(app: OpenAPIHono<AppEnv>) {
  app.openapi(createContractRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, clock, temporal, config, principal } = c.var;
    await requireOrganization(c, 'contract.write', body.organizationId);
    const terms: ContractTerms = {
      discountPercent: body.discountPercent ?? '0',
      committedAmount: body.committedAmount ?? 0,
      commitmentPeriod: body.commitmentPeriod ?? 'month',
      priceOverrides: body.priceOverrides ?? [],
      sla: body.sla ?? null,
    };
    validateContractTerms(terms);
    const overlapping = await overlappingContract(em, body.organizationId, body.startDate, body.endDate, null);
    if (overlapping) throw new ApiError(409, 'contract_overlaps', `The organization's contract ${overlapping} covers part of ${body.startDate} to ${body.endDate}: one contract at a time.`, undefined, undefined, { contractId: overlapping });
    const now = clock.now();
    const contract = em.create(Contract, {
      id: crypto.randomUUID(),
      organization: em.getReference(Organization, body.organizationId),
      name: body.name,
      status: body.startDate <= contractDay(now.getTime()) ? 'active' : 'draft',
      startDate: dateOfDay(body.startDate),
      endDate: dateOfDay(body.endDate),
      autoRenew: body.autoRenew ?? true,
      renewalTermMonths: body.renewalTermMonths ?? 12,
      renewalUpliftPercent: body.renewalUpliftPercent ?? '0',
      noticeDays: body.noticeDays ?? 30,
      terminationFee: body.terminationFee ?? 0,
      terminatesOn: null,
      terminationReason: null,
      noticeSentFor: null,
      version: 1,
      createdBy: actingUserId(principal),
      createdAt: now,
      updatedAt: now,
    });
    em.create(ContractVersion, { contract, version: 1, effectiveFrom: contract.startDate, terms, reason: 'created', createdAt: now });
    await em.flush();
    const eventIds = contract.status === 'active' ? [await recordContractEvent(em, contract, 'contract.activated')] : [];
    const view = await contractViewOf(em, contract);
    audit(c, { action: 'contract.created', organizationId: body.organizationId, targetType: 'contract', targetId: contract.id, after: view });
    // Started before the commit, so a committed contract always has its workflow (which waits for the row).
    const args: [ContractWorkflowInput] = [{ contractId: contract.id }];
    await temporal.workflow.start('contractLifecycle', {
      workflowId: workflowIds.contract(contract.id),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args,
      typedSearchAttributes: [
        { key: approvalSearchAttributes.organizationId, value: body.organizationId },
        { key: contractSearchAttributes.status, value: contract.status },
        { key: contractSearchAttributes.endDate, value: body.endDate },
      ],
    });
    c.var.afterCommit(() => dispatchWebhookEvents({ temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, orm: c.var.orm, logger: c.var.logger }, eventIds));
    return c.json(view, 201);
  });

  app.openapi(listContractsRoute, async (c) => {
    const query = c.req.valid('query');
    const { em } = c.var;
    if (query.organizationId !== undefined) await requireOrganization(c, 'contract.read', query.organizationId);
    else requireGlobal(c, 'contract.read');
    const after = cursorPosition(query.cursor);
    const rows = await em.find(
      Contract,
      {
        ...(query.organizationId ? { organization: query.organizationId } : {}),
        ...(query.status ? { status: query.status } : {}),
        ...(after ? { $or: [{ createdAt: { $gt: after.at } }, { createdAt: after.at, id: { $gt: after.id } }] } : {}),
      },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: query.limit + 1 },
    );
    const ids = rows.map((row) => row.id);
    const [versions, amendments] = [await versionsOf(em, ids), await amendmentsOf(em, ids)];
    return c.json(toPage(rows, query.limit, (row) => contractView(row, versions, amendments)), 200);
  });

  app.openapi(getContractRoute, async (c) => {
    const contract = await requireContract(c, 'contract.read', c.req.valid('param').id);
    return c.json(await contractViewOf(c.var.em, contract), 200);
  });

  app.openapi(amendRoute, async (c) => {
    const { id } = c.req.valid('param');
    const contract = await requireContract(c, 'contract.write', id);
    const body = c.req.valid('json');
    const updateId = updateIdOf(c, 'amend', id);
    const changes = Object.fromEntries(Object.entries(body.changes).filter(([, value]) => value !== undefined)) as Partial<ContractTerms>;
    const request = { amendmentId: updateId, changes, effectiveAt: body.effectiveAt, reason: body.reason, requestedBy: actingUserId(c.var.principal), origin: originOf(c) };
    const outcome = await updateContract(c, contract, updateId, (handle) => handle.executeUpdate(amendContractUpdate, { args: [request], updateId }));
    const view = (await freshView(c.var.em, id)).amendments.find((amendment) => amendment.id === outcome.amendmentId);
    if (!view) throw new Error(`amendment ${outcome.amendmentId} of contract ${id} not found after it was planned`);
    if (view.status === 'pending_approval' && view.approvalRequestId !== null) return c.json({ ...view, status: 'pending_approval' as const, approvalRequestId: view.approvalRequestId }, 202);
    return c.json(view, 201);
  });

  app.openapi(renewRoute, async (c) => {
    const { id } = c.req.valid('param');
    const contract = await requireContract(c, 'contract.write', id);
    const updateId = updateIdOf(c, 'renew', id);
    await updateContract(c, contract, updateId, (handle) => handle.executeUpdate(renewContractUpdate, { args: [{ termMonths: c.req.valid('json').termMonths ?? null, origin: originOf(c) }], updateId }));
    return c.json(await freshView(c.var.em, id), 200);
  });

  app.openapi(terminateRoute, async (c) => {
    const { id } = c.req.valid('param');
    const contract = await requireContract(c, 'contract.write', id);
    const body = c.req.valid('json');
    const on = body.at === 'now' ? contractDay(c.var.clock.now().getTime()) : body.at;
    const updateId = updateIdOf(c, 'terminate', id);
    await updateContract(c, contract, updateId, (handle) => handle.executeUpdate(terminateContractUpdate, { args: [{ on, reason: body.reason, origin: originOf(c) }], updateId }));
    return c.json(await freshView(c.var.em, id), 200);
  });

  app.openapi(breachRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { em, clock, principal } = c.var;
    const contract = await requireContract(c, 'contract.write', id);
    const body = c.req.valid('json');
    const start = body.periodStart;
    const end = body.periodEnd;
    const versions = await versionsOf(em, [id]);
    const version = versions.filter((candidate) => candidate.effectiveFrom.getTime() <= dateOfDay(start).getTime()).at(-1);
    if (!version || dateOfDay(start) < contract.startDate || dateOfDay(start) >= (contract.terminatesOn ?? contract.endDate)) {
      throw new ApiError(422, 'breach_out_of_term', `${start} is outside the contract's term.`);
    }
    const sla = version.terms.sla;
    if (!sla) throw new ApiError(422, 'contract_has_no_sla', `Contract ${id} has no SLA in effect on ${start}.`);
    const breach = em.create(SlaBreach, { id: crypto.randomUUID(), contract, periodStart: dateOfDay(start), periodEnd: dateOfDay(end), measuredUptimePercent: body.measuredUptimePercent, recordedBy: actingUserId(principal), createdAt: clock.now() });
    try {
      await em.flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw new ApiError(409, 'sla_breach_recorded', `A breach for the period from ${start} is already recorded: each period is credited once.`);
      throw error;
    }
    const view = { id: breach.id, contractId: id, periodStart: start, periodEnd: end, measuredUptimePercent: body.measuredUptimePercent, belowSla: isBelowSla(body.measuredUptimePercent, sla) };
    audit(c, { action: 'contract.sla_breach_recorded', organizationId: contract.organization.id, targetType: 'contract', targetId: id, after: view });
    return c.json(view, 201);
  });
}
