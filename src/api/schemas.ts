import { z } from '@hono/zod-openapi';

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } } as const;
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

/** A decimal string with up to 12 decimal places (exact prices; never floats). */
export const decimalSchema = z
  .string()
  .regex(/^\d{1,18}(\.\d{1,12})?$/, 'a non-negative decimal string with at most 12 decimal places, such as "0.0125"');

/** An amount in the currency's minor unit. */
export const minorUnitsSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

