// @ts-check
/**
 * `npm run bench:backfill`: how fast tidal's backfill is next to the physical limit, whether it
 * keeps its pace as tables grow, and what the dual-write trigger costs writers. It prints
 * figures and never fails on them.
 *
 *   1. A bulk `UPDATE items SET n2 = n * 2` (one statement) against tidal's backfill of the same
 *      expression (an `add_column` with `up: n * 2`), on the same freshly seeded table.
 *   2. tidal's backfill rows/s on tables of several sizes, and the spread between them.
 *   3. A bulk `UPDATE ... SET payload = payload || 'x'` over a range of rows, rolled back, with
 *      no migration active, and with the migration active: with its dual-write trigger and,
 *      the baseline of the trigger's own cost, on the same table with the trigger disabled in
 *      the rolled-back transaction (the migration's two new columns then cost both runs alike).
 *      `npm run bench:trigger` breaks the trigger's cost down further.
 *
 * Runs against a fresh database on the server of DATABASE_URL (or --url), or on an embedded
 * PostgreSQL when neither is given; the database is dropped at the end. Imports the built
 * library from dist/, so run `npm run build` first (the npm script does).
 *
 * Flags: --rows N (default 2000000), --sizes a,b,c (default 100000,1000000,5000000),
 * --update-rows N (default 500000), --repeat N (default 3), --batch-size N and --batch-ms N
 * (tidal's defaults), --url URL, --json. Progress goes to stderr; figures to stdout.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadMigrationFile, Tidal } from '../dist/index.js';
import { SYNC_TRIGGER } from '../dist/model/names.js';
import { ident } from '../dist/pg/quote.js';
import {
  addN2Migration,
  benchDatabase,
  benchStarted,
  bulkUpdateItems,
  Checkpointer,
  cleanupOnExit,
  fmtInt,
  fmtSec,
  machineFacts,
  machineLine,
  median,
  openClient,
  positiveInt,
  postgresFacts,
  rolledBackRun,
  say,
  seedItems,
  table,
} from './common.mjs';

const USAGE = `usage: npm run bench:backfill -- [options]
  --rows N          rows of the table for the bulk comparison and trigger overhead (2000000)
  --sizes A,B,C     table sizes for the scaling run (100000,1000000,5000000; "" skips it)
  --update-rows N   rows the trigger-overhead UPDATE touches (500000, at most --rows)
  --repeat N        runs of each trigger-overhead UPDATE; the median is reported (3)
  --batch-size N    tidal's backfill batch size, or first batch size (tidal's default)
  --batch-ms N      tidal's target milliseconds per backfill batch, where the build has
                    the option (backfillBatchMs; tidal's default when not given)
  --url URL         server to create the bench database on (default DATABASE_URL, else embedded)
  --json            print the figures as JSON instead of tables`;

const TARGET_RATIO = 0.8;
const TARGET_SPREAD = 0.2;
const TARGET_OVERHEAD = 1.5;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '2000000' },
      sizes: { type: 'string', default: '100000,1000000,5000000' },
      'update-rows': { type: 'string', default: '500000' },
      repeat: { type: 'string', default: '3' },
      'batch-size': { type: 'string' },
      'batch-ms': { type: 'string' },
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const rows = positiveInt(values.rows, '--rows');
  const sizes = values.sizes
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => positiveInt(s, '--sizes'));
  return {
    rows,
    sizes,
    updateRows: Math.min(positiveInt(values['update-rows'], '--update-rows'), rows),
    repeat: positiveInt(values.repeat, '--repeat'),
    batchSize:
      values['batch-size'] === undefined
        ? undefined
        : positiveInt(values['batch-size'], '--batch-size'),
    batchMs:
      values['batch-ms'] === undefined ? undefined : positiveInt(values['batch-ms'], '--batch-ms'),
    url: values.url,
    json: values.json,
  };
}

const seconds = (/** @type {number} */ startedMs) => (performance.now() - startedMs) / 1000;

/** The bench: a database, a plain client on it, and a Tidal whose events land in `recorder`. */
class Bench {
  /**
   * @param {pg.Client} db
   * @param {import('../dist/index.js').Tidal} tidal
   * @param {string} dir temporary directory for migration files
   * @param {{ recorder: Recorder | undefined }} events
   */
  constructor(db, tidal, dir, events) {
    this.db = db;
    this.tidal = tidal;
    this.dir = dir;
    this.events = events;
    this.checkpointer = new Checkpointer(db);
  }

  /** A fresh `items`-shaped table of `rows` rows (see seedItems). */
  seed(/** @type {string} */ table, /** @type {number} */ rows) {
    return seedItems(this.db, table, rows, this.checkpointer);
  }

