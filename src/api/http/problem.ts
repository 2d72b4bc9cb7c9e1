import { z } from '@hono/zod-openapi';

export const problemContentType = 'application/problem+json';

/** RFC 9457 problem details, with a stable machine-readable `code`. */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://ledgerflow.dev/problems/validation_failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'validation_failed' }),
    requestId: z.string(),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'One entry per invalid field, for validation failures.' }),
    details: z
      .record(z.string(), z.union([z.string(), z.number(), z.null()]))
      .optional()
      .openapi({ description: 'Facts a program can act on, e.g. the invoiced period or the usage limit reached.' }),
  })
  .openapi('Problem');

export type Problem = z.infer<typeof ProblemSchema>;

/** An expected failure a handler reports to the caller; the error handler renders it. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 422 | 429 | 503,
    readonly code: string,
    message: string,
    readonly errors?: Problem['errors'],
    readonly headers?: Record<string, string>,
    readonly details?: Problem['details'],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function problem(
  status: number,
  code: string,
  detail: string,
  requestId: string,
  errors?: Problem['errors'],
  details?: Problem['details'],
): Problem {
  return {
    type: `https://ledgerflow.dev/problems/${code}`,
    title: titles[status] ?? 'Error',
    status,
    detail,
    code,
    requestId,
    ...(errors ? { errors } : {}),
    ...(details ? { details } : {}),
  };
}

const errorDescriptions: Record<number, string> = {
  400: 'The request is malformed or fails validation.',
  401: 'No valid credentials.',
  403: 'The caller may not do this.',
  404: 'No such object visible to the caller.',
  409: 'The request conflicts with the current state.',
  422: 'The request is well-formed but cannot be applied.',
  429: 'Too many requests, or a usage limit reached.',
  503: 'A dependency (PostgreSQL or Temporal) is not reachable.',
  504: 'The workflow did not answer in time (`timeout`); the change may still be applied: `details.location` is where to look.',
};

/** OpenAPI response entries for the problems a route can answer with. */
export function problemResponses<S extends keyof typeof errorDescriptions>(...statuses: S[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: errorDescriptions[status], content: { [problemContentType]: { schema: ProblemSchema } } },
    ]),
  ) as Record<S, { description: string; content: { [problemContentType]: { schema: typeof ProblemSchema } } }>;
}
