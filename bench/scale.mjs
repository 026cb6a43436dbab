// @ts-check
/**
 * `npm run bench:scale`: tidal's backfill on a large table, next to one bulk UPDATE of the same
 * expression in the same run. It seeds `items` with --rows rows, times `UPDATE items SET n2 =
 * n * 2` (one statement), drops it, seeds it again and runs `tidal start` of an `add_column`
 * with `up: n * 2`: the fill, then the verification pass. For each it prints rows/s over the
 * whole pass and per tenth of the table, the WAL written and the checkpoints the WAL volume
 * forced, and tidal's peak memory (this process's resident set: tidal runs in it). It prints
 * figures and never fails on them.
 *
 * Runs against a fresh database on the server of DATABASE_URL (or --url), or on an embedded
 * PostgreSQL when neither is given; the database is dropped at the end. Imports the built
 * library from dist/ (the npm script builds it first).
 *
 * tidal runs once for each entry of --workers (default `1,auto`), on a table seeded again for
 * each, so one worker and several are compared in one run.
 *
 * Flags: --rows N (default 10000000; the scale is 100000000), --workers LIST, --batch-size
 * N and --batch-ms N (tidal's defaults), --no-verify, --url URL, --json. Progress goes to stderr,
 * figures to stdout.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadMigrationFile, Tidal } from '../dist/index.js';
import {
  benchDatabase,
  benchStarted,
  bulkUpdateItems,
  Checkpointer,
  cleanupOnExit,
  fmtInt,
  fmtSec,
  machineFacts,
  machineLine,
  openClient,
  positiveInt,
  postgresFacts,
  say,
  seedItems,
  table,
} from './common.mjs';

const USAGE = `usage: npm run bench:scale -- [options]
  --rows N          rows of the table (10000000; 100000000 is the scale the targets are for)
  --workers LIST    backfill workers of each tidal run, comma-separated numbers or auto (1,auto)
  --batch-size N    tidal's first backfill batch size (tidal's default)
  --batch-ms N      tidal's target milliseconds per batch (tidal's default)
  --no-verify       skip the verification pass
  --url URL         server to create the bench database on (default DATABASE_URL, else embedded)
  --json            print the figures as JSON instead of tables`;

const TABLE = 'items';
const MIGRATION = `operations:
  - add_column:
      table: ${TABLE}
      up: n * 2
      column:
        name: n2
        type: int
        nullable: true
`;

/** The targets the figures are held to (at 100M rows). */
const TARGETS = { fill: 0.9, verifyOverFill: 2, start: 0.8, flat: 0.2 };

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '10000000' },
      workers: { type: 'string', default: '1,auto' },
      'batch-size': { type: 'string' },
      'batch-ms': { type: 'string' },
      'no-verify': { type: 'boolean', default: false },
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
  const optional = (/** @type {string | undefined} */ v, /** @type {string} */ flag) =>
    v === undefined ? undefined : positiveInt(v, flag);
  return {
    rows: positiveInt(values.rows, '--rows'),
    workers: values.workers
      .split(',')
      .map((w) => (w.trim() === 'auto' ? 'auto' : positiveInt(w.trim(), '--workers'))),
    batchSize: optional(values['batch-size'], '--batch-size'),
    batchMs: optional(values['batch-ms'], '--batch-ms'),
    verify: !values['no-verify'],
    url: values.url,
    json: values.json,
  };
}

/** WAL written and checkpoints requested so far (forced by WAL volume, or asked for). */
class WalMeter {
  constructor(/** @type {import('pg').Client} */ db, /** @type {number} */ serverVersion) {
    this.db = db;
    // PostgreSQL 17 moved the checkpoint counters to pg_stat_checkpointer.
    this.checkpoints =
      serverVersion >= 170000
        ? 'SELECT num_requested AS n FROM pg_stat_checkpointer'
        : 'SELECT checkpoints_req AS n FROM pg_stat_bgwriter';
  }

  /** @returns {Promise<{ lsn: string, checkpoints: number }>} */
  async read() {
    const { rows } = await this.db.query(
      `SELECT pg_current_wal_lsn()::text AS lsn, (${this.checkpoints})::bigint AS checkpoints`,
    );
    return { lsn: rows[0].lsn, checkpoints: Number(rows[0].checkpoints) };
  }