  /** The physical limit: one `UPDATE` of every row with the backfill's expression. */
  bulkUpdate(/** @type {string} */ table, /** @type {number} */ rows) {
    return bulkUpdateItems(this.db, table, rows, this.checkpointer);
  }

  checkpoint() {
    return this.checkpointer.run();
  }

  /** tidal start of the `add_column` migration on `table`; the migration stays active. */
  async startMigration(/** @type {string} */ table, /** @type {number} */ rows) {
    const file = join(this.dir, `bench_${table}.yaml`);
    await writeFile(file, addN2Migration(table));
    const loaded = await loadMigrationFile(file);
    await this.checkpoint();
    const recorder = new Recorder(rows);
    this.events.recorder = recorder;
    say(`tidal start: add_column n2 (up: n * 2) on ${table}, ${fmtInt(rows)} rows`);
    const started = performance.now();
    try {
      await this.tidal.start(loaded);
    } finally {
      this.events.recorder = undefined;
    }
    const startSeconds = seconds(started);
    const backfill = recorder.backfillSeconds();
    if (backfill === undefined) throw new Error('tidal start reported no backfill phase');
    if (recorder.rowsDone !== rows) {
      throw new Error(`the backfill reported ${recorder.rowsDone} rows done, expected ${rows}`);
    }
    const verify = recorder.verifySeconds();
    say(
      `tidal start took ${startSeconds.toFixed(2)} s, of which backfill ${backfill.toFixed(2)} s and verification ${verify.toFixed(2)} s`,
    );
    return {
      seconds: backfill,
      verifySeconds: verify,
      rowsPerSecond: rows / backfill,
      reportedRowsPerSecond: recorder.reportedRowsPerSecond,
      batches: recorder.batchSizes.length || null,
      maxBatchSize: recorder.batchSizes.length ? Math.max(...recorder.batchSizes) : null,
      startSeconds,
    };
  }

  async rollback() {
    const started = performance.now();
    await this.tidal.rollback();
    const elapsed = seconds(started);
    say(`tidal rollback took ${elapsed.toFixed(2)} s`);
    return elapsed;
  }

  /**
   * `UPDATE table SET payload = payload || 'x'` over the first `rows` ids, rolled back, `repeat`
   * times for each case, the cases in turn; a case's `setup` runs first in its transaction.
   * Each run starts from a compacted table and a checkpoint (rolledBackRun).
   * @param {string} table
   * @param {number} rows
   * @param {number} repeat
   * @param {{ label: string, setup?: string[] }[]} cases
   */
  async rolledBackUpdates(table, rows, repeat, cases) {
    const times = cases.map(() => /** @type {number[]} */ ([]));
    for (let i = 0; i < repeat; i++) {
      for (const [c, { label, setup }] of cases.entries()) {
        const run = await rolledBackRun(this.db, this.checkpointer, table, {
          setup,
          statement: `UPDATE ${table} SET payload = payload || 'x' WHERE id <= $1::bigint`,
          params: [rows],
        });
        if (run.rows !== rows) throw new Error(`UPDATE touched ${run.rows} rows`);
        times[c]?.push(run.seconds);
        say(
          `UPDATE ${fmtInt(rows)} rows ${label}, run ${i + 1}/${repeat}: ${fmtSec(run.seconds)} s`,
        );
      }
    }
    return times.map((runs) => ({ runs, median: median(runs) }));
  }
}

/** Collects one start's events: when the backfill phase began and ended, and its last report. */
class Recorder {
  constructor(/** @type {number} */ rows) {
    this.rows = rows;
    /** @type {number | undefined} */
    this.backfillStarted = undefined;
    /** @type {number | undefined} */
    this.backfillEnded = undefined;
    /** When the fill pass finished; the verification pass runs from then to backfillEnded. */
    /** @type {number | undefined} */
    this.fillEnded = undefined;
    this.rowsDone = 0;
    this.reportedRowsPerSecond = 0;
    /** Batch sizes tidal reported, where the build reports them (adaptive batches). */
    /** @type {number[]} */
    this.batchSizes = [];
    this.nextReport = 0.1;
  }

  /** @param {import('../dist/index.js').TidalEvent} event */
  onEvent(event) {
    const now = performance.now();
    if (event.type === 'phase') {
      if (event.phase === 'backfill') this.backfillStarted = now;
      else if (this.backfillStarted !== undefined && this.backfillEnded === undefined)
        this.backfillEnded = now;
    } else if (event.type === 'backfill') {
      if (event.pass === 'verify') {
        if (event.done) say(`  verified ${fmtInt(event.rowsDone)} rows`);
        return;
      }
      if (event.done) this.fillEnded = now;
      this.rowsDone = event.rowsDone;
      this.reportedRowsPerSecond = event.rowsPerSecond;
      const batchSize = /** @type {{ batchSize?: unknown }} */ (event).batchSize;
      if (typeof batchSize === 'number') this.batchSizes.push(batchSize);
      const fraction = event.rowsDone / this.rows;
      if (fraction >= this.nextReport || event.done) {
        say(
          `  backfill ${event.table}: ${fmtInt(event.rowsDone)}/${fmtInt(this.rows)} rows, ${fmtInt(event.rowsPerSecond)} rows/s${typeof batchSize === 'number' ? `, next batch ${fmtInt(batchSize)} rows` : ''}`,
        );
        while (this.nextReport <= fraction) this.nextReport += 0.1;
      }
    } else if (event.type === 'notice') {
      say(`  tidal: ${event.message}`);
    }
  }

