import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApprovalRule, Organization, approvalSubjectTypeValues } from '../../db/entities/index.js';
import { MAX_APPROVAL_LEVELS, MAX_LEVEL_TIMEOUT_HOURS, MAX_NAMED_APPROVERS, approverRoles, timeoutActions, validateApprovalLevels, type ApprovalLevelSpec } from '../../domain/index.js';
import { requireGlobal, requireOwnedObject, requireOrganization } from '../http/access.js';
import { audit } from '../http/audit.js';
import type { AppEnv } from '../http/context.js';
import { afterCursor, pageOrder, PageQuerySchema, pageSchema, toPage } from '../http/pagination.js';
import { ApiError, problemResponses } from '../http/problem.js';
import { jsonBody, jsonResponse, patchBody, uuidParam } from '../http/schemas.js';
import { textSchema } from '../http/text.js';

const tags = ['Approvals'];
const security = [{ bearer: [] }];

const LevelSchema = z
  .strictObject({
    role: z.enum(approverRoles).openapi({ description: 'Who decides: an organization role (a stronger one of its kind also may) or a platform role.' }),
    approvers: z.array(textSchema({ maxLength: 200 })).max(MAX_NAMED_APPROVERS).optional().openapi({ description: 'Only these users decide (each must still hold `role`).' }),
    quorum: z.number().int().min(1).max(MAX_NAMED_APPROVERS).default(1).openapi({ description: 'Approvals the level needs; all named approvers: their count.' }),
    timeoutHours: z.number().positive().max(MAX_LEVEL_TIMEOUT_HOURS).optional(),
    onTimeout: z.enum(timeoutActions).optional().openapi({ description: 'escalate: to the next level (after the last, to platform_admin); reject: the request expires; approve: the level counts as approved.' }),
  })
  .openapi('ApprovalLevel');

const levelsSchema = z.array(LevelSchema).min(1).max(MAX_APPROVAL_LEVELS);
const minAmountSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).openapi({ description: 'Minor units: the rule holds for amounts at least this.' });
const currencySchema = z.string().regex(/^[A-Z]{3}$/).openapi({ example: 'USD' });

const CreateRuleSchema = z
  .strictObject({
    name: textSchema({ maxLength: 200 }),
    subjectType: z.enum(approvalSubjectTypeValues),
    organizationId: z.uuid().optional().openapi({ description: 'Holds in this organization and its children; absent: everywhere.' }),
    minAmount: minAmountSchema.default(0),
    currency: currencySchema.optional(),
    levels: levelsSchema,
  })
  .openapi('CreateApprovalRule');

const UpdateRuleSchema = z
  .strictObject({ name: textSchema({ maxLength: 200 }), minAmount: minAmountSchema, currency: currencySchema.nullable(), levels: levelsSchema })
  .partial()
  .openapi('UpdateApprovalRule');

const RuleSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    subjectType: z.enum(approvalSubjectTypeValues),
    organizationId: z.uuid().nullable(),
    minAmount: z.number().int(),
    currency: z.string().nullable(),
    levels: z.array(z.object({ role: z.enum(approverRoles), approvers: z.array(z.string()), quorum: z.number().int(), timeoutHours: z.number().nullable(), onTimeout: z.enum(timeoutActions).nullable() })),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('ApprovalRule');

const params = z.object({ id: uuidParam('id') });
const ListQuerySchema = PageQuerySchema.extend({ subjectType: z.enum(approvalSubjectTypeValues).optional(), organizationId: z.uuid().optional() });

const createRuleRoute = createRoute({
  method: 'post',
  path: '/v1/approval-rules',
  tags,
  security,
  summary: 'Create an approval rule: which actions wait for whom. Requests already open keep the levels they started with.',
  request: { body: jsonBody(CreateRuleSchema) },
  responses: { 201: jsonResponse('Created', RuleSchema), ...problemResponses(400, 401, 403, 404, 422) },
});
const listRulesRoute = createRoute({
  method: 'get',
  path: '/v1/approval-rules',
  tags,
  security,
  summary: 'List approval rules, oldest first (platform roles: all; an OWNER: those scoped to the organization named)',
  request: { query: ListQuerySchema },
  responses: { 200: jsonResponse('A page of rules', pageSchema(RuleSchema, 'ApprovalRulePage')), ...problemResponses(400, 401, 403, 404) },
});
const getRuleRoute = createRoute({
  method: 'get',
  path: '/v1/approval-rules/{id}',
  tags,
  security,
  summary: 'Show an approval rule',
  request: { params },
  responses: { 200: jsonResponse('The rule', RuleSchema), ...problemResponses(400, 401, 403, 404) },
});
const updateRuleRoute = createRoute({
  method: 'patch',
  path: '/v1/approval-rules/{id}',
  tags,
  security,
  summary: 'Change an approval rule; requests already open keep their snapshot',
  request: { params, body: patchBody(UpdateRuleSchema) },
  responses: { 200: jsonResponse('The rule', RuleSchema), ...problemResponses(400, 401, 403, 404, 422) },
});

