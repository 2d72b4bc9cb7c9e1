/**
 * OAuth access tokens of one integration, shared by every activity of every worker: a token is
 * obtained once (under a lock, because QuickBooks, Xero and Sage rotate the refresh token on
 * each use: two concurrent refreshes would leave one of them holding a dead token) and reused
 * until it expires or the vendor refuses it.
 */
export interface AccessGrant<C> {
  accessToken: string;
  expiresInSeconds: number;
  /** The credentials to keep from now on (a rotated refresh token); omitted when unchanged. */
  credentials?: C;
}

export interface AccessTokens<C> {
  /**
   * A current access token. `obtain` is called with the latest stored credentials when there is
   * none, when it expired, or when it is the one the caller reports as `rejected` (a 401): call
   * again with the refused token to refresh once.
   */
  get(obtain: (credentials: C) => Promise<AccessGrant<C>>, options?: { rejected?: string }): Promise<string>;
}

/** Whether a token may still be sent: not the one the vendor refused, and not expiring within 30 s (a request in flight must not outlive it). */
export function usableToken<T extends { token: string; expiresAt: number }>(token: T | null | undefined, rejected: string | undefined): token is T {
  return token !== null && token !== undefined && token.token !== rejected && token.expiresAt > Date.now() + 30_000;
}

/**
 * Tokens kept in memory for one integration, for tests: nothing outlives the process (the worker
 * uses runtime.ts's stored tokens instead). `onSave` is told each rotation of the credentials.
 */
export function memoryAccessTokens<C>(initial: C, onSave?: (credentials: C) => void): AccessTokens<C> & { credentials(): C } {
  let credentials = initial;
  let current: { token: string; expiresAt: number } | null = null;
  let pending: Promise<string> | null = null;
  return {
    credentials: () => credentials,
    async get(obtain, options = {}) {
      if (usableToken(current, options.rejected)) return current.token;
      pending ??= obtain(credentials)
        .then((grant) => {
          if (grant.credentials) {
            credentials = grant.credentials;
            onSave?.(credentials);
          }
          current = { token: grant.accessToken, expiresAt: Date.now() + grant.expiresInSeconds * 1_000 };
          return grant.accessToken;
        })
        .finally(() => {
          pending = null;
        });
      return pending;
    },
  };
}
