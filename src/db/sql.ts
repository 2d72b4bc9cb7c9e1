import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool, QueryResultRow } from 'pg';

/**
 * The one way to run a hand-written statement: bound parameters (`$1`, …), on the
 * EntityManager's transaction when it has one (so it sees that transaction's writes and takes its
 * locks), else on the pool. `em.execute` would inline parameters into the SQL text, which for a
 * 1,000-event batch means escaping and re-parsing a few hundred kilobytes of literal; binding
 * sends the payload as is, and `pg` turns arrays into PostgreSQL arrays. Driver errors become the
 * ORM's exceptions (`UniqueConstraintViolationException`, …), as for the ORM's own queries.
 */
export async function sql<Row>(em: EntityManager, text: string, parameters: readonly unknown[] = []): Promise<Row[]> {
  // The shape of a Kysely CompiledQuery for raw SQL (MikroORM builds the same one to stream rows).
  const compiled = { sql: text, parameters, query: { kind: 'RawNode', sqlFragments: [text], parameters: [] }, queryId: { queryId: 'ledgerflow' } };
  try {
    const result = await em.getKysely().executeQuery<Row>(compiled as unknown as Parameters<ReturnType<EntityManager['getKysely']>['executeQuery']>[0]);
    return result.rows;
  } catch (error) {
    throw em.getPlatform().getExceptionConverter().convertException(error as Error);
  }
}

/** A statement for `namedSql`: its name is unique, so the connection parses and plans it once. */
export interface NamedStatement {
  name: string;
  text: string;
  values: readonly unknown[];
}

/**
 * Runs a named (prepared once per connection) statement straight on the ORM's `pg` pool, skipping
 * the ORM's query layer: for the hottest reads, where parsing, planning and the layer cost more
 * than the lookup itself. Never inside a transaction: it takes a connection of its own.
 */
export async function namedSql<Row>(pool: Pool, statement: NamedStatement): Promise<Row[]> {
  const { rows } = await pool.query<Row & QueryResultRow>({ name: statement.name, text: statement.text, values: [...statement.values] });
  return rows;
}