  /** What was written between two readings. The bench's own CHECKPOINTs are not taken in
   *  between, so every checkpoint counted was forced by WAL volume. */
  async between(
    /** @type {{ lsn: string, checkpoints: number }} */ from,
    /** @type {{ lsn: string, checkpoints: number }} */ to,
  ) {
    const { rows } = await this.db.query('SELECT pg_wal_lsn_diff($1, $2)::bigint AS bytes', [
      to.lsn,
      from.lsn,
    ]);
    return { walBytes: Number(rows[0].bytes), checkpoints: to.checkpoints - from.checkpoints };
  }

  /** What was written since a reading. */
  async since(/** @type {{ lsn: string, checkpoints: number }} */ from) {
    return this.between(from, await this.read());
  }
}

/** One pass of the backfill, from tidal's progress events: when it began and when it crossed
 *  each tenth of the table. */
class PassTimeline {
  constructor(/** @type {number} */ rows, /** @type {number} */ startedAt) {
    this.rows = rows;
    this.startedAt = startedAt;
    /** @type {number[]} when rowsDone first reached k/10 of the rows, k = 1..10 */
    this.tenths = [];
    /** @type {number | undefined} */
    this.endedAt = undefined;
    /** @type {number | undefined} when the last progress event came */
    this.lastAt = undefined;
    this.rowsDone = 0;
  }

  progress(/** @type {number} */ rowsDone, /** @type {boolean} */ done, /** @type {number} */ now) {
    const [lastAt, lastRows] = [this.lastAt ?? this.startedAt, this.rowsDone];
    while (this.tenths.length < 10 && rowsDone >= ((this.tenths.length + 1) / 10) * this.rows) {
      // A batch that crosses a tenth crossed it part of the way through: interpolated.
      const mark = ((this.tenths.length + 1) / 10) * this.rows;
      const part = rowsDone > lastRows ? (mark - lastRows) / (rowsDone - lastRows) : 1;
      this.tenths.push(lastAt + part * (now - lastAt));
      say(`  ${fmtInt(rowsDone)}/${fmtInt(this.rows)} rows`);
    }
    this.rowsDone = rowsDone;
    this.lastAt = now;
    if (done) this.endedAt = now;
  }

  seconds() {
    return ((this.endedAt ?? performance.now()) - this.startedAt) / 1000;
  }

  /** Rows/s in each tenth of the table. */
  rowsPerSecondByTenth() {
    return this.tenths.map((at, k) => {
      const from = k === 0 ? this.startedAt : (this.tenths[k - 1] ?? this.startedAt);
      return this.rows / 10 / Math.max((at - from) / 1000, 1e-6);
    });
  }
}

/** Samples this process's memory while tidal runs in it. */
class MemoryPeak {
  constructor() {
    this.rss = 0;
    this.heap = 0;
    this.timer = setInterval(() => this.sample(), 200);
  }

  sample() {
    const { rss, heapUsed } = process.memoryUsage();
    this.rss = Math.max(this.rss, rss);
    this.heap = Math.max(this.heap, heapUsed);
  }

  stop() {
    clearInterval(this.timer);
    this.sample();
    return { rssMiB: this.rss / 2 ** 20, heapMiB: this.heap / 2 ** 20 };
  }
}

/** The spread of per-tenth rows/s: max / min - 1. */
const spread = (/** @type {number[]} */ rates) =>
  rates.length > 1 ? Math.max(...rates) / Math.min(...rates) - 1 : 0;

/**
 * tidal start of the add_column on `items`, with each pass's timeline and the WAL it wrote.
 * @param {Tidal} tidal
 * @param {{ onEvent: ((event: import('../dist/index.js').TidalEvent) => void) | undefined }} events
 * @param {WalMeter} wal
 * @param {string} file
 * @param {number} rows
 */
