// @ts-check
/** What the benches share: progress lines, flag parsing, a throwaway database, and the `items`
 *  table the backfill benches seed and update in bulk. */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

export const benchStarted = performance.now();

/** A progress line on stderr, with the time since the bench started. */
export function say(/** @type {string} */ message) {
  const elapsed = ((performance.now() - benchStarted) / 1000).toFixed(1).padStart(7);
  process.stderr.write(`[${elapsed}s] ${message}\n`);
}

/** A flag's value as a positive integer (`1_000_000` allowed); exit 2 naming the flag otherwise. */
export function positiveInt(/** @type {string} */ text, /** @type {string} */ flag) {
  const value = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value <= 0) {
    process.stderr.write(`${flag}: expected a positive integer, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return value;
}

export async function openClient(/** @type {string} */ url) {
  const client = new pg.Client({ connectionString: url, application_name: 'tidal-bench' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * A fresh database on the server of `flagUrl`, else DATABASE_URL, else an embedded PostgreSQL
 * started for the bench. Dropping it (and stopping the server) is pushed onto `cleanups`.
 * @param {string | undefined} flagUrl
 * @param {Array<() => Promise<unknown>>} cleanups
 */
export async function benchDatabase(flagUrl, cleanups) {
  let serverUrl = flagUrl ?? (process.env.DATABASE_URL || undefined);
  let where = flagUrl ? '--url' : 'DATABASE_URL';
  if (!serverUrl) {
    say('no DATABASE_URL: starting an embedded PostgreSQL');
    const { startEmbeddedPostgres } = await import('../dist/pg/embedded.js');
    const server = await startEmbeddedPostgres();
    cleanups.push(() => server.stop());
    serverUrl = server.url;
    where = 'embedded';
  }
  const name = `tidal_bench_${randomBytes(6).toString('hex')}`;
  const admin = await openClient(serverUrl);
  cleanups.push(() => admin.end());
  await admin.query(`CREATE DATABASE ${name}`);
  cleanups.push(async () => {
    say(`dropping database ${name}`);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  say(`created database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return { url: url.toString(), where };
}

/** The middle of `values` (the mean of the two middle ones for an even count). */
export function median(/** @type {number[]} */ values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? Number.NaN) + upper) / 2;
}

export const fmtInt = (/** @type {number} */ n) => Math.round(n).toLocaleString('en-US');
export const fmtSec = (/** @type {number} */ s) => s.toFixed(2);

/** Rows of cells as aligned text; the first column left-aligned, the others right-aligned. */
export function table(/** @type {string[][]} */ rows) {
  const widths = /** @type {string[]} */ (rows[0]).map((_, i) =>
    Math.max(...rows.map((r) => (r[i] ?? '').length)),
  );
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('   ')
        .trimEnd(),
    )
    .map((line) => `  ${line}`)
    .join('\n');
}

/** The machine a bench ran on, for its report. */
export function machineFacts() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: os.totalmem() / 2 ** 30,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    node: process.version,
  };
}

/** The report's line about the machine. */
export function machineLine(/** @type {ReturnType<typeof machineFacts>} */ m) {
  return `machine     ${m.cpus} x ${m.cpuModel}, ${m.memoryGiB.toFixed(1)} GiB RAM, ${m.platform}, Node ${m.node}`;
}

/**
 * What a bench undoes when it ends or is interrupted (Ctrl-C), newest first: push onto
 * `cleanups`, call `cleanup` once at the end.
 */
export function cleanupOnExit() {
  /** @type {Array<() => Promise<unknown>>} */
  const cleanups = [];
  /** @type {Promise<void> | undefined} */
  let cleaning;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const step of cleanups.reverse()) await step().catch(() => {});
    })();
    return cleaning;
  };
  process.once('SIGINT', () => {
    say('interrupted: cleaning up');
    cleanup().finally(() => process.exit(130));
  });
  return { cleanups, cleanup };
}

/** CHECKPOINT before a timed step, so it does not pay for the previous step's writes; skipped
 *  (once said) where the role may not. */
export class Checkpointer {
  constructor(/** @type {pg.Client} */ db) {
    this.db = db;
    this.allowed = true;
  }

