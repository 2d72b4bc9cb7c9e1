import { bodyExcerpt, type ErpHttpResponse } from './http.js';

/** An OData string literal: single-quoted, quotes inside doubled. */
export const odataLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

/**
 * The message and code of an OData error envelope, `{"error":{"code","message"}}`. OData v3
 * services (SAP's Service Layer before 10.0 FP2105) wrap the message as `{"lang","value"}` and
 * may give the code as a number. Without an envelope, the message is the start of the body, at
 * most `excerptLength` characters.
 */
export function odataError(response: ErpHttpResponse, excerptLength: number): { message: string; code?: string } {
  const error = (response.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const message = typeof error?.message === 'object' && error.message !== null ? (error.message as { value?: unknown }).value : error?.message;
  const code = error?.code;
  return {
    message: typeof message === 'string' ? message : bodyExcerpt(response, excerptLength),
    ...(typeof code === 'number' || typeof code === 'string' ? { code: String(code) } : {}),
  };
}
