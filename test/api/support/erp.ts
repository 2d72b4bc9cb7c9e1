import type { ErpProvider } from '../../../src/domain/index.js';
import { dynamics365Fixture } from '../../support/erp-mock/dynamics365.js';
import { netsuiteFixture } from '../../support/erp-mock/netsuite.js';
import { quickbooksFixture } from '../../support/erp-mock/quickbooks.js';
import { sageFixture } from '../../support/erp-mock/sage.js';
import { sapFixture } from '../../support/erp-mock/sap.js';
import type { MockRequest, VendorFixture } from '../../support/erp-mock/server.js';
import { xeroFixture } from '../../support/erp-mock/xero.js';

/** Each connector's mock vendor, as the real-stack ERP suites drive them. */
export const erpFixtures: Record<ErpProvider, VendorFixture> = {
  quickbooks: quickbooksFixture,
  xero: xeroFixture,
  netsuite: netsuiteFixture,
  sap: sapFixture,
  sage: sageFixture,
  dynamics365: dynamics365Fixture,
};
export const erpProviderNames = Object.keys(erpFixtures) as ErpProvider[];

/** The invoice push itself: a write to the vendor's invoice endpoint (not a query, not Business Central's post action). */
export const invoiceWrite = (request: Pick<MockRequest, 'method' | 'path'>) => request.method !== 'GET' && /nvoice/.test(request.path) && !/query|Microsoft\.NAV/i.test(request.path);

/** Whether any string or number inside `value` reads as `wanted`. */
export function holdsValue(value: unknown, wanted: string): boolean {
  if (typeof value === 'string' || typeof value === 'number') return String(value) === wanted;
  if (Array.isArray(value)) return value.some((item) => holdsValue(item, wanted));
  if (value !== null && typeof value === 'object') return Object.values(value).some((item) => holdsValue(item, wanted));
  return false;
}
