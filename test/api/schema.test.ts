import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOrm, migrateUp, type Orm } from '../../src/db/orm.js';
import { createSuiteDatabase, type SuiteDatabase } from '../support/stack.js';

let database: SuiteDatabase;
let orm: Orm;
beforeAll(async () => {
  database = await createSuiteDatabase();
  orm = await createOrm(database.url, 2);
});
afterAll(async () => {
  await orm.close();
  await database.drop();
});

describe('committed migrations', () => {
  it('build exactly the schema the entities describe, and a second run applies nothing', async () => {
    expect((await migrateUp(orm)).length).toBeGreaterThan(0);
    expect(await orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
    expect(await migrateUp(orm)).toEqual([]);
  });
});
