import type pg from 'pg';
import type { OpenConnection } from '../executor/blockers.js';
import { parenthesize } from '../model/expressions.js';
import { NEEDS_BACKFILL_COLUMN } from '../model/names.js';
import type { BackfillSpec } from '../model/version-model.js';
import { ident, qualifiedName } from '../pg/quote.js';
import { BatchSizer } from './batch-size.js';
import { canSilenceTriggers, runBatches } from './batches.js';
import {
  BackfillCheckpoint,
  type BackfillPass,
  type PassState,
  type SegmentState,
} from './checkpoint.js';
import { BackfillControl } from './control.js';
import { BackfillGate } from './gate.js';
import type { SignalStatus, Throttler } from './throttle.js';
import { VerificationError, type VerifyTarget, verifiableColumns, verifyBatch } from './verify.js';
import {
  TableRewritten,
  type TableWalk,
  type WalkPosition,
  walkByLocation,
  walkFor,
} from './walk.js';
import {
  type BackfillWorkers,
  segmentCount,
  WorkerConnections,
  walkSegments,
  workersFor,
} from './workers.js';

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
  /** Workers filling (and verifying) segments of the table at once (default 1). */
  workers?: BackfillWorkers;
  /** Opens a connection for a worker; without it one worker runs on `client`. */
  openWorker?: OpenConnection;
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

/** One batch of a pass, on a worker's connection, over the walk of its segment. */
type PassBatch = (
  client: pg.Client,
  walk: TableWalk,
  from: WalkPosition | null,
  rows: number,
) => Promise<WalkBatchResult>;

/** The walk a pass takes, given the segments stored for it (none when it first begins) and
 *  where it resumes. */
type OpenPassWalk = (stored: SegmentState[], resumed: PassState) => Promise<TableWalk>;

export interface BackfillProgress {
  table: string;
  /** `fill` writes the new columns; `verify` checks them afterwards. */
  pass: BackfillPass;
  rowsDone: number;
  rowsTotal: number;
  rowsPerSecond: number;
  done: boolean;
  /** Rows the next batch takes (of the worker that reports). */
  batchSize: number;
  /** How long the last batch took, in milliseconds (null while none ran in this process). */
  lastBatchMs: number | null;
  /** Why the backfill is slowed or stopped right now, if it is. */
  throttle: string | null;
  /** Workers running the pass. */
  workers: number;
  /** What each throttle signal read last, with its limits. */
  signals: SignalStatus[];
}

