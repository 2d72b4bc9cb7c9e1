import { expect } from '@jest/globals';
import { shapeErrors, type OpenApiDocument } from './openapi.js';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: { field: string; message: string }[];
  details?: Record<string, string | number | null>;
}

/**
 * Reads a response that must be an RFC 9457 problem with this status and code, whose request id
 * is the one in `X-Request-Id`, and (given the document) whose body matches the documented Problem.
 */
export async function expectProblem(response: Response, status: number, code: string, doc?: OpenApiDocument): Promise<ProblemBody> {
  const text = await response.text();
  expect({ status: response.status, body: text }).toEqual({ status, body: expect.stringContaining(`"code":"${code}"`) });
  expect(response.headers.get('content-type')).toContain('application/problem+json');
  const body = JSON.parse(text) as ProblemBody;
  expect(body).toMatchObject({ status, code, type: `https://ledgerflow.dev/problems/${code}` });
  expect(body.requestId).toBe(response.headers.get('x-request-id'));
  if (doc) expect(shapeErrors(doc, { $ref: '#/components/schemas/Problem' }, body)).toEqual([]);
  return body;
}
