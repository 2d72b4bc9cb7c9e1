import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { startTestStack, type TestStack } from '../support/stack.js';
import { documentedOperations, fetchOpenApi, requestBodySchema, responseSchema, shapeErrors, stringFieldPaths, type OpenApiDocument } from './support/openapi.js';
import { expectProblem } from './support/problems.js';
import { buildRequest, missingId, platformObjects, routesOutsideTable, routeTable, send, type RouteCase, type RouteContext } from './support/route-table.js';
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

/** Characters no field may hold: NUL and a lone surrogate (PostgreSQL refuses both) and a bidirectional override. */
const poisons = { NUL: '\u0000', 'a lone surrogate': '\ud800', 'a bidirectional override': '\u202e' };
/** The same in a URL, percent-encoded (a lone surrogate as its generalized UTF-8 bytes: no URL carries it decoded). */
const poisonedUrlText = { NUL: 'a%00b', 'a lone surrogate': 'a%ED%A0%80b', 'a bidirectional override': 'a%E2%80%AEb' };
/** Stands for a parameter in a built request, to be replaced by its poisoned encoding. */
const placeholder = 'poisoned-parameter';

/**
 * A copy of `body` with `poison` in the string at `path`: inside its valid value (so a URL stays a
 * URL), else inside "ab" (creating the objects and arrays on the way).
 */