type LevelInput = z.infer<typeof LevelSchema>;
const toLevelSpec = (level: LevelInput): ApprovalLevelSpec => ({
  role: level.role,
  approvers: level.approvers ?? [],
  quorum: level.quorum,
  timeoutHours: level.timeoutHours ?? null,
  onTimeout: level.onTimeout ?? null,
});

export const ruleView = (rule: ApprovalRule) => ({
  id: rule.id,
  name: rule.name,
  subjectType: rule.subjectType,
  organizationId: rule.organization?.id ?? null,
  minAmount: rule.minAmount,
  currency: rule.currency ?? null,
  levels: rule.levels,
  createdAt: rule.createdAt.toISOString(),
  updatedAt: rule.updatedAt.toISOString(),
});

const ruleNotFound = (id: string) => new ApiError(404, 'approval_rule_not_found', `No approval rule ${id}.`);

async function requireRule(c: Context<AppEnv>, id: string, action: 'approvalRule.read' | 'approvalRule.write'): Promise<ApprovalRule> {
  const rule = await c.var.em.findOne(ApprovalRule, { id });
  if (!rule) {
    // Unknown to everyone alike: a missing rule and one the caller cannot see answer the same.
    throw ruleNotFound(id);
  }
  await requireOwnedObject(c, action, rule.organization?.id ?? null, () => ruleNotFound(id));
  return rule;
}

export function registerApprovalRules(app: OpenAPIHono<AppEnv>) {
  app.openapi(createRuleRoute, async (c) => {
    const body = c.req.valid('json');
    const { em, principal } = c.var;
    if (body.organizationId === undefined) requireGlobal(c, 'approvalRule.write');
    else await requireOrganization(c, 'approvalRule.write', body.organizationId);
    const levels = body.levels.map(toLevelSpec);
    validateApprovalLevels(levels);
    const now = c.var.clock.now();
    const rule = em.create(ApprovalRule, {
      id: crypto.randomUUID(),
      name: body.name,
      subjectType: body.subjectType,
      organization: body.organizationId === undefined ? null : em.getReference(Organization, body.organizationId),
      minAmount: body.minAmount,
      currency: body.currency ?? null,
      levels,
      createdBy: principal.id,
      createdAt: now,
      updatedAt: now,
    });
    const view = ruleView(rule);
    audit(c, { action: 'approval_rule.created', organizationId: body.organizationId ?? null, targetType: 'approval_rule', targetId: rule.id, after: view });
    return c.json(view, 201);
  });

  app.openapi(listRulesRoute, async (c) => {
    const query = c.req.valid('query');
    if (query.organizationId === undefined) requireGlobal(c, 'approvalRule.read');
    else await requireOrganization(c, 'approvalRule.read', query.organizationId);
    const rows = await c.var.em.find(
      ApprovalRule,
      { ...(query.subjectType ? { subjectType: query.subjectType } : {}), ...(query.organizationId ? { organization: query.organizationId } : {}), ...afterCursor(query.cursor) },
      { orderBy: pageOrder, limit: query.limit + 1 },
    );
    return c.json(toPage(rows, query.limit, ruleView), 200);
  });

  app.openapi(getRuleRoute, async (c) => {
    const rule = await requireRule(c, c.req.valid('param').id, 'approvalRule.read');
    return c.json(ruleView(rule), 200);
  });

  app.openapi(updateRuleRoute, async (c) => {
    const body = c.req.valid('json');
    const rule = await requireRule(c, c.req.valid('param').id, 'approvalRule.write');
    const before = ruleView(rule);
    if (body.levels !== undefined) {
      const levels = body.levels.map(toLevelSpec);
      validateApprovalLevels(levels);
      rule.levels = levels;
    }
    if (body.name !== undefined) rule.name = body.name;
    if (body.minAmount !== undefined) rule.minAmount = body.minAmount;
    if (body.currency !== undefined) rule.currency = body.currency;
    rule.updatedAt = c.var.clock.now();
    const view = ruleView(rule);
    audit(c, { action: 'approval_rule.updated', organizationId: rule.organization?.id ?? null, targetType: 'approval_rule', targetId: rule.id, before, after: view });
    return c.json(view, 200);
  });
}
