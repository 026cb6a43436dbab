import type pg from 'pg';
import type { OpenConnection } from '../executor/blockers.js';
import { parenthesize } from '../model/expressions.js';
import { NEEDS_BACKFILL_COLUMN } from '../model/names.js';
import type { BackfillSpec } from '../model/version-model.js';
import { ident, qualifiedName } from '../pg/quote.js';
import { BatchSizer } from './batch-size.js';
import { canSilenceTriggers, runBatches } from './batches.js';
import { BackfillCheckpoint, type BackfillPass, type PassState } from './checkpoint.js';
import { BackfillControl } from './control.js';
import type { Throttler } from './throttle.js';
import { VerificationError, verifiableColumns, verifyBatch } from './verify.js';
import { type TableWalk, type WalkPosition, walkFor } from './walk.js';

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
  /** Check every filled row against `up` after the fill (default true). */
  verify?: boolean;
  onProgress?: (progress: BackfillProgress) => void;
  onNotice?: (message: string) => void;
  /** Signals that hold the backfill (replica lag, busy primary). */
  throttler?: Throttler;
  /** A second connection to watch a batch waiting on locked rows from, to name their holder. */
  openObserver?: OpenConnection;
}

/** What one batch reports: the rows its range held, and where the walk stands after it. */
interface WalkBatchResult {
  seen: number;
  position: WalkPosition | null;
}

export interface BackfillProgress {
  table: string;
  /** `fill` writes the new columns; `verify` checks them afterwards. */
  pass: BackfillPass;
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

/**
 * Fills the new columns of one table's existing rows, one batch per short transaction, then
 * verifies them. Rows are walked by a unique key (keyset pagination, never OFFSET) or, without
 * one, by physical location. Each batch stores its position in the state schema in the same
 * transaction, so an interrupted backfill resumes where it stopped. Rows any version wrote
 * since the triggers went in have their mark cleared and are skipped.
 */
export async function runBackfill(
  client: pg.Client,
  spec: BackfillSpec,
  options: BackfillOptions,
): Promise<void> {
  const { schema, stateSchema, migration } = options;
  const checkpoint = new BackfillCheckpoint(client, stateSchema, schema, migration, spec.table);
  const state = await checkpoint.open();
  if (state.fill.done && (state.verify.done || options.verify === false)) return;
  const table = qualifiedName(schema, spec.table);
  const mark = `${table}.${ident(NEEDS_BACKFILL_COLUMN)}`;
  // Rows the fill has written (NULL mark) may sit ahead of a location walk: not counted again.
  const walk = await walkFor(client, schema, spec.table, spec.key, `${mark} IS NOT NULL`);
  const quiet = await canSilenceTriggers(client);
  if (!state.fill.done) {
    options.onNotice?.(
      `backfill of "${spec.table}" walks rows ${walk.description}; ${
        quiet
          ? `the table's own triggers do not fire for backfilled rows (session_replication_role = replica)`
          : `the table's own triggers fire for each backfilled row (tidal may not set session_replication_role; a superuser, or GRANT SET ON PARAMETER session_replication_role, lets it skip them)`
      }`,
    );
  }
  // Filled rows get a NULL mark, rows the application writes get false (see NEEDS_BACKFILL_COLUMN).
  const set = [
    ...spec.set.map((s) => `${ident(s.column)} = ${parenthesize(s.expression)}`),
    `${ident(NEEDS_BACKFILL_COLUMN)} = NULL`,
  ].join(', ');
  let rowsTotal = state.rowsTotal;

  const pass = async (
    name: BackfillPass,
    progress: PassState,
    walker: TableWalk,
    batch: (from: WalkPosition | null, rows: number) => Promise<WalkBatchResult>,
  ) => {
    const sizer = new BatchSizer(options.batchSize, options.batchTargetMs);
    let position = progress.position;
    let rows = progress.rows;
    let rowsThisRun = 0;
    let lastBatchMs: number | null = null;
    const started = Date.now();
    const rate = () => {
      const elapsed = (Date.now() - started) / 1000;
      return elapsed > 0 ? rowsThisRun / elapsed : 0;
    };
    const report = (done: boolean, throttle: string | null) =>
      options.onProgress?.({
        table: spec.table,
        pass: name,
        rowsDone: rows,
        rowsTotal: done ? rows : Math.max(rowsTotal, rows),
        rowsPerSecond: rate(),
        done,
        batchSize: sizer.next,
        lastBatchMs,
        throttle,
      });
    await runBatches({
      client,
      schema,
      table: spec.table,
      control: new BackfillControl(client, stateSchema, schema, migration),
      throttler: options.throttler,
      sizer,
      rowsPerSecond: options.rowsPerSecond,
      lockTimeoutMs: options.lockTimeoutMs,
      openObserver: options.openObserver,
      quiet,
      async onWait(reason, recorded) {
        report(false, reason);
        if (recorded) await checkpoint.recordThrottle(recorded);
      },
      async batch(size, throttle) {
        const from = position;
        const result = await batch(from, size);
        const next = result.position ?? from;
        walker.record(from, next, result.seen);
        const finished = walker.finished(next, result.seen, size);
        const rowsAfter = rows + result.seen;
        rowsTotal = Math.max(rowsTotal, rowsAfter);
        await checkpoint.save(name, {
          position: next,
          rows: rowsAfter,
          rowsTotal: finished && name === 'fill' ? rowsAfter : rowsTotal,
          done: finished,
          batchSize: size,
          rowsPerSecond: rate(),
          throttle,
        });
        // Only once the batch is sure to commit (a retried batch counts nothing).
        position = next;
        rows = rowsAfter;
        rowsThisRun += result.seen;
        return { seen: result.seen, finished };
      },
      onBatch(_seen, ms, finished, throttle) {
        lastBatchMs = ms;
        if (finished && name === 'fill') rowsTotal = rows;
        report(finished, throttle);
      },
    });
  };

  if (!state.fill.done) {
    await pass('fill', state.fill, walk, async (from, rows) => {
      const range = walk.range(from, rows);
      const { rows: result } = await client.query<WalkBatchResult>(
        `WITH bound AS MATERIALIZED (${range.bound}), filled AS (
           UPDATE ${table} SET ${set} FROM bound _tidal_b
            WHERE ${range.inRange(table)} AND ${mark}
         )
         SELECT _tidal_b._tidal_seen AS seen, ${range.position} AS position FROM bound _tidal_b`,
        range.values,
      );
      return result[0] ?? { seen: 0, position: null };
    });
  }
  if (options.verify === false) return;

  // A new walk: a location walk covers the pages the fill added to the table.
  const verifyWalk = await walkFor(client, schema, spec.table, spec.key);
  const columns = await verifiableColumns(client, schema, spec.table, spec.set);
  for (const { column, reason } of columns.skipped) {
    options.onNotice?.(`verification of "${spec.table}" skips column "${column}": ${reason}`);
  }
  let missed = 0;
  await pass('verify', state.verify, verifyWalk, async (from, rows) => {
    const finding = await verifyBatch(
      client,
      verifyWalk,
      table,
      set,
      mark,
      columns.checked,
      from,
      rows,
    );
    missed += finding.missed;
    if (finding.mismatched > 0) throw new VerificationError(spec.table, finding);
    return finding;
  });
  if (missed > 0) {
    options.onNotice?.(
      `verification of "${spec.table}" filled ${missed} rows the fill had not reached (moved during the walk, e.g. by VACUUM FULL or CLUSTER)`,
    );
  }
}
