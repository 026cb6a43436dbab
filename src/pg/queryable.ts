import type pg from 'pg';

/** Anything that runs a query: a Client, a PoolClient or a Pool. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}