/**
 * Fills the new columns of one table's existing rows, one batch per short transaction, then
 * verifies them. Rows are walked by a unique key (keyset pagination, never OFFSET) or, without
 * one, by physical location. Each pass is split into segments, which one or more workers take
 * in turn; each batch stores its segment's position in the state schema in the same
 * transaction, so an interrupted backfill resumes where it stopped, with any number of
 * workers. Rows any version wrote since the triggers went in have their mark cleared and are
 * skipped.
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
  const counted = `${mark} IS NOT NULL`;
  const walk = await walkFor(client, schema, spec.table, spec.key, counted);
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

  // A pass begins again from the start when a location walk finds the table rewritten.
  const pass = async (
    name: BackfillPass,
    resumed: PassState,
    openWalk: OpenPassWalk,
    batch: PassBatch,
  ) => {
    for (let from = resumed; ; ) {
      try {
        return await walkPass(name, from, openWalk, batch);
      } catch (error) {
        if (!(error instanceof TableRewritten)) throw error;
        options.onNotice?.(`${error.message}: the ${name} pass walks it again from the start`);
        await checkpoint.restart(name);
        from = (await checkpoint.open())[name];
      }
    }
  };

  const walkPass = async (
    name: BackfillPass,
    resumed: PassState,
    openWalk: OpenPassWalk,
    batch: PassBatch,
  ) => {
    const requested = await workersFor(client, options.workers ?? 1, rowsTotal);
    const stored = await checkpoint.segments(name);
    const passWalk = await openWalk(stored, resumed);
    const segments =
      stored.length > 0
        ? stored
        : await checkpoint.createSegments(
            name,
            await passWalk.split(client, segmentCount(rowsTotal, requested)),
            resumed,
          );
    let left = segments.filter((s) => !s.done).length;
    const clients = await connections.take(Math.min(requested, left));
    const workers = clients.length;
    let rows = resumed.rows;
    let rowsThisRun = 0;
    let lastBatchMs: number | null = null;
    const started = Date.now();
    const rate = () => {
      const elapsed = (Date.now() - started) / 1000;
      return elapsed > 0 ? rowsThisRun / elapsed : 0;
    };
    const report = (done: boolean, throttle: string | null, batchSize: number) =>
      options.onProgress?.({
        table: spec.table,
        pass: name,
        rowsDone: rows,
        rowsTotal: done ? rows : Math.max(rowsTotal, rows),
        rowsPerSecond: rate(),
        done,
        batchSize,
        lastBatchMs,
        throttle,
        workers,
        signals: options.throttler?.lastReadings() ?? [],
      });
    const onWait = async (reason: string, recorded: string) => {
      report(false, reason, options.batchSize);
      await checkpoint.recordThrottle(recorded);
    };
    const gate = new BackfillGate(
      new BackfillControl(client, stateSchema, schema, migration),
      options.throttler,
      options.rowsPerSecond,
      onWait,
    );
    // Each worker sizes its own batches: a segment costs what its rows cost.
    const sizers = clients.map(() => new BatchSizer(options.batchSize, options.batchTargetMs));
    await walkSegments(clients, segments, async (worker, segment, stopped) => {
      const segmentWalk = passWalk.within(segment.segment);
      const saved = new BackfillCheckpoint(worker, stateSchema, schema, migration, spec.table);
      const sizer = sizers[clients.indexOf(worker)] as BatchSizer;
      let position = segment.position;
      await runBatches({
        client: worker,
        schema,
        table: spec.table,
        gate,
        workers,
        sizer,
        lockTimeoutMs: options.lockTimeoutMs,
        openObserver: options.openObserver,
        quiet,
        onWait,
        stopped,
        async batch(size, throttle) {
          const from = position;
          const result = await batch(worker, segmentWalk, from, size);
          const next = result.position ?? from;
          segmentWalk.record(from, next, result.seen);
          const finished = segmentWalk.finished(next, result.seen, size);
          await saved.save(name, {
            segment: segment.index,
            position: next,
            seen: result.seen,
            done: finished,
            batchSize: size,
            rowsPerSecond: rate(),
            throttle,
            workers,
          });
          // Only once the batch is sure to commit (a retried batch counts nothing).
          position = next;
          if (finished) left--;
          rows += result.seen;
          rowsTotal = Math.max(rowsTotal, rows);
          rowsThisRun += result.seen;
          return { seen: result.seen, finished };
        },
        onBatch(_seen, ms, _finished, throttle) {
          lastBatchMs = ms;
          // The pass's last batch is reported as the pass done, once that is recorded.
          if (left > 0) report(false, throttle, sizer.next);
        },
      });
    });
    await checkpoint.finish(name);
    if (name === 'fill') rowsTotal = rows;
    report(true, null, options.batchSize);
  };

  const fill = () =>
    pass(
      'fill',
      state.fill,
      // Opened for each start of the pass: after a rewrite, a location walk of the new file.
      () => walkFor(client, schema, spec.table, spec.key, counted),
      async (worker, segmentWalk, from, rows) => {
        const range = segmentWalk.range(from, rows);
        const { rows: result } = await worker.query<WalkBatchResult & { intact: boolean }>(
          `WITH bound AS MATERIALIZED (${range.bound}), filled AS (
             UPDATE ${table} SET ${set} FROM bound _tidal_b
              WHERE ${range.inRange(table)} AND ${mark}
           )
           SELECT _tidal_b._tidal_seen AS seen, ${range.position} AS position, ${range.intact} AS intact
             FROM bound _tidal_b`,
          range.values,
        );
        if (result[0] && !result[0].intact) throw new TableRewritten(spec.table);
        return result[0] ?? { seen: 0, position: null };
      },
    );

  const verify = async () => {
    const columns = await verifiableColumns(client, schema, spec.table, spec.set);
    for (const { column, reason } of columns.skipped) {
      options.onNotice?.(`verification of "${spec.table}" skips column "${column}": ${reason}`);
    }
    const target: VerifyTarget = {
      table,
      fill: set,
      mark,
      columns: columns.checked,
      sampleKey: walk.rowKey(table),
    };
    let missed = 0;
    await pass(
      'verify',
      state.verify,
      // By location, each page read once (a new walk: it covers the pages the fill added). A
      // pass an older tidal began by key goes on by key: its segments start at no key.
      (stored, resumed) =>
        stored.some((s) => s.segment.start === null) || (stored.length === 0 && resumed.position)
          ? walkFor(client, schema, spec.table, spec.key)
          : walkByLocation(client, schema, spec.table),
      async (worker, segmentWalk, from, rows) => {
        const finding = await verifyBatch(worker, segmentWalk, target, from, rows);
        if (!finding.intact) throw new TableRewritten(spec.table);
        missed += finding.missed;
        if (finding.mismatched > 0) throw new VerificationError(spec.table, finding);
        return finding;
      },
    );
    if (missed > 0) {
      options.onNotice?.(
        `verification of "${spec.table}" filled ${missed} rows the fill had not reached (moved during the walk, e.g. by VACUUM FULL or CLUSTER)`,
      );
    }
  };

  const connections = new WorkerConnections(client, options.openWorker, options.onNotice);
  try {
    if (!state.fill.done) await fill();
    if (options.verify !== false) await verify();
  } finally {
    await connections.close();
  }
}
