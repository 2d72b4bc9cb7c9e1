import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fileOf = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const activityFile = fileOf('activities/webhooks.ts');
const serviceFile = fileOf('src/webhooks/outbox.ts');
const repositoryFile = fileOf('src/db/repositories/organizations.ts');
const eslint = new ESLint({ cwd: root });
const boundaryRules = ['no-restricted-imports', 'no-restricted-properties', 'no-restricted-syntax'];

/** The rules `prefix` breaks when it opens `file` (the file's own text after it). */
async function violations(prefix: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${prefix}\n${readFileSync(file, 'utf8')}`, { filePath: file });
  return (result?.messages ?? []).map((message) => message.ruleId ?? message.message);
}

const sqlAccess: [string, string][] = [
  ["export const probe = (em: { execute(text: string): Promise<unknown> }) => em.execute('select 1');", 'no-restricted-syntax'],
  ["export const probe = (tx: { execute(text: string): Promise<unknown> }) => tx.execute('update organizations set name = name');", 'no-restricted-syntax'],
  ['export const probe = (orm: { em: { getConnection(): unknown } }) => orm.em.getConnection();', 'no-restricted-properties'],
  ['export const probe = (connection: { getNativeClient(): unknown }) => connection.getNativeClient();', 'no-restricted-properties'],
  ['export const probe = (em: { getKysely(): unknown }) => em.getKysely();', 'no-restricted-properties'],
  ['export const probe = (em: { getKnex(): unknown }) => em.getKnex();', 'no-restricted-properties'],
  ['export const probe = (em: { createQueryBuilder(entity: string): unknown }) => em.createQueryBuilder("Invoice");', 'no-restricted-properties'],
  ["import pg from 'pg'; export const probe = pg;", 'no-restricted-imports'],
  ["import { Kysely } from 'kysely'; export const probe = Kysely;", 'no-restricted-imports'],
  ["import { raw } from '@mikro-orm/core'; export const probe = raw;", 'no-restricted-imports'],
];

describe('SQL lives in src/db/ only, and lint enforces it', () => {
  it.each([activityFile, serviceFile, repositoryFile])('accepts %s as it is', async (file) => {
    expect((await violations('', file)).filter((rule) => boundaryRules.includes(rule))).toEqual([]);
  });

  it.each(sqlAccess)('refuses `%s` in an activity', async (line, rule) => {
    expect(await violations(line, activityFile)).toContain(rule);
  });

  it.each(sqlAccess)('refuses `%s` in src/ outside src/db/', async (line, rule) => {
    expect(await violations(line, serviceFile)).toContain(rule);
  });

  it('refuses the hand-written-statement helper outside src/db/', async () => {
    expect(await violations("import { sql } from '../src/db/sql.js'; export const probe = sql;", activityFile)).toContain('no-restricted-imports');
  });

  it.each(sqlAccess)('allows `%s` in src/db/', async (line) => {
    expect((await violations(line, repositoryFile)).filter((rule) => boundaryRules.includes(rule))).toEqual([]);
  });

  it("allows a type from pg and Temporal's `workflow.execute` outside src/db/", async () => {
    const line = [
      "import type { Pool } from 'pg';",
      'export const probe = (pool: Pool, client: { workflow: { execute(name: string): Promise<unknown> } }) => [pool, client.workflow.execute("billingCycle")];',
    ].join('\n');
    expect((await violations(line, serviceFile)).filter((rule) => boundaryRules.includes(rule))).toEqual([]);
  });
});