  /** The fill pass: the work a bulk UPDATE does. */
  backfillSeconds() {
    const end = this.fillEnded ?? this.backfillEnded;
    if (this.backfillStarted === undefined || end === undefined) return undefined;
    return (end - this.backfillStarted) / 1000;
  }

  /** The verification pass after the fill (0 when it did not run). */
  verifySeconds() {
    if (this.fillEnded === undefined || this.backfillEnded === undefined) return 0;
    return (this.backfillEnded - this.fillEnded) / 1000;
  }
}

const fmtPct = (/** @type {number} */ f) => `${(f * 100).toFixed(1)}%`;
const verdict = (/** @type {boolean} */ met) => (met ? 'met' : 'NOT met');

/** @param {Record<string, any>} r */
function render(r) {
  const lines = [];
  lines.push('tidal backfill benchmark', '');
  lines.push(machineLine(r.machine));
  lines.push(
    `postgres    ${r.postgres.version} (${r.postgres.where}); shared_buffers ${r.postgres.sharedBuffers}, fsync ${r.postgres.fsync}, synchronous_commit ${r.postgres.synchronousCommit}, max_wal_size ${r.postgres.maxWalSize}`,
  );
  lines.push(
    `backfill    batch size ${r.settings.batchSize ?? 'tidal default'}, batch ms ${r.settings.batchMs ?? 'tidal default'}`,
  );
  lines.push('');

  const b = r.bulkVsBackfill;
  lines.push(`1. Backfill against a bulk UPDATE (${fmtInt(b.rows)} rows, n2 = n * 2)`);
  lines.push(
    table([
      ['', 'seconds', 'rows/s'],
      ['bulk UPDATE (one statement)', fmtSec(b.bulk.seconds), fmtInt(b.bulk.rowsPerSecond)],
      ['tidal backfill (fill)', fmtSec(b.backfill.seconds), fmtInt(b.backfill.rowsPerSecond)],
      [
        'tidal verification pass',
        fmtSec(b.backfill.verifySeconds),
        b.backfill.verifySeconds > 0 ? fmtInt(b.rows / b.backfill.verifySeconds) : '-',
      ],
      ['tidal start, whole', fmtSec(b.backfill.startSeconds), ''],
    ]),
  );
  lines.push(
    `  throughput ratio (backfill / bulk): ${b.ratio.toFixed(2)}x   target >= ${TARGET_RATIO}x: ${verdict(b.ratio >= TARGET_RATIO)}`,
  );
  lines.push(
    `  (tidal's own last progress event said ${fmtInt(b.backfill.reportedRowsPerSecond)} rows/s${b.backfill.batches ? `; ${fmtInt(b.backfill.batches)} batches, largest ${fmtInt(b.backfill.maxBatchSize)} rows` : ''})`,
  );
  lines.push('');

  const s = r.scaling;
  if (s.sizes.length > 0) {
    lines.push('2. Backfill rows/s by table size');
    lines.push(
      table([
        ['rows', 'seconds', 'rows/s', 'batches'],
        ...s.sizes.map((/** @type {any} */ x) => [
          fmtInt(x.rows),
          fmtSec(x.seconds),
          fmtInt(x.rowsPerSecond),
          x.batches ? fmtInt(x.batches) : '-',
        ]),
      ]),
    );
    if (s.sizes.length > 1) {
      lines.push(
        `  spread (max/min - 1): ${fmtPct(s.spread)}   target <= ${fmtPct(TARGET_SPREAD)}: ${verdict(s.spread <= TARGET_SPREAD)}`,
      );
    }
    lines.push('');
  }

  const o = r.triggerOverhead;
  lines.push(
    `3. Write overhead of the dual-write trigger: UPDATE ... SET payload = payload || 'x' of ${fmtInt(o.rows)} rows, rolled back (median of ${o.repeat})`,
  );
  lines.push(
    table([
      ['', 'seconds', 'rows/s', 'runs (s)'],
      [
        'no migration active',
        fmtSec(o.without.median),
        fmtInt(o.rows / o.without.median),
        o.without.runs.map(fmtSec).join(' '),
      ],
      [
        'migration active, trigger disabled',
        fmtSec(o.disabled.median),
        fmtInt(o.rows / o.disabled.median),
        o.disabled.runs.map(fmtSec).join(' '),
      ],
      [
        'migration active',
        fmtSec(o.with.median),
        fmtInt(o.rows / o.with.median),
        o.with.runs.map(fmtSec).join(' '),
      ],
    ]),
  );
  lines.push(
    `  the trigger's cost (active / trigger disabled, same table): ${o.triggerRatio.toFixed(2)}x   target < ${TARGET_OVERHEAD}x: ${verdict(o.triggerRatio < TARGET_OVERHEAD)}`,
    `  slowdown against the table before the migration (active / none, its new columns included): ${o.ratio.toFixed(2)}x`,
  );
  lines.push('');
  lines.push(`total bench time ${r.totalSeconds.toFixed(0)} s`);
  return lines.join('\n');
}

