import type { ErpProvider } from '../../domain/index.js';
import type { ErpConnectorModule } from './connector.js';
import { dynamics365Connector } from './dynamics365.js';
import { netsuiteConnector } from './netsuite.js';
import { quickbooksConnector } from './quickbooks.js';
import { sageConnector } from './sage.js';
import { sapConnector } from './sap.js';
import { xeroConnector } from './xero.js';

export { ErpError, type ErpConnector, type ErpConnectorModule, type ErpFailureKind, type ErpSettings } from './connector.js';

/** Every connector by provider: one module each, behind the one port. */
export const erpConnectors = {
  quickbooks: quickbooksConnector,
  xero: xeroConnector,
  netsuite: netsuiteConnector,
  sap: sapConnector,
  sage: sageConnector,
  dynamics365: dynamics365Connector,
} as Record<ErpProvider, ErpConnectorModule>;
