import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { startTestStack, type TestStack } from '../support/stack.js';
import { documentedOperations, fetchOpenApi, responseSchema, shapeErrors, type OpenApiDocument } from './support/openapi.js';
import { expectProblem } from './support/problems.js';
import { buildRequest, platformObjects, routesOutsideTable, routeTable, send, type RouteCase, type RouteContext } from './support/route-table.js';
import { bearer, bootstrapAuthorization, createApiKey, createCatalog, createTenant, mutableState, rowCounts } from './support/world.js';

let stack: TestStack;
let doc: OpenApiDocument;
let ctx: RouteContext;

beforeAll(async () => {
  stack = await startTestStack();
  doc = await fetchOpenApi(stack);
  const catalog = await createCatalog(stack);
  const readKey = await createApiKey(stack, { scopes: ['read'], platformRole: 'platform_admin' });
  ctx = {
    stack,
    catalog,
    target: await createTenant(stack, catalog, { label: 'acme' }),
    platform: await platformObjects(stack, bearer(readKey.key)),
  };
});
afterAll(async () => {
  await stack.stop();
});

/** Everything a refused request could have written. */
async function snapshot() {
  return { counts: await rowCounts(stack), state: await mutableState(stack) };
}

const operation = (route: RouteCase) => `${route.method} ${route.path}`;

describe('the route table', () => {
  it('covers every /v1 operation the OpenAPI document describes (but those set apart with a reason), and nothing it does not', () => {
    const documented = documentedOperations(doc).filter((name) => name.includes(' /v1/')).sort();
    const tabled = [...new Set([...routeTable.map(operation), ...Object.keys(routesOutsideTable)])].sort();
    expect(tabled).toEqual(documented);
  });

  it('names each variant once', () => {
    const names = routeTable.map((route) => route.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe.each(routeTable.map((route) => [route.name, route] as const))('%s', (_, route) => {
  it(`documents its success and the problems 400, 401, 403${route.notFound ? ' and 404' : ''}`, () => {
    const responses = Object.keys(doc.paths[route.path]?.[route.method.toLowerCase()]?.responses ?? {});
    const expected = [String(route.successStatus), '400', '401', '403', ...(route.notFound ? ['404'] : [])];
    expect(responses).toEqual(expect.arrayContaining(expected));
  });

  it(`succeeds with ${route.successStatus} and the documented shape${route.creates ? `, adding one ${route.creates} row and one audit row` : ''}`, async () => {
    const request = await buildRequest(route, ctx);
    const before = await rowCounts(stack);
    const response = await send(stack, request, bootstrapAuthorization);
    const text = await response.text();
    expect({ status: response.status, text }).toEqual({ status: route.successStatus, text: expect.any(String) });
    expect(response.headers.get('content-type')).toContain('application/json');
    const documented = responseSchema(doc, route.method, route.path, route.successStatus);
    expect(documented?.contentType).toBe('application/json');
    expect(shapeErrors(doc, documented!.schema, JSON.parse(text))).toEqual([]);
    const after = await rowCounts(stack);
    if (route.creates) expect(after[route.creates]).toBe(before[route.creates]! + 1);
    const mutation = route.method !== 'GET' && !route.readOnly && !route.auditExempt;
    expect(after.audit_events).toBe(before.audit_events! + (mutation ? 1 : 0));
  });

  it(`refuses an invalid request with a 400 problem naming "${route.invalid.field}", and writes nothing`, async () => {
    const request = await buildRequest(route, ctx, route.invalid);
    const before = await snapshot();
    const problem = await expectProblem(await send(stack, request, bootstrapAuthorization), 400, 'validation_failed', doc);
    expect(problem.errors?.map((error) => error.field)).toContain(route.invalid.field);
    expect(await snapshot()).toEqual(before);
  });

  if (route.notFound) {
    const notFound = route.notFound;
    it(`answers 404 ${notFound.code} for an unknown id or code, and writes nothing`, async () => {
      const request = await buildRequest(route, ctx, notFound);
      const before = await snapshot();
      await expectProblem(await send(stack, request, bootstrapAuthorization), 404, notFound.code, doc);
      expect(await snapshot()).toEqual(before);
    });
  }

  it('answers 401 without credentials, with a bogus key, and with a JWT signed by someone else; writes nothing', async () => {
    const request = await buildRequest(route, ctx);
    const before = await snapshot();
    const anonymous = await send(stack, request, undefined);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    await expectProblem(anonymous, 401, 'unauthenticated', doc);
    await expectProblem(await send(stack, request, 'Bearer lf_sk_bogusbogusbogusbogusbogusbogusbogusbogus1'), 401, 'invalid_credentials', doc);
    const forged = await new SignJWT({ platform_role: 'platform_admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(ctx.target.people.OWNER.userId)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret-not-the-secret-not-the-secret'));
    await expectProblem(await send(stack, request, bearer(forged)), 401, 'invalid_credentials', doc);
    expect(await snapshot()).toEqual(before);
  });

  it('answers 403 to a caller who can see the target but lacks the role or scope, and writes nothing', async () => {
    const request = await buildRequest(route, ctx);
    const before = await snapshot();
    await expectProblem(await send(stack, request, route.forbidden(ctx)), 403, 'forbidden', doc);
    expect(await snapshot()).toEqual(before);
  });
});

describe('routes outside the table', () => {
  it('answers an unknown /v1 route with a 404 problem', async () => {
    await expectProblem(await stack.request('GET', '/v1/nothing-here'), 404, 'route_not_found', doc);
  });

  it('serves the OpenAPI 3.1 document and the interactive reference without credentials', async () => {
    expect(((await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as { openapi: string }).openapi).toBe('3.1.0');
    const docs = await fetch(`${stack.baseUrl}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toContain('text/html');
  });
});
