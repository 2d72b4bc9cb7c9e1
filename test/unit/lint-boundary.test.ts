import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));
const workflowFile = fileURLToPath(new URL('../../workflows/billing-cycle.ts', import.meta.url));
const original = readFileSync(workflowFile, 'utf8');
const eslint = new ESLint({ cwd: root });

async function violations(prefix: string, file = workflowFile): Promise<string[]> {
  const [result] = await eslint.lintText(`${prefix}\n${original}`, { filePath: file });
  return (result?.messages ?? []).map((message) => message.ruleId ?? message.message);
}

describe('the determinism boundary is enforced by lint', () => {
  it('accepts the workflow as it is', async () => {
    expect(await violations('')).toEqual([]);
  });

  it.each([
    ["import { readFileSync } from 'node:fs'; void readFileSync;"],
    ["import { randomUUID } from 'crypto'; void randomUUID;"],
    ["import { MikroORM } from '@mikro-orm/core'; void MikroORM;"],
    ["import Stripe from 'stripe'; void Stripe;"],
    ["import pg from 'pg'; void pg;"],
    ["import { createOrm } from '../src/db/orm.js'; void createOrm;"],
    ["import { createApp } from '../src/api/app.js'; void createApp;"],
    ["import { createBillingActivities } from '../activities/billing.js'; void createBillingActivities;"],
    ["import { Client } from '@temporalio/client'; void Client;"],
  ])('refuses %s in a workflow file', async (line) => {
    expect(await violations(line)).toContain('no-restricted-imports');
  });

  it('allows `import type` from activities', async () => {
    expect(await violations("import type { ActivityDeps } from '../activities/index.js';\nexport type Deps = ActivityDeps;")).toEqual([]);
  });

  it('flags a floating promise', async () => {
    expect(await violations('export function fire(run: () => Promise<void>) { run(); }')).toContain('@typescript-eslint/no-floating-promises');
  });
});
