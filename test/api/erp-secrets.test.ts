/**
 * ERP credentials are sealed at rest and never leave the worker's activities in plaintext: after
 * real pushes (tokens obtained, expired, refreshed and rotated), no table, no log line (at trace
 * level) and no recorded `erp:` workflow history holds a credential, an access token or a refresh
 * token the vendor issued, while the sealed row still opens to the vendor's current refresh token.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSecretBox } from '../../src/secrets.js';
import { sealContext } from '../../src/integrations/erp/runtime.js';
import { workflowIds } from '../../src/temporal/workflow-ids.js';
import { quickbooksFixture } from '../support/erp-mock/quickbooks.js';
import { startErpMock, type ErpMock } from '../support/erp-mock/server.js';
import { startTestStack, testSecretKeys, type TestStack } from '../support/stack.js';
import { eventually } from '../workflow/support/subscriptions.js';
import { insertFinalizedInvoice } from './support/collection.js';
import { call, unique } from './support/world.js';

const logLines: string[] = [];
let stack: TestStack;
let mock: ErpMock;

beforeAll(async () => {
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  stack = await startTestStack({ logDestination: capture, logLevel: 'trace' });
  mock = await startErpMock(quickbooksFixture.vendor);
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await mock?.close();
});

/** Every row of every table of the suite's database, as text. */
async function everyTableAsText(): Promise<string> {
  const tables = await stack.sql<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`);
  const dumps = await Promise.all(tables.map(async ({ name }) => (await stack.sql<{ row: string }>(`select t::text as row from "${name}" t`)).map((row) => row.row).join('\n')));
  return dumps.join('\n');
}

/** A workflow's full history with every payload decoded, as text. */
async function historyAsText(workflowId: string): Promise<string> {
  const history = await stack.temporal.workflow.getHandle(workflowId).fetchHistory();
  return JSON.stringify(history, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value));
}

describe('ERP credentials at rest', () => {
  it('appear in no table, log line or workflow history, and the sealed row holds the rotated refresh token', async () => {
    const organizationId = (await call<{ id: string }>(stack, 'POST', '/v1/organizations', { body: { name: unique('sealed'), currency: 'USD' } })).id;
    const integration = await call<{ id: string }>(stack, 'POST', '/v1/integrations', {
      body: { provider: 'quickbooks', name: 'books', organizationId, credentials: quickbooksFixture.credentials, settings: quickbooksFixture.settings(mock) },
      expect: 201,
    });
    await call(stack, 'PUT', `/v1/integrations/${integration.id}/gl-mappings`, { body: { mappings: quickbooksFixture.glMappings }, expect: 200 });
    const synced = async (count: number) =>
      eventually(async () => {
        const log = await call<{ status: string }[]>(stack, 'GET', `/v1/integrations/${integration.id}/logs`);
        return log.length === count && log.every((entry) => entry.status === 'synced') ? log : undefined;
      }, 30_000);
    await insertFinalizedInvoice(stack, { organizationId, subtotal: 4_200 });
    await call(stack, 'POST', `/v1/integrations/${integration.id}/sync`, { body: {}, expect: 202 });
    await synced(2);
    // The vendor forgets its tokens: the next push refreshes, and the refresh token rotates again.
    mock.expireTokens();
    await insertFinalizedInvoice(stack, { organizationId, subtotal: 4_300 });
    await call(stack, 'POST', `/v1/integrations/${integration.id}/sync`, { body: {}, expect: 202 });
    await synced(3);

    const accessTokens = [...new Set(mock.requests.flatMap((request) => (request.headers.authorization?.startsWith('Bearer ') ? [request.headers.authorization.slice(7)] : [])))];
    const refreshTokens = [...(mock.state.get('refreshTokens') as Set<string>)];
    expect(accessTokens.length).toBeGreaterThanOrEqual(2);
    expect(refreshTokens).toHaveLength(1);
    const secrets = [quickbooksFixture.credentials.clientSecret!, quickbooksFixture.credentials.refreshToken!, ...accessTokens, ...refreshTokens];

    const tables = await everyTableAsText();
    const logs = logLines.join('\n');
    const documents = await stack.sql<{ document_type: string; document_id: string }>('select document_type, document_id from erp_sync_documents where integration_id = $1', [integration.id]);
    expect(documents).toHaveLength(3);
    const histories = (await Promise.all(documents.map((row) => historyAsText(workflowIds.erp(integration.id, row.document_type, row.document_id))))).join('\n');
    expect(logs).toContain('erp push attempt');
    expect(histories).toContain(integration.id);
    for (const secret of secrets) {
      expect({ secret, inTables: tables.includes(secret), inLogs: logs.includes(secret), inHistories: histories.includes(secret) }).toEqual({ secret, inTables: false, inLogs: false, inHistories: false });
    }

    const [row] = await stack.sql<{ credentials: string; access_token: string }>('select credentials, access_token from erp_integrations where id = $1', [integration.id]);
    expect(row!.credentials).toMatch(/^t1\./);
    const opened = JSON.parse(createSecretBox(testSecretKeys).decrypt(row!.credentials, sealContext.credentials(integration.id))) as Record<string, string>;
    expect(opened).toEqual({ ...quickbooksFixture.credentials, refreshToken: refreshTokens[0] });
  });
});
