import type pg from 'pg';
import { parenthesize } from '../engine/expressions.js';
import type { BackfillSpec } from '../engine/model.js';
import { NEEDS_BACKFILL_COLUMN } from '../engine/names.js';
import { OperationError } from '../errors.js';
import { backoffDelay, sleep } from '../executor/backoff.js';
import { ident } from '../pg/quote.js';
import { BatchSizer } from './batch-size.js';
import { BackfillControl } from './control.js';
import type { Throttler } from './throttle.js';

export interface BackfillOptions {
  schema: string;
  stateSchema: string;
  migration: string;
  /** Rows in the first batch; later ones are sized to last about `batchTargetMs`. */
  batchSize: number;
  /** How long one batch should take (its transaction holds row locks that long). */
  batchTargetMs?: number;
  /** Rows per second ceiling; undefined for no ceiling. `tidal backfill rate` overrides it. */
  rowsPerSecond?: number;
  lockTimeoutMs: number;
  onProgress?: (progress: BackfillProgress) => void;
  onNotice?: (message: string) => void;
  /** Signals that hold the backfill (replica lag, busy primary). */
  throttler?: Throttler;
}

export interface BackfillProgress {
  table: string;
  rowsDone: number;
  rowsTotal: number;
  rowsPerSecond: number;
  done: boolean;
  /** Rows the next batch takes. */
  batchSize: number;
  /** How long the last batch took, in milliseconds (null while none ran in this process). */
  lastBatchMs: number | null;
  /** Why the backfill is slowed or stopped right now, if it is. */
  throttle: string | null;
}

