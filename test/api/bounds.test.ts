import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  MAX_PACKAGE_SIZE,
  MAX_PRICE_MINOR,
  MAX_SEATS,
  MAX_USAGE_EVENT_QUANTITY,
  MAX_USAGE_PERIOD_QUANTITY,
} from '../../src/domain/index.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { fetchOpenApi, type JsonSchema, type OpenApiDocument } from './support/openapi.js';
import { expectProblem } from './support/problems.js';
import { createCustomer, createMetric, perUnit, sendBatch, storedUsage } from './support/usage.js';
import { call, unique } from './support/world.js';

let stack: TestStack;
let doc: OpenApiDocument;
let applicationSlug: string;
let metricCode: string;

beforeAll(async () => {
  stack = await startTestStack();
  doc = await fetchOpenApi(stack);
  applicationSlug = unique('app');
  await call(stack, 'POST', '/v1/applications', { body: { slug: applicationSlug, name: 'Bounded' } });
  metricCode = await createMetric(stack, 'sum');
});
afterAll(async () => {
  await stack.stop();
});

/** A property of a component schema, following `$ref`s, `anyOf` branches and array items along `path`. */
function schemaAt(schema: JsonSchema, path: string[]): JsonSchema {
  const resolved = schema.$ref ? doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')]! : schema;
  if (path.length === 0) return resolved;
  const [step, ...rest] = path as [string, ...string[]];
  if (step === '[]') return schemaAt(resolved.items!, rest);
  if (/^\d+$/.test(step)) return schemaAt((resolved.anyOf ?? resolved.oneOf)![Number(step)]!, rest);
  return schemaAt(resolved.properties![step]!, rest);
}

const component = (name: string, ...path: string[]) => schemaAt({ $ref: `#/components/schemas/${name}` }, path) as JsonSchema & { maximum?: number; pattern?: string };
/** The non-null branch of a nullable property. */
const nonNull = (schema: JsonSchema) => (schema.anyOf ?? schema.oneOf ?? [schema]).find((branch) => branch.type !== 'null')! as JsonSchema & { maximum?: number };

const plan = (terms: Record<string, unknown> = {}, charge: Record<string, unknown> = {}) => ({
  code: unique('plan'),
  name: 'Bounded',
  applicationSlug,
  currency: 'USD',
  interval: 'month',
  charges: [{ metricCode, model: 'per_unit', unitPrice: '0.05', ...charge }],
  ...terms,
});

describe('what can overflow is bounded at the door', () => {
  it('says the bounds in the OpenAPI document', () => {
    expect(component('CreatePlan', 'basePrice').maximum).toBe(MAX_PRICE_MINOR);
    expect(component('CreatePlan', 'seatPrice').maximum).toBe(MAX_PRICE_MINOR);
    expect(component('CreatePlan', 'includedSeats').maximum).toBe(MAX_SEATS);
    expect(component('PlanCharge', 'packageSize').maximum).toBe(MAX_PACKAGE_SIZE);
    expect(component('PlanCharge', 'included').maximum).toBe(MAX_USAGE_PERIOD_QUANTITY);
    expect(component('PlanCharge', 'hardLimit').maximum).toBe(MAX_USAGE_PERIOD_QUANTITY);
    expect(component('PlanCharge', 'unitPrice').pattern).toBe('^\\d{1,6}(\\.\\d{1,12})?$');
    expect(component('PlanCharge', 'tiers', '[]', 'flatFee').maximum).toBe(MAX_PRICE_MINOR);
    expect(nonNull(component('PlanCharge', 'tiers', '[]', 'upTo')).maximum).toBe(MAX_USAGE_PERIOD_QUANTITY);
    expect(component('CreateSubscription', 'seats').maximum).toBe(MAX_SEATS);
    expect(component('ChangeSeats', 'seats').maximum).toBe(MAX_SEATS);
    expect(component('UsageEvent', 'quantity', '0').maximum).toBe(MAX_USAGE_EVENT_QUANTITY);
  });

  it.each([
    ['basePrice', plan({ basePrice: MAX_PRICE_MINOR + 1 })],
    ['seatPrice', plan({ seatPrice: Number.MAX_SAFE_INTEGER })],
    ['includedSeats', plan({ includedSeats: MAX_SEATS + 1 })],
    ['charges.0.unitPrice', plan({}, { unitPrice: '1000000' })],
    ['charges.0.fixedFee', plan({}, { model: 'percentage', unitPrice: undefined, rate: '2.5', fixedFee: '1000000.5' })],
    ['charges.0.rate', plan({}, { model: 'percentage', unitPrice: undefined, rate: '100.01' })],
    ['charges.0.packageSize', plan({}, { model: 'package', packageSize: MAX_PACKAGE_SIZE + 1 })],
    ['charges.0.included', plan({}, { included: MAX_USAGE_PERIOD_QUANTITY + 1 })],
    ['charges.0.hardLimit', plan({}, { hardLimit: MAX_USAGE_PERIOD_QUANTITY + 1 })],
    ['charges.0.tiers.0.upTo', plan({}, { model: 'graduated', unitPrice: undefined, tiers: [{ upTo: MAX_USAGE_PERIOD_QUANTITY + 1, unitPrice: '0.01' }, { upTo: null, unitPrice: '0' }] })],
    ['charges.0.tiers.0.flatFee', plan({}, { model: 'volume', unitPrice: undefined, tiers: [{ upTo: null, unitPrice: '0.01', flatFee: MAX_PRICE_MINOR + 1 }] })],
  ])('refuses a plan with %s past its bound (400 naming it), and creates nothing', async (field, body) => {
    const problem = await expectProblem(await stack.request('POST', '/v1/plans', { body }), 400, 'validation_failed', doc);
    expect(problem.errors?.map((error) => error.field)).toContain(field);
    expect(await stack.sql('select id from plans where code = $1', [body.code])).toEqual([]);
  });

  it('accepts a plan at every bound', async () => {
    const body = plan({ basePrice: MAX_PRICE_MINOR, seatPrice: MAX_PRICE_MINOR, includedSeats: MAX_SEATS }, { unitPrice: '999999.999999999999', included: MAX_USAGE_PERIOD_QUANTITY, hardLimit: MAX_USAGE_PERIOD_QUANTITY });
    await call(stack, 'POST', '/v1/plans', { body });
  });

  it('refuses a subscription with more seats than the bound', async () => {
    const body = plan();
    await call(stack, 'POST', '/v1/plans', { body });
    const organization = await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('seats'), currency: 'USD' } });
    const problem = await expectProblem(
      await stack.request('POST', '/v1/subscriptions', { body: { organizationId: organization.id, planCode: body.code, seats: MAX_SEATS + 1 } }),
      400,
      'validation_failed',
    );
    expect(problem.errors?.map((error) => error.field)).toContain('seats');
  });
});

