import { describe, expect, it } from '@jest/globals';
import { ApiKeyCredentialCache } from '../../src/api/auth/credential-cache.js';
import type { ApiKeyCredential } from '../../src/db/repositories/api-keys.js';

const credential = (id: string): ApiKeyCredential => ({
  id,
  scopes: ['seats:verify'],
  organizationId: null,
  platformRole: 'platform_admin',
  revokedAt: null,
  expiresAt: null,
  lastUsedAt: null,
});

function activeCache() {
  const cache = new ApiKeyCredentialCache();
  cache.setActive(true);
  return cache;
}

describe('ApiKeyCredentialCache', () => {
  it('keeps nothing while no listener hears changes', () => {
    const cache = new ApiKeyCredentialCache();
    cache.set('hash-a', credential('a'), cache.ticket());
    expect(cache.get('hash-a')).toBeUndefined();
  });

  it('keeps a credential and forgets it by key id', () => {
    const cache = activeCache();
    cache.set('hash-a', credential('a'), cache.ticket());
    cache.set('hash-b', credential('b'), cache.ticket());
    expect(cache.get('hash-a')?.id).toBe('a');
    cache.forget('a');
    expect(cache.get('hash-a')).toBeUndefined();
    expect(cache.get('hash-b')?.id).toBe('b');
  });

  it('does not put back what a lookup read before a change it raced', () => {
    const cache = activeCache();
    const ticket = cache.ticket();
    // The key is revoked (and forgotten) while the lookup that began before it is in flight.
    cache.forget('a');
    cache.set('hash-a', credential('a'), ticket);
    expect(cache.get('hash-a')).toBeUndefined();
  });

  it('empties when its listener is lost and refuses what lookups started before then', () => {
    const cache = activeCache();
    cache.set('hash-a', credential('a'), cache.ticket());
    const ticket = cache.ticket();
    cache.setActive(false);
    expect(cache.get('hash-a')).toBeUndefined();
    cache.setActive(true);
    cache.set('hash-b', credential('b'), ticket);
    expect(cache.get('hash-b')).toBeUndefined();
  });
});
