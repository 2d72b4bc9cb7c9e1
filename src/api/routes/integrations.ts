import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { Department, ErpIntegration, Organization, erpIntegrationStatuses, erpSyncStatuses } from '../../db/entities/index.js';
import { erpIntegrationCounts, erpSyncLog, glMappingsOf, replaceGlMappings, requeueErpDocuments } from '../../db/repositories/erp-sync.js';
import { erpDocumentTypes, erpProviders, glAccountKinds, validateGlMappings, type GlMapping } from '../../domain/index.js';
import { erpConnectors } from '../../integrations/erp/index.js';
import { sealContext } from '../../integrations/erp/runtime.js';
import { createSecretBox, SecretsUnavailableError } from '../../secrets.js';
import { actingUserId } from '../auth/policy.js';
import { requireGlobal, requireOrganization, requireOwnedObject } from '../http/access.js';
import { audit } from '../http/audit.js';
import { zodIssuesToFields } from '../http/errors.js';
import type { AppEnv } from '../http/context.js';
import { afterCursor, pageOrder, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { codeSchema, jsonBody, jsonResponse, uuidParam } from '../http/schemas.js';
import { refuseForbiddenCharacters, textSchema } from '../http/text.js';

const tags = ['ERP integrations'];
const security = [{ bearer: [] }];

const httpUrl = z.url({ protocol: /^https?$/ }).max(2_000).superRefine(refuseForbiddenCharacters());
const SettingsSchema = z
  .strictObject({
    baseUrl: httpUrl.optional().openapi({ description: "The vendor API's base URL (a sandbox); each connector's default is the vendor's production URL. Required for sap." }),
    tokenUrl: httpUrl.optional().openapi({ description: 'The OAuth token endpoint, where the vendor has one.' }),
    requestsPerSecond: z.number().min(0.1).max(1_000).optional().openapi({ description: "Overrides the vendor's published limit (requests are paced at 95 % of it)." }),
    timeoutMs: z.number().int().min(1_000).max(120_000).optional(),
    paymentJournalCode: textSchema({ maxLength: 20 }).optional().openapi({ description: 'dynamics365: the customer payment journal payments are posted through (default CASHRCPT).' }),
    refundJournalCode: textSchema({ maxLength: 20 }).optional().openapi({ description: 'dynamics365: the general journal refunds are posted through (default DEFAULT).' }),
    subsidiaryId: textSchema({ maxLength: 40 }).optional().openapi({ description: 'netsuite: the internal id of the subsidiary new customers belong to (OneWorld accounts need it).' }),
  })
  .openapi('ErpIntegrationSettings');
const CreateSchema = z
  .strictObject({
    provider: z.enum(erpProviders),
    name: textSchema({ maxLength: 200 }),
    organizationId: z.uuid().optional().openapi({ description: "Without it, every organization's documents are synced; with it, that organization's and its children's." }),
    credentials: z
      .record(z.string().max(100).superRefine(refuseForbiddenCharacters()), z.string().max(4_000).superRefine(refuseForbiddenCharacters()))
      .openapi({ description: 'Per provider (see the README); stored encrypted, never returned.' }),
    settings: SettingsSchema.optional(),
    documentTypes: z.array(z.enum(erpDocumentTypes)).min(1).max(5).optional(),
  })
  .openapi('CreateErpIntegration');
const IntegrationSchema = z
  .object({
    id: z.uuid(),
    provider: z.enum(erpProviders),
    name: z.string(),
    organizationId: z.uuid().nullable(),
    status: z.enum(erpIntegrationStatuses),
    documentTypes: z.array(z.enum(erpDocumentTypes)),
    settings: z.record(z.string(), z.unknown()),
    lastSyncAt: z.iso.datetime().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('ErpIntegration');
const MappingSchema = z
  .strictObject({
    kind: z.enum(glAccountKinds),
    planCode: codeSchema.optional(),
    metricCode: codeSchema.optional(),
    departmentId: z.uuid().optional(),
    account: textSchema({ maxLength: 200 }).openapi({ description: "The ERP's account (or, for QuickBooks and NetSuite, item) this kind of amount posts to." }),
  })
  .openapi('GlMapping');
const MappingsSchema = z.strictObject({ mappings: z.array(MappingSchema).max(500) }).openapi('GlMappings');
const SyncSchema = z
  .strictObject({ documentTypes: z.array(z.enum(erpDocumentTypes)).min(1).max(5).optional(), since: z.iso.datetime({ offset: true }).optional() })
  .openapi('ErpSyncRequest');
const StatusSchema = z
  .object({ status: z.enum(erpIntegrationStatuses), synced: z.number().int(), pending: z.number().int(), failed: z.number().int(), lastSyncAt: z.iso.datetime().optional() })
  .openapi('ErpIntegrationStatus');
const LogSchema = z
  .object({
    documentType: z.enum(erpDocumentTypes),
    documentId: z.uuid(),
    externalId: z.string().optional(),
    status: z.enum(erpSyncStatuses),
    attempts: z.number().int(),
    lastError: z.string().optional(),
    at: z.iso.datetime(),
  })
  .openapi('ErpSyncLogEntry');

const params = z.object({ id: uuidParam('id') });
const LogQuerySchema = z.object({
  status: z.enum(erpSyncStatuses).optional(),
  documentType: z.enum(erpDocumentTypes).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

const connectRoute = createRoute({
  method: 'post',
  path: '/v1/integrations',
  tags,
  security,
  summary: 'Connect an ERP: its credentials are stored encrypted and never returned',
  request: { body: jsonBody(CreateSchema) },
  responses: { 201: jsonResponse('Connected', IntegrationSchema), ...problemResponses(400, 401, 403, 404, 422, 503) },
});
const listRoute = createRoute({
  method: 'get',
  path: '/v1/integrations',
  tags,
  security,
  summary: 'List ERP integrations, oldest first',
  request: { query: PageQuerySchema },
  responses: { 200: jsonResponse('A page of integrations', pageSchema(IntegrationSchema, 'ErpIntegrationPage')), ...problemResponses(400, 401, 403) },
});
const getRoute = createRoute({ method: 'get', path: '/v1/integrations/{id}', tags, security, summary: 'Show an ERP integration', request: { params }, responses: { 200: jsonResponse('The integration', IntegrationSchema), ...problemResponses(400, 401, 403, 404) } });
const putMappingsRoute = createRoute({
  method: 'put',
  path: '/v1/integrations/{id}/gl-mappings',
  tags,
  security,
  summary: 'Replace the GL mappings: revenue per plan, metric and department, and one account per other kind',
  request: { params, body: jsonBody(MappingsSchema) },
  responses: { 200: jsonResponse('The mappings', MappingsSchema), ...problemResponses(400, 401, 403, 404, 422) },
});
const getMappingsRoute = createRoute({
  method: 'get',
  path: '/v1/integrations/{id}/gl-mappings',
  tags,
  security,
  summary: 'The GL mappings, in the order given',
  request: { params },
  responses: { 200: jsonResponse('The mappings', MappingsSchema), ...problemResponses(400, 401, 403, 404) },
});
const syncRoute = createRoute({
  method: 'post',
  path: '/v1/integrations/{id}/sync',
  tags,
  security,
  summary: 'Re-sync: queue failed documents again, and documents never queued (from `since`)',
  request: { params, body: jsonBody(SyncSchema) },
  responses: { 202: jsonResponse('Queued', z.object({ queued: z.number().int() })), ...problemResponses(400, 401, 403, 404, 409) },
});
const statusRoute = createRoute({
  method: 'get',
  path: '/v1/integrations/{id}/status',
  tags,
  security,
  summary: 'Documents synced, pending and failed, and the last sync',
  request: { params },
  responses: { 200: jsonResponse('Status', StatusSchema), ...problemResponses(400, 401, 403, 404) },
});
const logsRoute = createRoute({
  method: 'get',
  path: '/v1/integrations/{id}/logs',
  tags,
  security,
  summary: 'The sync log: each document, its status, attempts and last error, most recent first',
  request: { params, query: LogQuerySchema },
  responses: { 200: jsonResponse('Log entries', z.array(LogSchema)), ...problemResponses(400, 401, 403, 404) },
});
const disconnectRoute = createRoute({
  method: 'post',
  path: '/v1/integrations/{id}/disconnect',
  tags,
  security,
  summary: 'Stop pushing: queued documents stay pending, nothing new is queued',
  request: { params },
  responses: { 200: jsonResponse('The integration', IntegrationSchema), ...problemResponses(400, 401, 403, 404) },
});

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

function integrationView(integration: ErpIntegration) {
  return {
    id: integration.id,
    provider: integration.provider,
    name: integration.name,
    organizationId: integration.organization?.id ?? null,
    status: integration.status,
    documentTypes: integration.documentTypes,
    settings: integration.settings,
    lastSyncAt: iso(integration.lastSyncAt),
    lastError: integration.lastError ?? null,
    createdAt: integration.createdAt.toISOString(),
    updatedAt: integration.updatedAt.toISOString(),
  };
}

const mappingView = (mapping: GlMapping) => ({
  kind: mapping.kind,
  ...(mapping.planCode ? { planCode: mapping.planCode } : {}),
  ...(mapping.metricCode ? { metricCode: mapping.metricCode } : {}),
  ...(mapping.departmentId ? { departmentId: mapping.departmentId } : {}),
  account: mapping.account,
});

const integrationNotFound = (id: string) => new ApiError(404, 'integration_not_found', `No ERP integration ${id}.`);

/** Integrations are the operator's: platform roles only, and to anyone else they do not exist. */
async function requireIntegration(c: Context<AppEnv>, action: 'integration.read' | 'integration.write', id: string): Promise<ErpIntegration> {
  await requireOwnedObject(c, action, null, () => integrationNotFound(id));
  const integration = await c.var.em.findOne(ErpIntegration, { id });
  if (!integration) throw integrationNotFound(id);
  return integration;
}

export function registerIntegrations(app: OpenAPIHono<AppEnv>) {
  app.openapi(connectRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, clock, principal, config } = c.var;
    requireGlobal(c, 'integration.write');
    if (body.organizationId !== undefined) await requireOrganization(c, 'integration.write', body.organizationId);
    const parsed = erpConnectors[body.provider].credentialsSchema.safeParse(body.credentials);
    if (!parsed.success) {
      // Field names only: a credential's value is never echoed back.
      const fields = [...new Set(zodIssuesToFields(parsed.error).map(({ field }) => (field === '(body)' ? 'credentials' : field)))];
      throw new ApiError(422, 'invalid_credentials', `${body.provider} credentials are refused: check ${fields.join(', ')} (see the README's ERP sync table for the fields each provider takes).`);
    }
    // The only settings a connector refuses are a missing base URL (SAP runs on the customer's own server).
    const settingsRefusal = erpConnectors[body.provider].validateSettings?.(body.settings ?? {});
    if (settingsRefusal) throw new ApiError(422, 'base_url_required', settingsRefusal);
    const secrets = createSecretBox(config.LEDGERFLOW_SECRET_KEYS);
    const id = crypto.randomUUID();
    let credentials: string;
    try {
      credentials = secrets.encrypt(JSON.stringify(parsed.data), sealContext.credentials(id));
    } catch (error) {
      if (error instanceof SecretsUnavailableError) throw new ApiError(503, 'secrets_unavailable', error.message);
      throw error;
    }
    const now = clock.now();
    const integration = em.create(ErpIntegration, {
      id,
      provider: body.provider,
      name: body.name,
      organization: body.organizationId ? em.getReference(Organization, body.organizationId) : null,
      status: 'connected',
      documentTypes: body.documentTypes ? [...new Set(body.documentTypes)] : [...erpDocumentTypes],
      credentials,
      accessToken: null,
      settings: body.settings ?? {},
      rateNextAt: now,
      lastSyncAt: null,
      lastError: null,
      createdBy: actingUserId(principal),
      createdAt: now,
      updatedAt: now,
    });
    await em.flush();
    const view = integrationView(integration);
    audit(c, { action: 'integration.created', organizationId: body.organizationId ?? null, targetType: 'integration', targetId: id, after: view });
    return c.json(view, 201);
  });

  app.openapi(listRoute, async (c) => {
    requireGlobal(c, 'integration.read');
    const query = c.req.valid('query');
    const rows = await c.var.em.find(ErpIntegration, afterCursor(query.cursor), { orderBy: pageOrder, limit: query.limit + 1 });
    return c.json(toPage(rows, query.limit, integrationView), 200);
  });

  app.openapi(getRoute, async (c) => c.json(integrationView(await requireIntegration(c, 'integration.read', c.req.valid('param').id)), 200));

  app.openapi(putMappingsRoute, async (c) => {
    const integration = await requireIntegration(c, 'integration.write', c.req.valid('param').id);
    const { mappings } = c.req.valid('json');
    validateGlMappings(mappings);
    const departmentIds = [...new Set(mappings.flatMap((mapping) => (mapping.departmentId ? [mapping.departmentId] : [])))];
    if (departmentIds.length > 0) {
      const found = await c.var.em.count(Department, { id: { $in: departmentIds } });
      if (found !== departmentIds.length) throw new ApiError(422, 'department_not_found', 'A mapping names a department that does not exist.');
    }
    const before = (await glMappingsOf(c.var.em, integration.id)).map(mappingView);
    await replaceGlMappings(c.var.em, integration.id, mappings);
    const after = mappings.map(mappingView);
    audit(c, { action: 'integration.gl_mappings_replaced', organizationId: integration.organization?.id ?? null, targetType: 'integration', targetId: integration.id, before: { mappings: before }, after: { mappings: after } });
    return c.json({ mappings: after }, 200);
  });

  app.openapi(getMappingsRoute, async (c) => {
    const integration = await requireIntegration(c, 'integration.read', c.req.valid('param').id);
    return c.json({ mappings: (await glMappingsOf(c.var.em, integration.id)).map(mappingView) }, 200);
  });

  app.openapi(syncRoute, async (c) => {
    const integration = await requireIntegration(c, 'integration.write', c.req.valid('param').id);
    if (integration.status === 'disconnected') throw new ApiError(409, 'integration_disconnected', 'The integration is disconnected: connect a new one to sync again.');
    const body = c.req.valid('json');
    const documentTypes = (body.documentTypes ?? integration.documentTypes).filter((type) => integration.documentTypes.includes(type));
    if (integration.status === 'needs_attention') {
      integration.status = 'connected';
      integration.lastError = null;
      integration.updatedAt = c.var.clock.now();
      await c.var.em.flush();
    }
    const queued = await requeueErpDocuments(c.var.em, integration.id, documentTypes, body.since ? new Date(body.since) : null);
    audit(c, { action: 'integration.sync_requested', organizationId: integration.organization?.id ?? null, targetType: 'integration', targetId: integration.id, after: { documentTypes, since: body.since ?? null, queued } });
    return c.json({ queued }, 202);
  });

  app.openapi(statusRoute, async (c) => {
    const integration = await requireIntegration(c, 'integration.read', c.req.valid('param').id);
    const counts = await erpIntegrationCounts(c.var.em, integration.id);
    return c.json({ status: integration.status, ...counts, ...(integration.lastSyncAt ? { lastSyncAt: integration.lastSyncAt.toISOString() } : {}) }, 200);
  });

  app.openapi(logsRoute, async (c) => {
    const integration = await requireIntegration(c, 'integration.read', c.req.valid('param').id);
    const query = c.req.valid('query');
    const rows = await erpSyncLog(c.var.em, integration.id, query);
    return c.json(
      rows.map((row) => ({
        documentType: row.documentType,
        documentId: row.documentId,
        ...(row.externalId ? { externalId: row.externalId } : {}),
        status: row.status,
        attempts: row.attempts,
        ...(row.lastError ? { lastError: row.lastError } : {}),
        at: row.at,
      })),
      200,
    );
  });

  app.openapi(disconnectRoute, async (c) => {
    const integration = await requireIntegration(c, 'integration.write', c.req.valid('param').id);
    const before = integrationView(integration);
    if (integration.status !== 'disconnected') {
      integration.status = 'disconnected';
      integration.updatedAt = c.var.clock.now();
      await c.var.em.flush();
      audit(c, { action: 'integration.disconnected', organizationId: integration.organization?.id ?? null, targetType: 'integration', targetId: integration.id, before, after: integrationView(integration) });
    }
    return c.json(integrationView(integration), 200);
  });
}
