import type pg from 'pg';
import { parenthesize } from '../engine/expressions.js';
import type { BackfillSpec } from '../engine/model.js';
import { NEEDS_BACKFILL_COLUMN } from '../engine/names.js';
import { OperationError } from '../errors.js';
import { backoffDelay, sleep } from '../executor/backoff.js';
import { ident } from '../pg/quote.js';

export interface BackfillOptions {
  schema: string;
  stateSchema: string;
  migration: string;
  batchSize: number;
  /** Rows per second ceiling; undefined for no ceiling. */
  rowsPerSecond?: number;
  lockTimeoutMs: number;
  onProgress?: (progress: BackfillProgress) => void;
}

export interface BackfillProgress {
  table: string;
  rowsDone: number;
  rowsTotal: number;
  rowsPerSecond: number;
  done: boolean;
}

const RETRYABLE = new Set(['55P03', '40P01', '40001']);

/**
 * Fills the new columns of existing rows, one batch per short transaction, walking the primary
 * key (keyset pagination, never OFFSET). Each batch stores its last key in the state schema in
 * the same transaction, so an interrupted backfill resumes where it stopped. Rows any version
 * wrote since the triggers went in have their mark cleared and are skipped.
 */
export async function runBackfill(
  client: pg.Client,
  spec: BackfillSpec,
  options: BackfillOptions,
): Promise<void> {
  const { schema, stateSchema, migration } = options;
  const state = `${ident(stateSchema)}.backfills`;
  const table = `${ident(schema)}.${ident(spec.table)}`;
  const types = await keyTypes(client, schema, spec.table, spec.key);
  const keyList = spec.key.map(ident).join(', ');
  const params = spec.key.map((_, i) => `$${i + 1}::${types[i]}`).join(', ');
  const limit = `$${spec.key.length + 1}`;
  const set = [
    ...spec.set.map((s) => `${ident(s.column)} = ${parenthesize(s.expression)}`),
    `${ident(NEEDS_BACKFILL_COLUMN)} = false`,
  ].join(', ');
  const lastKey = `json_build_array(${spec.key.map((k) => `k.${ident(k)}::text`).join(', ')})`;
  const batchSql = (first: boolean) => `
    WITH keys AS MATERIALIZED (
      SELECT ${keyList} FROM ${table}
       ${first ? '' : `WHERE (${keyList}) > (${params})`}
       ORDER BY ${keyList} LIMIT ${first ? '$1' : limit}
    ), updated AS (
      UPDATE ${table} SET ${set}
       WHERE (${keyList}) IN (SELECT ${keyList} FROM keys) AND ${ident(NEEDS_BACKFILL_COLUMN)}
       RETURNING 1
    )
    SELECT (SELECT count(*) FROM keys)::int AS seen,
           (SELECT count(*) FROM updated)::int AS updated,
           (SELECT ${lastKey} FROM keys k ORDER BY ${spec.key.map((c) => `k.${ident(c)} DESC`).join(', ')} LIMIT 1) AS last`;

  await client.query(
    `INSERT INTO ${state} (schema, migration, table_name, rows_total)
     VALUES ($1, $2, $3, (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($4)))
     ON CONFLICT DO NOTHING`,
    [schema, migration, spec.table, table],
  );
  const { rows } = await client.query<{
    last_key: string[] | null;
    rows_done: string;
    rows_total: string | null;
    done: boolean;
  }>(
    `SELECT last_key, rows_done, rows_total, done FROM ${state} WHERE schema = $1 AND migration = $2 AND table_name = $3`,
    [schema, migration, spec.table],
  );
  const checkpoint = rows[0];
  if (checkpoint?.done) return;
  let last = checkpoint?.last_key ?? null;
  let rowsDone = Number(checkpoint?.rows_done ?? 0);
  let rowsTotal = Number(checkpoint?.rows_total ?? 0);
  const started = Date.now();
  let doneThisRun = 0;

  for (let attempt = 0; ; ) {
    const batchStarted = Date.now();
    let seen: number;
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${options.lockTimeoutMs}`);
      await client.query(`SET LOCAL tidal.backfill = 'on'`);
      // `up` expressions resolve unqualified names in the application schema.
      await client.query(`SET LOCAL search_path = ${ident(schema)}, pg_catalog`);
      const result = await client.query<{ seen: number; updated: number; last: string[] | null }>(
        batchSql(last === null),
        last === null ? [options.batchSize] : [...last, options.batchSize],
      );
      const batch = result.rows[0] ?? { seen: 0, updated: 0, last: null };
      seen = batch.seen;
      if (batch.last) last = batch.last;
      rowsDone += seen;
      rowsTotal = Math.max(rowsTotal, rowsDone);
      await client.query(
        `UPDATE ${state} SET last_key = $4, rows_done = $5, rows_total = $6, done = $7, updated_at = now()
          WHERE schema = $1 AND migration = $2 AND table_name = $3`,
        [
          schema,
          migration,
          spec.table,
          JSON.stringify(last),
          rowsDone,
          rowsTotal,
          seen < options.batchSize,
        ],
      );
      await client.query('COMMIT');
      attempt = 0;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      const code = (error as { code?: string }).code;
      if (code && RETRYABLE.has(code) && attempt < 50) {
        await sleep(backoffDelay(attempt++));
        continue;
      }
      throw new OperationError(`backfill of "${spec.table}" failed: ${(error as Error).message}`);
    }
    doneThisRun += seen;
    const elapsed = (Date.now() - started) / 1000;
    const done = seen < options.batchSize;
    options.onProgress?.({
      table: spec.table,
      rowsDone,
      rowsTotal: done ? rowsDone : rowsTotal,
      rowsPerSecond: elapsed > 0 ? doneThisRun / elapsed : 0,
      done,
    });
    if (done) return;
    if (options.rowsPerSecond) {
      const minimumMs = (seen / options.rowsPerSecond) * 1000;
      const spent = Date.now() - batchStarted;
      if (minimumMs > spent) await sleep(minimumMs - spent);
    }
  }
}

async function keyTypes(
  client: pg.Client,
  schema: string,
  table: string,
  key: string[],
): Promise<string[]> {
  const { rows } = await client.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = to_regclass($1) AND attname = ANY($2)`,
    [`${ident(schema)}.${ident(table)}`, key],
  );
  return key.map((k) => {
    const type = rows.find((r) => r.name === k)?.type;
    if (!type) throw new OperationError(`backfill: key column "${k}" of "${table}" not found`);
    return type;
  });
}