/** How often a paused backfill looks for `tidal backfill resume`. */
const PAUSE_POLL_MS = 250;
/** How long a throttled backfill waits before it reads its signals again. */
const THROTTLE_WAIT_MS = 1000;

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
  const sizer = new BatchSizer(options.batchSize, options.batchTargetMs);
  const quiet = await canSilenceTriggers(client);
  options.onNotice?.(
    quiet
      ? `backfill of "${spec.table}": the table's own triggers do not fire for backfilled rows (session_replication_role = replica)`
      : `backfill of "${spec.table}": the table's own triggers fire for each backfilled row (tidal may not set session_replication_role; a superuser, or GRANT SET ON PARAMETER session_replication_role, lets it skip them)`,
  );
  const control = new BackfillControl(client, stateSchema, schema, migration);
  const set = [
    ...spec.set.map((s) => `${ident(s.column)} = ${parenthesize(s.expression)}`),
    `${ident(NEEDS_BACKFILL_COLUMN)} = false`,
  ].join(', ');
  // The batch's key range first (an index-only walk of at most `limit` keys), then one UPDATE
  // over that range: an index range scan of the heap, not a join against a list of keys. The
  // range's columns get names of tidal's own, so `up` cannot mistake them for the table's.
  const bounds = spec.key.map((_, i) => `_tidal_k${i}`);
  const descending = spec.key.map((k) => `${ident(k)} DESC`).join(', ');
  const row = (alias: string, names: string[]) => names.map((k) => `${alias}.${k}`).join(', ');
  const tableKey = row(table, spec.key.map(ident));
  const lastKey = `json_build_array(${bounds.map((k) => `_tidal_b.${k}::text`).join(', ')})`;
  const batchSql = (first: boolean) => `
    WITH bound AS MATERIALIZED (
      SELECT count(*)::int AS _tidal_seen,
             ${spec.key.map((k, i) => `(array_agg(${ident(k)} ORDER BY ${descending}))[1] AS ${bounds[i]}`).join(', ')}
        FROM (SELECT ${keyList} FROM ${table}
               ${first ? '' : `WHERE (${keyList}) > (${params})`}
               ORDER BY ${keyList} LIMIT ${first ? '$1' : limit}) keys
    ), updated AS (
      UPDATE ${table} SET ${set}
        FROM bound _tidal_b
       WHERE ${first ? '' : `(${tableKey}) > (${params}) AND `}(${tableKey}) <= (${row('_tidal_b', bounds)})
         AND ${table}.${ident(NEEDS_BACKFILL_COLUMN)}
       RETURNING 1
    )
    SELECT _tidal_b._tidal_seen AS seen, (SELECT count(*) FROM updated)::int AS updated,
           CASE WHEN _tidal_b._tidal_seen > 0 THEN ${lastKey} END AS last
      FROM bound _tidal_b`;

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

  let lastBatchMs: number | null = null;
  const report = (done: boolean, throttle: string | null) => {
    const elapsed = (Date.now() - started) / 1000;
    options.onProgress?.({
      table: spec.table,
      rowsDone,
      rowsTotal: done ? rowsDone : rowsTotal,
      rowsPerSecond: elapsed > 0 ? doneThisRun / elapsed : 0,
      done,
      batchSize: sizer.next,
      lastBatchMs,
      throttle,
    });
  };

  for (let attempt = 0; ; ) {
    const command = await control.read();
    if (command.paused) {
      report(false, 'paused (tidal backfill resume continues)');
      await recordThrottle('paused');
      await sleep(PAUSE_POLL_MS);
      continue;
    }
    const held = await options.throttler?.reason();
    if (held) {
      report(false, held);
      await recordThrottle(held);
      await sleep(THROTTLE_WAIT_MS);
      continue;
    }
    const rate = command.rowsPerSecond ?? options.rowsPerSecond;
    // Under a ceiling, a batch is at most a second's worth, so a pause or rate change is obeyed
    // within about a second.
    const batchSize = rate ? sizer.cap(rate) : sizer.next;
    const throttle = rate ? `rate ${rate} rows/s` : null;
    const batchStarted = Date.now();
    let seen: number;
    try {
      await client.query('BEGIN');
      // One round trip for the batch's settings; `up` expressions resolve unqualified names in
      // the application schema.
      await client.query(
        `SELECT set_config('lock_timeout', $1, true), set_config('tidal.backfill', 'on', true),
                set_config('search_path', $2, true)${quiet ? `, set_config('session_replication_role', 'replica', true)` : ''}`,
        [String(options.lockTimeoutMs), `${ident(schema)}, pg_catalog`],
      );
      const result = await client.query<{ seen: number; updated: number; last: string[] | null }>(
        batchSql(last === null),
        last === null ? [batchSize] : [...last, batchSize],
      );
      const batch = result.rows[0] ?? { seen: 0, updated: 0, last: null };
      seen = batch.seen;
      if (batch.last) last = batch.last;
      rowsDone += seen;
      rowsTotal = Math.max(rowsTotal, rowsDone);
      const elapsed = (Date.now() - started) / 1000;
      await client.query(
        `UPDATE ${state} SET last_key = $4, rows_done = $5, rows_total = $6, done = $7,
                batch_size = $8, rows_per_second = $9, throttle = $10, updated_at = now()
          WHERE schema = $1 AND migration = $2 AND table_name = $3`,
        [
          schema,
          migration,
          spec.table,
          JSON.stringify(last),
          rowsDone,
          rowsTotal,
          seen < batchSize,
          batchSize,
          elapsed > 0 ? (doneThisRun + seen) / elapsed : null,
          throttle,
        ],
      );
      await client.query('COMMIT');
      attempt = 0;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      const code = (error as { code?: string }).code;
      if (code && RETRYABLE.has(code) && attempt < 50) {
        report(false, 'waiting: rows locked by the application');
        await sleep(backoffDelay(attempt++));
        continue;
      }
      throw new OperationError(`backfill of "${spec.table}" failed: ${(error as Error).message}`);
    }
    const spent = Date.now() - batchStarted;
    lastBatchMs = spent;
    sizer.record(seen, spent);
    doneThisRun += seen;
    const done = seen < batchSize;
    report(done, throttle);
    if (done) return;
    if (rate) {
      const minimumMs = (seen / rate) * 1000;
      if (minimumMs > spent) await sleep(minimumMs - spent);
    }
  }

  async function recordThrottle(throttle: string): Promise<void> {
    await client.query(
      `UPDATE ${state} SET throttle = $4, updated_at = now()
        WHERE schema = $1 AND migration = $2 AND table_name = $3`,
      [schema, migration, spec.table, throttle],
    );
  }
}

/**
 * Whether this session may set `session_replication_role = replica` for its batches, so that
 * the application's triggers (an `updated_at` stamp, an audit log) do not fire for rows the
 * backfill only gives a new column. Foreign key triggers are skipped too, which is safe here:
 * the backfill changes no key the application set, and tidal's own new foreign keys are
 * validated after the backfill.
 */
async function canSilenceTriggers(client: pg.Client): Promise<boolean> {
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    return true;
  } catch {
    return false;
  } finally {
    await client.query('ROLLBACK').catch(() => {});
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