  async run() {
    if (!this.allowed) return;
    try {
      await this.db.query('CHECKPOINT');
    } catch (error) {
      this.allowed = false;
      say(`CHECKPOINT not allowed (${/** @type {Error} */ (error).message}); timing without it`);
    }
  }
}

/**
 * A fresh `table (id bigint primary key, payload text, n int)` of `rows` rows, vacuumed and
 * analyzed as a long-lived table would be, then checkpointed.
 * @param {pg.Client} db
 * @param {string} table
 * @param {number} rows
 * @param {Checkpointer} checkpointer
 */
export async function seedItems(db, table, rows, checkpointer) {
  const started = performance.now();
  say(`seeding ${table}: ${fmtInt(rows)} rows`);
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(`CREATE TABLE ${table} (id bigint NOT NULL, payload text, n int)`);
  await db.query(
    `INSERT INTO ${table} SELECT g, md5(g::text), (g % 1000)::int FROM generate_series(1, $1::bigint) g`,
    [rows],
  );
  // The key after loading: one index build instead of a row-by-row one.
  await db.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
  await db.query(`VACUUM ANALYZE ${table}`);
  await checkpointer.run();
  say(`seeded ${table} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * The physical limit of a backfill: one `UPDATE table SET n2 = n * 2` of every row, after adding
 * the column. Its time and rows/s.
 * @param {pg.Client} db
 * @param {string} table
 * @param {number} rows
 * @param {Checkpointer} checkpointer
 */
export async function bulkUpdateItems(db, table, rows, checkpointer) {
  await db.query(`ALTER TABLE ${table} ADD COLUMN n2 int`);
  await checkpointer.run();
  say(`bulk UPDATE ${table} SET n2 = n * 2 (${fmtInt(rows)} rows)`);
  const started = performance.now();
  const result = await db.query(`UPDATE ${table} SET n2 = n * 2`);
  const seconds = (performance.now() - started) / 1000;
  if (result.rowCount !== rows) throw new Error(`bulk UPDATE touched ${result.rowCount} rows`);
  say(`bulk UPDATE took ${seconds.toFixed(2)} s`);
  return { seconds, rowsPerSecond: rows / seconds };
}

/** The migration the backfill and trigger benches start on an `items`-shaped table: a column
 *  `n2` that the backfill and the dual-write trigger fill with `up: n * 2`. */
export const addN2Migration = (/** @type {string} */ table) => `operations:
  - add_column:
      table: ${table}
      up: n * 2
      column:
        name: n2
        type: int
        nullable: true
`;

/**
 * `statement` timed in a transaction that is rolled back, after `setup` in the same
 * transaction (a trigger disabled or replaced, say): its seconds, its row count, and the first
 * row of `check`, a query run after it in the transaction. `table` is compacted first (VACUUM
 * FULL) and a checkpoint taken, so every run finds it in the same shape and pays for no earlier
 * run's writes.
 * @param {pg.Client} db
 * @param {Checkpointer} checkpointer
 * @param {string} table
 * @param {{ setup?: string[], statement: string, params?: unknown[], check?: string }} run
 */
export async function rolledBackRun(
  db,
  checkpointer,
  table,
  { setup = [], statement, params, check },
) {
  await db.query(`VACUUM FULL ${table}`);
  await checkpointer.run();
  await db.query('BEGIN');
  try {
    for (const sql of setup) await db.query(sql);
    const started = performance.now();
    const result = await db.query(statement, params);
    const seconds = (performance.now() - started) / 1000;
    const checked = check === undefined ? undefined : (await db.query(check)).rows[0];
    return { seconds, rows: result.rowCount ?? 0, checked };
  } finally {
    await db.query('ROLLBACK');
  }
}

/** The server settings a backfill bench's figures depend on. */
export async function postgresFacts(/** @type {pg.Client} */ db, /** @type {string} */ where) {
  const setting = async (/** @type {string} */ name) =>
    (await db.query(`SELECT current_setting($1) AS v`, [name])).rows[0].v;
  return {
    version: await setting('server_version'),
    where,
    sharedBuffers: await setting('shared_buffers'),
    fsync: await setting('fsync'),
    synchronousCommit: await setting('synchronous_commit'),
    maxWalSize: await setting('max_wal_size'),
  };
}
