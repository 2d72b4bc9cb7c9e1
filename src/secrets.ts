import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (ERP credentials and access tokens): AES-256-GCM under a key named by its id,
 * so keys rotate: `LEDGERFLOW_SECRET_KEYS="k2:<base64 32 bytes>,k1:<…>"` encrypts with the first
 * and still reads what the others encrypted (each value is re-encrypted under the first key the
 * next time it is written). The associated data binds a value to its row and field, so a
 * ciphertext copied into another row does not decrypt.
 */
export interface SecretBox {
  encrypt(plaintext: string, context: string): string;
  decrypt(sealed: string, context: string): string;
  /** The key id new values are encrypted under. */
  readonly currentKeyId: string;
}

export class SecretsUnavailableError extends Error {
  constructor() {
    super('LEDGERFLOW_SECRET_KEYS is not set: ERP credentials cannot be stored or read (npm start generates a development key)');
    this.name = 'SecretsUnavailableError';
  }
}

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/** Parses `id:base64key,…`; throws a message naming the first bad entry. */
export function parseSecretKeys(value: string): { id: string; key: Buffer }[] {
  return value.split(',').map((entry, index) => {
    const [id, encoded, ...rest] = entry.trim().split(':');
    if (!id || !encoded || rest.length > 0 || !keyIdPattern.test(id)) throw new Error(`LEDGERFLOW_SECRET_KEYS entry ${index + 1}: expected <key id>:<base64 key>`);
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== 32) throw new Error(`LEDGERFLOW_SECRET_KEYS entry ${index + 1} (${id}): the key must be 32 bytes, base64-encoded`);
    return { id, key };
  });
}

export function createSecretBox(keysValue: string | undefined): SecretBox {
  if (!keysValue) {
    return {
      currentKeyId: '',
      encrypt: () => {
        throw new SecretsUnavailableError();
      },
      decrypt: () => {
        throw new SecretsUnavailableError();
      },
    };
  }
  const keys = parseSecretKeys(keysValue);
  const byId = new Map(keys.map((entry) => [entry.id, entry.key]));
  const current = keys[0]!;
  return {
    currentKeyId: current.id,
    encrypt(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv, { authTagLength: 16 });
      cipher.setAAD(Buffer.from(context));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${current.id}.${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url')}`;
    },
    decrypt(sealed, context) {
      const [id, payload, ...rest] = sealed.split('.');
      if (id === undefined || payload === undefined || rest.length > 0) throw new Error('not a sealed secret (expected <key id>.<payload>)');
      const key = byId.get(id);
      if (!key) throw new Error(`secret sealed under key "${id}", which LEDGERFLOW_SECRET_KEYS does not hold`);
      const bytes = Buffer.from(payload, 'base64url');
      // A full 16-byte tag: GCM would otherwise accept a truncated one, and a forged value would take 2^32 guesses, not 2^128.
      if (bytes.length < 28) throw new Error('sealed secret is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12), { authTagLength: 16 });
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(bytes.subarray(12, 28));
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}

/** A fresh key entry for LEDGERFLOW_SECRET_KEYS (development and tests). */
export function generateSecretKeyEntry(id: string): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}
