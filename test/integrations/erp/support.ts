import type { ErpConnector, ErpConnectorModule, ErpSettings } from '../../../src/integrations/erp/connector.js';
import { createErpHttp, unpaced } from '../../../src/integrations/erp/http.js';
import { memoryAccessTokens } from '../../../src/integrations/erp/tokens.js';

/** A connector wired as the worker wires it, minus the shared rate limiter and the database: tokens live in memory. */
export function connectorFor<C extends Record<string, string>>(
  module: ErpConnectorModule<C>,
  credentials: C,
  settings: ErpSettings,
  options: { timeoutMs?: number } = {},
): { connector: ErpConnector; storedCredentials: () => C } {
  const tokens = memoryAccessTokens(module.credentialsSchema.parse(credentials));
  const http = createErpHttp({ pacer: unpaced, timeoutMs: options.timeoutMs ?? 2_000 });
  return { connector: module.create({ credentials: tokens.credentials(), settings, http, tokens }), storedCredentials: () => tokens.credentials() };
}
