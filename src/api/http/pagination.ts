import { z } from '@hono/zod-openapi';
import { ApiError } from './problem.js';

export const maxPageSize = 100;

export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(maxPageSize).default(50).openapi({ description: `At most ${maxPageSize}.` }),
  cursor: z.string().max(200).optional().openapi({ description: 'The `nextCursor` of the previous page.' }),
});

/** A page of a list ordered by creation time, then id. */
export function pageSchema<T extends z.ZodType>(item: T, name: string) {
  return z.object({ data: z.array(item), nextCursor: z.string().nullable() }).openapi(name);
}

interface Positioned {
  id: string;
  createdAt: Date;
}

/** Every paged table is keyed by uuid; another id would fail in PostgreSQL, not as a 400. */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where a page starts: the position of the previous page's last row, or null for the first page. */
export function cursorPosition(cursor: string | undefined): { at: Date; id: string } | null {
  if (cursor === undefined) return null;
  let position: { at?: unknown; id?: unknown } | null;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { at?: unknown; id?: unknown } | null;
  } catch {
    throw new ApiError(400, 'cursor_invalid', 'The cursor is not one this API returned.');
  }
  // Any JSON parses (null, 42, "x"): only an object with a string id and a valid time is a cursor.
  if (typeof position !== 'object' || position === null || typeof position.id !== 'string' || typeof position.at !== 'string') {
    throw new ApiError(400, 'cursor_invalid', 'The cursor is not one this API returned.');
  }
  const at = new Date(position.at);
  if (Number.isNaN(at.getTime()) || !uuidPattern.test(position.id)) {
    throw new ApiError(400, 'cursor_invalid', 'The cursor is not one this API returned.');
  }
  return { at, id: position.id };
}

/** The filter that starts a page after the cursor's row (keyset pagination: stable under inserts). */
export function afterCursor(cursor: string | undefined) {
  const position = cursorPosition(cursor);
  if (position === null) return {};
  return { $or: [{ createdAt: { $gt: position.at } }, { createdAt: position.at, id: { $gt: position.id } }] };
}

export const pageOrder = { createdAt: 'asc', id: 'asc' } as const;

/** Rows fetched with `limit + 1`: the extra row only tells whether another page exists. */
export function toPage<T extends Positioned, V>(rows: T[], limit: number, view: (row: T) => V) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const nextCursor =
    rows.length > limit && last
      ? Buffer.from(JSON.stringify({ at: last.createdAt.toISOString(), id: last.id })).toString('base64url')
      : null;
  return { data: items.map(view), nextCursor };
}