describe('usage past its bounds is refused and recorded nowhere', () => {
  it.each([
    ['a number', MAX_USAGE_EVENT_QUANTITY + 1],
    ['a decimal string', `${MAX_USAGE_EVENT_QUANTITY}.000000000001`],
  ])('refuses an event whose quantity is over the per-event bound as %s (400)', async (_, quantity) => {
    const customer = await createCustomer(stack, [perUnit(metricCode)]);
    const event = { eventId: unique('evt'), metricCode, organizationId: customer.organizationId, quantity };
    const single = await expectProblem(await stack.request('POST', '/v1/usage', { body: event }), 400, 'validation_failed');
    expect(single.errors?.map((error) => error.field)).toContain('quantity');
    const batch = await expectProblem(await stack.request('POST', '/v1/usage/batch', { body: { events: [event] } }), 400, 'validation_failed');
    expect(batch.errors?.map((error) => error.field)).toContain('events.0.quantity');
    expect((await storedUsage(stack, customer.organizationId)).keys).toBe('0');
  });

  it('refuses a property value over the per-event bound (422 naming the property)', async () => {
    const bytes = await createMetric(stack, 'sum', 'bytes');
    const customer = await createCustomer(stack, [perUnit(bytes)]);
    const event = { eventId: unique('evt'), metricCode: bytes, organizationId: customer.organizationId, properties: { bytes: MAX_USAGE_EVENT_QUANTITY + 1 } };
    const problem = await expectProblem(await stack.request('POST', '/v1/usage', { body: event }), 422, 'usage_value_invalid');
    expect(problem.errors?.map((error) => error.field)).toEqual(['properties.bytes']);
    expect((await storedUsage(stack, customer.organizationId)).keys).toBe('0');
  });

  it('records a period up to its bound, and refuses every event past it — single, batch, and batch in a transaction — recording nothing', async () => {
    const customer = await createCustomer(stack, [perUnit(metricCode)]);
    const event = (quantity: number) => ({ eventId: unique('evt'), metricCode, organizationId: customer.organizationId, quantity });
    const fill = Array.from({ length: MAX_USAGE_PERIOD_QUANTITY / MAX_USAGE_EVENT_QUANTITY }, () => event(MAX_USAGE_EVENT_QUANTITY));
    expect(await sendBatch(stack, fill)).toEqual({ accepted: fill.length, duplicates: 0 });
    const full = await storedUsage(stack, customer.organizationId);

    const attempts = [
      stack.request('POST', '/v1/usage', { body: event(1) }),
      stack.request('POST', '/v1/usage/batch', { body: { events: [event(0), event(1)] } }),
      stack.request('POST', '/v1/usage/batch', { body: { events: [event(1)] }, headers: { 'idempotency-key': unique('key') } }),
    ];
    for (const response of await Promise.all(attempts)) {
      const problem = await expectProblem(response, 422, 'usage_period_total_out_of_range', doc);
      expect(problem.details).toEqual({ limit: MAX_USAGE_PERIOD_QUANTITY });
    }
    expect(await storedUsage(stack, customer.organizationId)).toEqual(full);
    // A quantity of 0 still fits: the bound is the total's, not the event's.
    await call(stack, 'POST', '/v1/usage', { body: event(0), expect: 202 });
  });
});
