import { createHash } from 'node:crypto';

/**
 * A version-4-shaped UUID derived from a business key: the same key always names the same row, so
 * a retried request or activity finds what the first attempt made instead of making it again.
 */
export function uuidFromKey(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex');
  const variant = ((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
