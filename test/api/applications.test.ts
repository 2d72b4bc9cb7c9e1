import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.stop();
});

describe('POST /v1/applications', () => {
  it('registers an application and persists it', async () => {
    const response = await stack.request('POST', '/v1/applications', { body: { slug: 'reports', name: 'Reports' } });
    expect(response.status).toBe(201);
    const created = (await response.json()) as { id: string; slug: string; name: string };
    expect(created).toMatchObject({ slug: 'reports', name: 'Reports' });
    expect(await stack.sql('select slug, name from applications where id = $1', [created.id])).toEqual([
      { slug: 'reports', name: 'Reports' },
    ]);
  });

  it('answers 409 for a slug that is taken, and keeps one row', async () => {
    await stack.request('POST', '/v1/applications', { body: { slug: 'assessments', name: 'Assessments' } });
    const again = await stack.request('POST', '/v1/applications', { body: { slug: 'assessments', name: 'Other' } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe('application_slug_taken');
    expect(await stack.sql("select name from applications where slug = 'assessments'")).toEqual([{ name: 'Assessments' }]);
  });

  it('refuses a slug with capitals and an unknown field, naming both', async () => {
    const response = await stack.request('POST', '/v1/applications', { body: { slug: 'Bad Slug', name: 'X', extra: 1 } });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { errors: { field: string }[] };
    expect(problem.errors.map((error) => error.field).sort()).toEqual(['extra', 'slug']);
  });
});