function withPoison(body: unknown, path: (string | number)[], poison: string): unknown {
  const copy = structuredClone(body ?? {}) as Record<string | number, unknown>;
  let node = copy;
  path.forEach((key, index) => {
    if (index === path.length - 1) node[key] = `${typeof node[key] === 'string' ? node[key] : 'a'}${poison}b`;
    else {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = typeof path[index + 1] === 'number' ? [] : {};
      node = node[key] as Record<string | number, unknown>;
    }
  });
  return copy;
}

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
    const response = await send(stack, request, route.successCaller?.(ctx) ?? bootstrapAuthorization);
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

  it('refuses NUL, a lone surrogate and a bidirectional override in every string of its body (400 naming the field) and its parameters (400 or 404); writes nothing', async () => {
    const valid = await buildRequest(route, ctx);
    const fields = stringFieldPaths(doc, requestBodySchema(doc, route.method, route.path) ?? {});
    const parameters = (doc.paths[route.path]?.[route.method.toLowerCase()]?.parameters ?? []).filter((parameter) => parameter.in !== 'header');
    expect(fields.length + parameters.length).toBeGreaterThan(0);
    const poisonedParameters = [];
    for (const parameter of parameters) {
      // Built (with whatever the route's builders create) before the snapshot.
      const request = await buildRequest(route, ctx, parameter.in === 'path' ? { params: { [parameter.name]: placeholder } } : { query: { [parameter.name]: placeholder } });
      poisonedParameters.push({ name: `${parameter.in} ${parameter.name}`, request });
    }
    const before = await snapshot();
    const wrong: unknown[] = [];
    for (const [poison, character] of Object.entries(poisons)) {
      for (const path of fields) {
        const field = path.join('.');
        const response = await send(stack, { ...valid, body: withPoison(valid.body, path, character) }, bootstrapAuthorization);
        const problem = (await response.json()) as { code?: string; errors?: { field: string }[] };
        const named = problem.errors?.some((error) => error.field === field) ?? false;
        if (response.status !== 400 || problem.code !== 'validation_failed' || !named) wrong.push({ field, poison, status: response.status, problem });
      }
    }
    for (const [poison, encoded] of Object.entries(poisonedUrlText)) {
      for (const { name, request } of poisonedParameters) {
        const response = await send(stack, { ...request, path: request.path.replace(placeholder, encoded) }, bootstrapAuthorization);
        const text = await response.text();
        if (![400, 404].includes(response.status)) wrong.push({ parameter: name, poison, status: response.status, text });
      }
    }
    expect(wrong).toEqual([]);
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

const sweptMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** A path of an OpenAPI template: the method decides the answer, so any value fills a parameter. */
const pathOf = (template: string) => template.replace(/\{\w+\}/g, missingId);
const documentedMethods = (template: string) => Object.keys(doc.paths[template] ?? {}).map((method) => method.toUpperCase()).filter((method) => sweptMethods.includes(method));
/** What `Allow` must list for these documented methods: HEAD wherever GET is, and OPTIONS. */
const allowFor = (methods: string[]) => [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].sort();
const allowOf = (response: Response) => response.headers.get('allow')?.split(/\s*,\s*/).sort() ?? null;

describe('methods a known path does not support', () => {
  it('answer 405 problem+json with Allow listing what the path supports, on every documented path, and write nothing', async () => {
    const before = await snapshot();
    const answers: unknown[] = [];
    const expected: unknown[] = [];
    for (const template of Object.keys(doc.paths)) {
      const documented = documentedMethods(template);
      for (const method of sweptMethods.filter((candidate) => !documented.includes(candidate))) {
        const response = await stack.request(method, pathOf(template));
        const body = (await response.json()) as { code?: string };
        answers.push({ request: `${method} ${template}`, status: response.status, type: response.headers.get('content-type'), code: body.code, allow: allowOf(response) });
        expected.push({ request: `${method} ${template}`, status: 405, type: 'application/problem+json', code: 'method_not_allowed', allow: allowFor(documented) });
      }
    }
    expect(answers.length).toBeGreaterThan(50);
    expect(answers).toEqual(expected);
    expect(await snapshot()).toEqual(before);
  });

  it('answers DELETE /v1/organizations/{id} (GET and PATCH only) with a documented problem', async () => {
    const response = await stack.request('DELETE', `/v1/organizations/${ctx.target.id}`);
    expect(allowOf(response)).toEqual(['GET', 'HEAD', 'OPTIONS', 'PATCH']);
    const problem = await expectProblem(response, 405, 'method_not_allowed', doc);
    expect(problem.detail).toContain('GET, HEAD, OPTIONS, PATCH');
  });

  it('answers OPTIONS on every documented path with 204 and the same Allow', async () => {
    const answers: unknown[] = [];
    const expected: unknown[] = [];
    for (const template of Object.keys(doc.paths)) {
      const response = await stack.request('OPTIONS', pathOf(template));
      answers.push({ template, status: response.status, body: await response.text(), allow: allowOf(response) });
      expected.push({ template, status: 204, body: '', allow: allowFor(documentedMethods(template)) });
    }
    expect(answers).toEqual(expected);
  });

  it('answers HEAD as GET where GET exists, and 405 with Allow where it does not', async () => {
    const head = await stack.request('HEAD', `/v1/organizations/${ctx.target.id}`);
    expect({ status: head.status, body: await head.text() }).toEqual({ status: 200, body: '' });
    const postOnly = await stack.request('HEAD', `/v1/organizations/${ctx.target.id}/invoices/run`);
    expect({ status: postOnly.status, allow: allowOf(postOnly) }).toEqual({ status: 405, allow: ['OPTIONS', 'POST'] });
  });

  it.each([
    ['PUT', '/v1/nothing-here'],
    ['DELETE', '/v1/organizations/{id}/nothing-here'],
    ['OPTIONS', '/v1/nothing-here'],
    ['POST', '/v1/organizations/{id}/hierarchy/deeper'],
  ])('keeps 404 for an unknown path (%s %s)', async (method, template) => {
    await expectProblem(await stack.request(method, pathOf(template)), 404, 'route_not_found', doc);
  });
});

const patchRoutes = routeTable.filter((route) => route.method === 'PATCH');

describe.each(patchRoutes.map((route) => [route.name, route] as const))('%s with nothing to change', (_, route) => {
  it.each([
    ['no bytes', undefined, '(body)'],
    ['no bytes, declared as JSON', '', '(body)'],
    ['{}', '{}', '(body)'],
    ['only an unknown field', '{"nickname":"x"}', 'nickname'],
  ])('answers %s with 400 validation_failed and changes nothing', async (_, body, field) => {
    const request = await buildRequest(route, ctx);
    const before = await snapshot();
    const response = await stack.request('PATCH', request.path, body === undefined ? {} : { body });
    const problem = await expectProblem(response, 400, 'validation_failed', doc);
    expect(problem.errors?.map((error) => error.field)).toEqual([field]);
    expect(await snapshot()).toEqual(before);
  });
});

it('has PATCH routes in the table to check', () => {
  expect(patchRoutes.length).toBeGreaterThan(0);
});