async function main() {
  const options = parseOptions();
  const { cleanups, cleanup } = cleanupOnExit();

  try {
    const { url, where } = await benchDatabase(options.url, cleanups);

    const db = await openClient(url);
    cleanups.push(() => db.end());
    const dir = await mkdtemp(join(os.tmpdir(), 'tidal-bench-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    /** @type {{ recorder: Recorder | undefined }} */
    const events = { recorder: undefined };
    const tidal = await Tidal.connect({
      connectionString: url,
      backfillBatchSize: options.batchSize,
      backfillBatchMs: options.batchMs,
      onEvent: (event) => events.recorder?.onEvent(event),
    });
    cleanups.push(() => tidal.close());
    const bench = new Bench(db, tidal, dir, events);

    const report = {
      machine: machineFacts(),
      postgres: await postgresFacts(db, where),
      settings: {
        rows: options.rows,
        sizes: options.sizes,
        updateRows: options.updateRows,
        repeat: options.repeat,
        batchSize: options.batchSize ?? null,
        batchMs: options.batchMs ?? null,
      },
      /** @type {any} */ bulkVsBackfill: undefined,
      /** @type {any} */ scaling: undefined,
      /** @type {any} */ triggerOverhead: undefined,
      totalSeconds: 0,
    };
    say(
      `${report.machine.cpus} x ${report.machine.cpuModel}, PostgreSQL ${report.postgres.version} (${where})`,
    );

    // 1. The bulk UPDATE on a fresh table, then the same table seeded again for tidal, with the
    //    trigger-overhead runs without a migration first and with the migration active after.
    await bench.seed('items', options.rows);
    const bulk = await bench.bulkUpdate('items', options.rows);
    await bench.seed('items', options.rows);
    const [without] = await bench.rolledBackUpdates('items', options.updateRows, options.repeat, [
      { label: 'without migration' },
    ]);
    // Back to the shape a fresh seed has: compact heap, fresh statistics, visibility map set.
    await db.query('VACUUM FULL items');
    await db.query('VACUUM ANALYZE items');
    const backfill = await bench.startMigration('items', options.rows);
    report.bulkVsBackfill = {
      rows: options.rows,
      bulk,
      backfill,
      ratio: backfill.rowsPerSecond / bulk.rowsPerSecond,
    };
    const [active, disabled] = await bench.rolledBackUpdates(
      'items',
      options.updateRows,
      options.repeat,
      [
        { label: 'with the migration active' },
        {
          label: 'with the migration active, its trigger disabled',
          setup: [`ALTER TABLE items DISABLE TRIGGER ${ident(SYNC_TRIGGER)}`],
        },
      ],
    );
    if (!without || !active || !disabled) throw new Error('a trigger-overhead run is missing');
    report.triggerOverhead = {
      rows: options.updateRows,
      repeat: options.repeat,
      without,
      with: active,
      disabled,
      ratio: active.median / without.median,
      triggerRatio: active.median / disabled.median,
    };
    await bench.rollback();
    await db.query('DROP TABLE items');

    // 2. Scaling: one table per size, each seeded fresh and dropped afterwards.
    const sizes = [];
    for (const rows of options.sizes) {
      const name = `items_${rows}`;
      await bench.seed(name, rows);
      const result = await bench.startMigration(name, rows);
      sizes.push({
        rows,
        seconds: result.seconds,
        rowsPerSecond: result.rowsPerSecond,
        batches: result.batches,
      });
      await bench.rollback();
      await db.query(`DROP TABLE ${name}`);
    }
    const rates = sizes.map((x) => x.rowsPerSecond);
    report.scaling = {
      sizes,
      spread: rates.length > 0 ? Math.max(...rates) / Math.min(...rates) - 1 : 0,
    };

    report.totalSeconds = seconds(benchStarted);
    process.stdout.write(
      options.json ? `${JSON.stringify(report, null, 2)}\n` : `${render(report)}\n`,
    );
  } finally {
    await cleanup();
  }
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
