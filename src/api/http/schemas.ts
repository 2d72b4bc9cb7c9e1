import { z } from '@hono/zod-openapi';

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } } as const;
}

export const nothingToChange = 'send at least one field to change';

/**
 * A PATCH body: at least one field (documented as `minProperties: 1`), since a request that changes
 * nothing is a client's mistake. The body-less PATCH is refused the same way by `patchWithoutBody`.
 */
export function patchBody<T extends z.ZodObject>(schema: T) {
  const changesSomething = schema
    // Only once the fields are valid: an unknown field alone is reported as that, not twice.
    .refine((fields) => Object.keys(fields).length > 0, { message: nothingToChange, when: (payload) => payload.issues.length === 0 })
    .openapi({ minProperties: 1 });
  return jsonBody(changesSomething);
}

/** A JSON response. */
export function jsonResponse<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { 'application/json': { schema } } } as const;
}

export const uuidParam = (name: string) => z.uuid().openapi({ param: { name, in: 'path' } });

export const codeSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lowercase letters, digits, `_`, `.` and `-`, at most 64 characters');

export const currencySchema = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD').openapi({ example: 'USD' });

