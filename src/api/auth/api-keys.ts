import { createHash, randomBytes } from 'node:crypto';

/** Every Ledgerflow API key starts with this, so scanners and people recognise one. */
export const apiKeyPrefix = 'lf_sk_';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key: 256 random bits after the typed prefix. Only its hash is ever stored. */
export function generateApiKey(): { key: string; hash: string; displayPrefix: string } {
  const key = `${apiKeyPrefix}${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key), displayPrefix: key.slice(0, apiKeyPrefix.length + 6) };
}
