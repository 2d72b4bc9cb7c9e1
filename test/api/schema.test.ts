import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { entities } from '../../src/db/entities/index.js';
import { createOrm, migrateUp, usageEventsTables, type Orm } from '../../src/db/orm.js';
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

  it('leave out of that comparison only the raw usage events, range-partitioned by time with a default partition', async () => {
    // Partitions are added at run time, which entity metadata cannot describe (src/db/entities/usage.ts).
    const entityTables = [...orm.getMetadata()].map((meta) => meta.tableName);
    expect(entityTables.length).toBeGreaterThanOrEqual(entities.length);
    expect(entityTables.filter((table) => usageEventsTables.test(table))).toEqual([]);
    expect(['usage_events', 'usage_events_default', 'usage_events_2027_01'].every((table) => usageEventsTables.test(table))).toBe(true);
    const [layout] = await orm.em.fork().execute<{ key: string; partitions: string }[]>(
      `select pg_get_partkeydef('usage_events'::regclass) as key,
         (select string_agg(c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid), ', ' order by c.relname)
            from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'usage_events'::regclass) as partitions`,
    );
    expect(layout).toEqual({ key: 'RANGE (occurred_at)', partitions: 'usage_events_default DEFAULT' });
  });
});