async function tidalStart(tidal, events, wal, file, rows) {
  /** @type {Record<string, PassTimeline>} */
  const passes = {};
  /** @type {Record<string, Promise<{ lsn: string, checkpoints: number }>>} */
  const walAt = {};
  walAt.start = wal.read();
  let workers = 0;
  events.onEvent = (event) => {
    const now = performance.now();
    if (event.type === 'phase' && event.phase === 'backfill') walAt.fill = wal.read();
    if (event.type !== 'backfill') return;
    if (!passes[event.pass]) {
      say(`tidal ${event.pass} pass`);
      // The fill begins with the backfill phase; the verification when the fill is done.
      passes[event.pass] = new PassTimeline(rows, passes.fill?.endedAt ?? now);
    }
    passes[event.pass]?.progress(event.rowsDone, event.done, now);
    workers = Math.max(workers, event.workers);
    if (event.done && event.pass === 'fill') walAt.verify = wal.read();
  };
  const memory = new MemoryPeak();
  const started = performance.now();
  try {
    await tidal.start(await loadMigrationFile(file));
  } finally {
    events.onEvent = undefined;
  }
  const startSeconds = (performance.now() - started) / 1000;
  const peak = memory.stop();
  const walOf = async (/** @type {string} */ from, /** @type {string | undefined} */ to) => {
    const begin = await walAt[from];
    if (!begin) return undefined;
    if (!to) return wal.since(begin);
    const end = await walAt[to];
    return end && wal.between(begin, end);
  };
  const pass = async (/** @type {string} */ name, /** @type {string | undefined} */ next) => {
    const timeline = passes[name];
    if (!timeline) return undefined;
    const seconds = timeline.seconds();
    const byTenth = timeline.rowsPerSecondByTenth();
    return {
      seconds,
      rowsPerSecond: timeline.rowsDone / seconds,
      byTenth,
      spread: spread(byTenth),
      ...(await walOf(name, next)),
    };
  };
  return {
    workers,
    startSeconds,
    fill: await pass('fill', passes.verify ? 'verify' : undefined),
    verify: await pass('verify', undefined),
    whole: await walOf('start', undefined),
    memory: peak,
  };
}

const gib = (/** @type {number | undefined} */ bytes) =>
  bytes === undefined ? '-' : (bytes / 2 ** 30).toFixed(2);
const verdict = (/** @type {boolean} */ met) => (met ? 'met' : 'NOT met');

