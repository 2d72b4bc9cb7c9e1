import { MikroORM, defineConfig, type EntityManager, type Options } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from './entities/index.js';
import { migrationsList } from './migrations/index.js';
import { sql } from './sql.js';

export type Orm = MikroORM;

/** `usage_events` and its partitions (`usage_events_default`, `usage_events_2027_01`, …). */
export const usageEventsTables = /^usage_events($|_(default|\d{4}_\d{2})$)/;

export function ormOptions(databaseUrl: string, poolMax = 10): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    // Listed explicitly: no glob discovery, so the same list works under tsx, jest and dist/.
    migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false, silent: true },
    // The raw usage events and their monthly partitions (created at run time) are the migrations'
    // alone: see src/db/entities/usage.ts.
    schemaGenerator: { skipTables: [usageEventsTables] },
    pool: { min: 0, max: poolMax },
    // Queries without an explicit fork are a bug: every request and activity forks its own.
    allowGlobalContext: false,
    debug: false,
  });
}

export async function createOrm(databaseUrl: string, poolMax?: number): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, poolMax));
}

export async function migrateUp(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((migration) => migration.name);
}

/** Resolves once PostgreSQL answers a query on the pool. */
export async function pingDatabase(orm: Orm): Promise<void> {
  await sql(orm.em.fork(), 'select 1');
}

/** The ORM's own `pg` pool, for named statements (`namedSql`) that skip the ORM's query layer. */
export async function poolOf(em: EntityManager): Promise<Pool> {
  return em.getConnection().getNativeClient();
}
