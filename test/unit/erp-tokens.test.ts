import { describe, expect, it } from '@jest/globals';
import { memoryAccessTokens, type AccessGrant } from '../../src/integrations/erp/tokens.js';

interface Credentials {
  refreshToken: string;
}

/** An `obtain` that records the credentials it is called with and hands out t1, t2, … */
function issuer(options: { expiresInSeconds?: number; rotate?: boolean; delayMs?: number } = {}) {
  const calls: Credentials[] = [];
  const obtain = async (credentials: Credentials): Promise<AccessGrant<Credentials>> => {
    calls.push(credentials);
    const n = calls.length;
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    return {
      accessToken: `t${n}`,
      expiresInSeconds: options.expiresInSeconds ?? 3_600,
      ...(options.rotate ? { credentials: { refreshToken: `r${n + 1}` } } : {}),
    };
  };
  return { calls, obtain };
}

describe('memoryAccessTokens', () => {
  it('obtains once and reuses the token while it is fresh', async () => {
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' });
    const { calls, obtain } = issuer();
    expect(await tokens.get(obtain)).toBe('t1');
    expect(await tokens.get(obtain)).toBe('t1');
    expect(await tokens.get(obtain)).toBe('t1');
    expect(calls).toEqual([{ refreshToken: 'r1' }]);
  });

  it('shares one obtain between concurrent callers', async () => {
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' });
    const { calls, obtain } = issuer({ delayMs: 20 });
    const results = await Promise.all([tokens.get(obtain), tokens.get(obtain), tokens.get(obtain), tokens.get(obtain)]);
    expect(results).toEqual(['t1', 't1', 't1', 't1']);
    expect(calls).toHaveLength(1);
  });

  it('shares one refresh between concurrent callers reporting the same rejected token', async () => {
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' }, undefined);
    const { calls, obtain } = issuer({ delayMs: 20, rotate: true });
    expect(await tokens.get(obtain)).toBe('t1');
    const results = await Promise.all([tokens.get(obtain, { rejected: 't1' }), tokens.get(obtain, { rejected: 't1' })]);
    expect(results).toEqual(['t2', 't2']);
    // A caller that saw the old token refused after the refresh gets the new one without another obtain.
    expect(await tokens.get(obtain, { rejected: 't1' })).toBe('t2');
    expect(calls).toEqual([{ refreshToken: 'r1' }, { refreshToken: 'r2' }]);
  });

  it('obtains once more when the current token is reported rejected', async () => {
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' });
    const { calls, obtain } = issuer();
    expect(await tokens.get(obtain)).toBe('t1');
    expect(await tokens.get(obtain, { rejected: 't1' })).toBe('t2');
    expect(await tokens.get(obtain)).toBe('t2');
    expect(await tokens.get(obtain, { rejected: 'some-other-token' })).toBe('t2');
    expect(calls).toHaveLength(2);
  });

  it('refreshes a token that expires within the 30 s margin', async () => {
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' });
    const { calls, obtain } = issuer({ expiresInSeconds: 10 });
    expect(await tokens.get(obtain)).toBe('t1');
    expect(await tokens.get(obtain)).toBe('t2');
    expect(calls).toHaveLength(2);
  });

  it('keeps a token that outlives the 30 s margin', async () => {
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' });
    const { calls, obtain } = issuer({ expiresInSeconds: 60 });
    expect(await tokens.get(obtain)).toBe('t1');
    expect(await tokens.get(obtain)).toBe('t1');
    expect(calls).toHaveLength(1);
  });

  it('keeps rotated credentials, passes them to the next obtain and saves each rotation', async () => {
    const saved: Credentials[] = [];
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' }, (credentials) => saved.push(credentials));
    const { calls, obtain } = issuer({ rotate: true });
    expect(tokens.credentials()).toEqual({ refreshToken: 'r1' });
    expect(await tokens.get(obtain)).toBe('t1');
    expect(tokens.credentials()).toEqual({ refreshToken: 'r2' });
    expect(await tokens.get(obtain, { rejected: 't1' })).toBe('t2');
    expect(tokens.credentials()).toEqual({ refreshToken: 'r3' });
    expect(calls).toEqual([{ refreshToken: 'r1' }, { refreshToken: 'r2' }]);
    expect(saved).toEqual([{ refreshToken: 'r2' }, { refreshToken: 'r3' }]);
  });

  it('keeps the credentials and saves nothing when a grant does not rotate them', async () => {
    const saved: Credentials[] = [];
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' }, (credentials) => saved.push(credentials));
    const { calls, obtain } = issuer();
    await tokens.get(obtain);
    await tokens.get(obtain, { rejected: 't1' });
    expect(calls).toEqual([{ refreshToken: 'r1' }, { refreshToken: 'r1' }]);
    expect(tokens.credentials()).toEqual({ refreshToken: 'r1' });
    expect(saved).toEqual([]);
  });

  it('passes a failed obtain to every waiter and tries again on the next call', async () => {
    const tokens = memoryAccessTokens<Credentials>({ refreshToken: 'r1' });
    let attempts = 0;
    const obtain = async (): Promise<AccessGrant<Credentials>> => {
      attempts += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (attempts === 1) throw new Error('invalid_grant');
      return { accessToken: 'fresh', expiresInSeconds: 3_600 };
    };
    const results = await Promise.allSettled([tokens.get(obtain), tokens.get(obtain)]);
    expect(results.map((result) => (result.status === 'rejected' ? (result.reason as Error).message : result.value))).toEqual(['invalid_grant', 'invalid_grant']);
    expect(attempts).toBe(1);
    expect(await tokens.get(obtain)).toBe('fresh');
    expect(attempts).toBe(2);
  });
});