/** @param {Record<string, any>} r */
function render(r) {
  const { bulk, runs, rows } = r;
  const lines = ['tidal backfill at scale', '', machineLine(r.machine)];
  lines.push(
    `postgres    ${r.postgres.version} (${r.postgres.where}); shared_buffers ${r.postgres.sharedBuffers}, max_wal_size ${r.postgres.maxWalSize}, fsync ${r.postgres.fsync}`,
    `table       ${TABLE}(id bigint primary key, payload text, n int), ${fmtInt(rows)} rows, ${gib(r.tableBytes)} GiB; batch size ${r.settings.batchSize ?? 'default'}, batch ms ${r.settings.batchMs ?? 'default'}`,
    '',
  );
  const ratio = (/** @type {number} */ rps) => `${(rps / bulk.rowsPerSecond).toFixed(2)}x`;
  const label = (/** @type {Record<string, any>} */ t) =>
    `${t.workers} worker${t.workers === 1 ? '' : 's'}${t.asked === 'auto' ? ' (auto)' : ''}`;
  const passRow = (/** @type {string} */ name, /** @type {Record<string, any>} */ p) => [
    name,
    fmtSec(p.seconds),
    fmtInt(p.rowsPerSecond),
    ratio(p.rowsPerSecond),
    gib(p.walBytes),
    String(p.checkpoints ?? '-'),
  ];
  lines.push(
    table([
      ['', 'seconds', 'rows/s', 'x bulk', 'WAL GiB', 'checkpoints forced'],
      [
        'bulk UPDATE (one statement)',
        fmtSec(bulk.seconds),
        fmtInt(bulk.rowsPerSecond),
        '1.00x',
        gib(bulk.walBytes),
        String(bulk.checkpoints),
      ],
      ...runs.flatMap((/** @type {Record<string, any>} */ t) => [
        passRow(`tidal fill, ${label(t)}`, t.fill),
        ...(t.verify ? [passRow(`tidal verification, ${label(t)}`, t.verify)] : []),
        [
          `tidal start, whole, ${label(t)}`,
          fmtSec(t.startSeconds),
          fmtInt(rows / t.startSeconds),
          ratio(rows / t.startSeconds),
          gib(t.whole?.walBytes),
          String(t.whole?.checkpoints ?? '-'),
        ],
      ]),
    ]),
    '',
  );
  lines.push('rows/s per tenth of the table:');
  lines.push(
    table([
      ['', ...Array.from({ length: 10 }, (_, k) => `${k + 1}/10`), 'spread'],
      ...runs.flatMap((/** @type {Record<string, any>} */ t) =>
        [
          [`fill, ${label(t)}`, t.fill],
          [`verification, ${label(t)}`, t.verify],
        ]
          .filter(([, p]) => p)
          .map(([name, p]) => [
            name,
            ...p.byTenth.map((/** @type {number} */ v) => fmtInt(v)),
            `${(p.spread * 100).toFixed(0)}%`,
          ]),
      ),
    ]),
    '',
  );
  for (const t of runs) {
    const startRps = rows / t.startSeconds;
    lines.push(
      `targets, ${label(t)}: fill >= ${TARGETS.fill}x bulk: ${verdict(t.fill.rowsPerSecond / bulk.rowsPerSecond >= TARGETS.fill)}; ` +
        (t.verify
          ? `verification >= ${TARGETS.verifyOverFill}x fill: ${verdict(t.verify.rowsPerSecond >= TARGETS.verifyOverFill * t.fill.rowsPerSecond)}; `
          : '') +
        `start >= ${TARGETS.start}x bulk: ${verdict(startRps / bulk.rowsPerSecond >= TARGETS.start)}; ` +
        `per-tenth spread <= ${TARGETS.flat * 100}%: ${verdict([t.fill, t.verify].every((p) => !p || p.spread <= TARGETS.flat))}`,
      `memory, ${label(t)}: tidal's process peak ${t.memory.rssMiB.toFixed(0)} MiB resident, ${t.memory.heapMiB.toFixed(0)} MiB heap`,
    );
  }
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
    const dir = await mkdtemp(join(os.tmpdir(), 'tidal-bench-scale-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'add_n2.yaml');
    await writeFile(file, MIGRATION);
    /** @type {{ onEvent: ((event: import('../dist/index.js').TidalEvent) => void) | undefined }} */
    const events = { onEvent: undefined };
    const checkpointer = new Checkpointer(db);
    const serverVersion = Number(
      (await db.query('SHOW server_version_num')).rows[0].server_version_num,
    );
    const wal = new WalMeter(db, serverVersion);
    const machine = machineFacts();
    const postgres = await postgresFacts(db, where);
    say(`${machine.cpus} x ${machine.cpuModel}, PostgreSQL ${postgres.version} (${where})`);

    await seedItems(db, TABLE, options.rows, checkpointer);
    const tableBytes = Number((await db.query(`SELECT pg_table_size($1) AS b`, [TABLE])).rows[0].b);
    const walBefore = await wal.read();
    const bulk = {
      ...(await bulkUpdateItems(db, TABLE, options.rows, checkpointer)),
      ...(await wal.since(walBefore)),
    };
    const runs = [];
    for (const workers of options.workers) {
      await db.query(`DROP TABLE ${TABLE}`);
      await seedItems(db, TABLE, options.rows, checkpointer);
      const tidal = await Tidal.connect({
        connectionString: url,
        backfillBatchSize: options.batchSize,
        backfillBatchMs: options.batchMs,
        backfillVerify: options.verify,
        backfillWorkers: workers,
        onEvent: (event) => events.onEvent?.(event),
      });
      try {
        say(`tidal start, --backfill-workers ${workers}`);
        runs.push({
          asked: workers,
          ...(await tidalStart(tidal, events, wal, file, options.rows)),
        });
        say('tidal rollback');
        await tidal.rollback();
      } finally {
        await tidal.close();
      }
    }

    const report = {
      machine,
      postgres,
      settings: {
        batchSize: options.batchSize ?? null,
        batchMs: options.batchMs ?? null,
        verify: options.verify,
      },
      rows: options.rows,
      tableBytes,
      bulk,
      runs,
      totalSeconds: (performance.now() - benchStarted) / 1000,
    };
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
