// @ts-check
/**
 * `npm run bench:trigger`: what the dual-write trigger costs the application's writes, next to
 * the same writes with the trigger disabled, on the same table in the same state, in one run.
 * It prints figures and never fails on them.
 *
 * It seeds `items (id bigint primary key, payload text, n int)`, runs `tidal start` of an
 * `add_column` with `up: n * 2` (the migration stays active), then times, each in a transaction
 * that is rolled back after a VACUUM FULL and a checkpoint, as the old version (a session that
 * names no version):
 *   - `UPDATE items SET payload = payload || 'x'`: a column neither `up` nor `down` reads;
 *   - `UPDATE items SET n = n + 1`: a column `up` reads;
 *   - `INSERT` of as many new rows;
 * once per trigger variant, set up inside the transaction, the runs of all variants taken in
 * turn. The variants: tidal's trigger as start installs it; the same function fired by every
 * UPDATE (what tidal falls back to, and what it always did before); and variants tried and not
 * adopted, written out here for this migration: one function per direction chosen by the
 * trigger's WHEN, the writing version told once per statement, a bare PL/pgSQL assignment, and
 * an empty PL/pgSQL trigger. Each figure is the median run's, and its ratio is to the same
 * statement with the trigger disabled.
 *
 * Runs against a fresh database on the server of DATABASE_URL (or --url), or on an embedded
 * PostgreSQL when neither is given; the database is dropped at the end. Imports the built
 * library from dist/, so run `npm run build` first (the npm script does).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadMigrationFile, Tidal } from '../dist/index.js';
import { NEEDS_BACKFILL_COLUMN, newColumnName, SYNC_TRIGGER } from '../dist/model/names.js';
import { ident, literal } from '../dist/pg/quote.js';
import {
  addN2Migration,
  benchDatabase,
  benchStarted,
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

const USAGE = `usage: npm run bench:trigger -- [options]
  --rows N     rows of the table; each statement writes as many (200000)
  --repeat N   runs of each statement and variant; the median is reported (3)
  --url URL    server to create the bench database on (default DATABASE_URL, else embedded)
  --json       print the figures as JSON instead of a table`;

/** The issue's target for the trigger's cost to a write. */
const TARGET_OVERHEAD = 1.3;

const TABLE = 'items';
/** The migration's name, and so its version: `tidal.version` and the version schema. */
const VERSION = 'trigger_bench';
const VERSION_SCHEMA = `public_${VERSION}`;

const N2 = ident(newColumnName('n2'));
const MARK = ident(NEEDS_BACKFILL_COLUMN);
const ON_TABLE = `${ident('public')}.${ident(TABLE)}`;
/** tidal's WHEN: the backfill's own writes skip the trigger. */
const BACKFILL_OFF = `current_setting('tidal.backfill', true) IS DISTINCT FROM 'on'`;
/** Whether the session says it is the new version, as tidal's function tells it. */
const CLAIM = `coalesce(coalesce(nullif(current_setting('tidal.version', true), '') IN (${literal(VERSION)}, ${literal(VERSION_SCHEMA)}), (current_schemas(false))[1] = ${literal(VERSION_SCHEMA)}), false)`;
/** The columns tidal's trigger fires for on this table: what `up` reads, the new column, the key. */
const SYNCED = `n, ${N2}, id`;

/** The statements, as the old version writes them. */
function statements(/** @type {number} */ rows) {
  const insert = `INSERT INTO ${ident(TABLE)} (id, payload, n) SELECT g, md5(g::text), (g % 1000)::int FROM generate_series(${rows + 1}, ${2 * rows}) g`;
  return [
    {
      key: 'unread',
      label: 'UPDATE of a column no up reads',
      sql: `UPDATE ${ident(TABLE)} SET payload = payload || 'x'`,
    },
    {
      key: 'read',
      label: 'UPDATE of a column up reads',
      sql: `UPDATE ${ident(TABLE)} SET n = n + 1`,
    },
    { key: 'insert', label: 'INSERT', sql: insert },
  ];
}

/** A trigger of the variants, `events` firing `fn`, when `when`. */
function trigger(
  /** @type {string} */ name,
  /** @type {string} */ events,
  /** @type {string} */ fn,
  /** @type {string | undefined} */ when = BACKFILL_OFF,
  level = 'ROW',
) {
  return `CREATE TRIGGER ${ident(name)} BEFORE ${events} ON ${ON_TABLE} FOR EACH ${level}${when ? ` WHEN (${when})` : ''} EXECUTE FUNCTION ${fn}()`;
}

/** The bench's own schema, for the variants' functions. */
const BENCH_SCHEMA = 'bench';
const benchFunction = (/** @type {string} */ name) => `${ident(BENCH_SCHEMA)}.${ident(name)}`;

/** A PL/pgSQL trigger function of the bench's own schema. */
function plpgsql(/** @type {string} */ name, /** @type {string} */ body) {
  return `CREATE FUNCTION ${benchFunction(name)}() RETURNS trigger LANGUAGE plpgsql AS ${literal(`\n${body}\n`)}`;
}

/**
 * The variants: `setup` runs in the timed statement's transaction (so the migration's own
 * trigger is back after it); `syncs` when the variant keeps `n2` at `n * 2` (checked).
 * @param {import('pg').Client} db
 */
async function variants(db) {
  const installed = await db.query(
    `SELECT tgfoid::regprocedure::text AS fn, pg_get_triggerdef(oid) AS definition
       FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2`,
    [ON_TABLE, SYNC_TRIGGER],
  );
  const { fn, definition } = installed.rows[0] ?? {};
  if (!fn) throw new Error(`tidal start installed no ${SYNC_TRIGGER} trigger on ${TABLE}`);
  const tidalFunction = fn.replace(/\(\)$/, '');
  const body = (await db.query(`SELECT prosrc FROM pg_proc WHERE oid = $1::regprocedure`, [fn]))
    .rows[0].prosrc;
  if (!body.includes(CLAIM))
    throw new Error(`tidal's function tells the writer otherwise: ${body}`);
  const drop = `DROP TRIGGER ${ident(SYNC_TRIGGER)} ON ${ON_TABLE}`;
  await db.query(`CREATE SCHEMA ${ident(BENCH_SCHEMA)}`);
  const fillUp = `NEW.${N2} := NEW.n * 2;\n  NEW.${MARK} := false;\n  RETURN NEW;`;
  await db.query(plpgsql('empty', 'BEGIN\n  RETURN NEW;\nEND'));
  await db.query(plpgsql('bare', `BEGIN\n  ${fillUp}\nEND`));
  // One function per direction: the trigger's WHEN tells the writer, each body only assigns.
  await db.query(plpgsql('up', `BEGIN\n  ${fillUp}\nEND`));
  await db.query(
    plpgsql(
      'down',
      `BEGIN
  IF TG_OP = 'UPDATE' AND OLD.${MARK} AND NEW.${N2} IS NOT DISTINCT FROM OLD.${N2} THEN
    NEW.${N2} := NEW.n * 2;
  END IF;
  NEW.${MARK} := false;
  RETURN NEW;
END`,
    ),
  );
  // The writer told once per statement: a statement trigger keeps it in a setting of the
  // transaction, tidal's function reads that instead of asking the session each row.
  const writerSetting = literal('tidal.bench_writer');
  await db.query(
    plpgsql(
      'writer',
      `BEGIN\n  PERFORM set_config(${writerSetting}, ${CLAIM}::text, true);\n  RETURN NULL;\nEND`,
    ),
  );
  await db.query(
    plpgsql('told', body.replaceAll(CLAIM, `current_setting(${writerSetting}) = 'true'`)),
  );
  const newWrites = (/** @type {string} */ op) =>
    op === 'INSERT'
      ? `NEW.${N2} IS NOT NULL OR ${CLAIM}`
      : `NEW.${N2} IS DISTINCT FROM OLD.${N2} OR ${CLAIM}`;
  return {
    definition,
    list: [
      {
        key: 'none',
        label: 'trigger disabled (the baseline)',
        syncs: false,
        setup: [`ALTER TABLE ${ON_TABLE} DISABLE TRIGGER ${ident(SYNC_TRIGGER)}`],
      },
      {
        key: 'tidal',
        label: "tidal's trigger, UPDATE OF the columns it syncs",
        syncs: true,
        setup: [],
      },
      {
        key: 'every',
        label: "tidal's function on every UPDATE (the fallback; before)",
        syncs: true,
        setup: [drop, trigger(SYNC_TRIGGER, 'INSERT OR UPDATE', tidalFunction)],
      },
      {
        key: 'split',
        label: 'one function per direction, WHEN picks it',
        syncs: true,
        setup: [
          drop,
          ...['INSERT', `UPDATE OF ${SYNCED}`].flatMap((events) => {
            const op = events.split(' ')[0] ?? '';
            return [
              trigger(
                `~tidal_sync_${op}_new`,
                events,
                benchFunction('down'),
                `${BACKFILL_OFF} AND (${newWrites(op)})`,
              ),
              trigger(
                `~tidal_sync_${op}_old`,
                events,
                benchFunction('up'),
                `${BACKFILL_OFF} AND NOT (${newWrites(op)})`,
              ),
            ];
          }),
        ],
      },
      {
        key: 'statement',
        label: 'writer told once per statement',
        syncs: true,
        setup: [
          drop,
          trigger(
            '~tidal_sync_0',
            'INSERT OR UPDATE',
            benchFunction('writer'),
            BACKFILL_OFF,
            'STATEMENT',
          ),
          trigger(SYNC_TRIGGER, `INSERT OR UPDATE OF ${SYNCED}`, benchFunction('told')),
        ],
      },
      {
        key: 'bare',
        label: 'bare PL/pgSQL assignment, every UPDATE',
        syncs: true,
        setup: [drop, trigger(SYNC_TRIGGER, 'INSERT OR UPDATE', benchFunction('bare'))],
      },
      {
        key: 'empty',
        label: 'empty PL/pgSQL trigger, every UPDATE',
        syncs: false,
        setup: [drop, trigger(SYNC_TRIGGER, 'INSERT OR UPDATE', benchFunction('empty'))],
      },
    ],
  };
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '200000' },
      repeat: { type: 'string', default: '3' },
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
  return {
    rows: positiveInt(values.rows, '--rows'),
    repeat: positiveInt(values.repeat, '--repeat'),
    url: values.url,
    json: values.json,
  };
}

/** @param {Record<string, any>} r */
function render(r) {
  const lines = ['tidal dual-write trigger benchmark', ''];
  lines.push(machineLine(r.machine));
  lines.push(
    `postgres    ${r.postgres.version} (${r.postgres.where}); shared_buffers ${r.postgres.sharedBuffers}, fsync ${r.postgres.fsync}, synchronous_commit ${r.postgres.synchronousCommit}`,
  );
  lines.push(`trigger     ${r.definition}`);
  lines.push('');
  lines.push(
    `Statements of ${fmtInt(r.rows)} rows as the old version, rolled back, median of ${r.repeat}: seconds and ratio to the trigger disabled`,
  );
  const header = ['', ...r.statements.map((/** @type {any} */ s) => s.label)];
  const body = r.variants.map((/** @type {any} */ v) => [
    v.label,
    ...r.statements.map((/** @type {any} */ s) => {
      const m = v.results[s.key];
      return `${fmtSec(m.median)} s  ${m.ratio.toFixed(2)}x`;
    }),
  ]);
  lines.push(table([header, ...body]));
  const tidal = r.variants.find((/** @type {any} */ v) => v.key === 'tidal');
  lines.push('');
  for (const s of r.statements) {
    const ratio = tidal.results[s.key].ratio;
    lines.push(
      `  tidal's trigger, ${s.label}: ${ratio.toFixed(2)}x   target <= ${TARGET_OVERHEAD}x: ${ratio <= TARGET_OVERHEAD ? 'met' : 'NOT met'}`,
    );
  }
  lines.push('', `total bench time ${r.totalSeconds.toFixed(0)} s`);
  return lines.join('\n');
}

async function main() {
  const options = parseOptions();
  const { cleanups, cleanup } = cleanupOnExit();
  try {
    const { url, where } = await benchDatabase(options.url, cleanups);
    const db = await openClient(url);
    cleanups.push(() => db.end());
    const checkpointer = new Checkpointer(db);
    await seedItems(db, TABLE, options.rows, checkpointer);

    const dir = await mkdtemp(join(os.tmpdir(), 'tidal-bench-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, `${VERSION}.yaml`);
    await writeFile(file, addN2Migration(TABLE));
    const tidal = await Tidal.connect({ connectionString: url });
    cleanups.push(() => tidal.close());
    say(`tidal start: add_column n2 (up: n * 2) on ${TABLE}`);
    await tidal.start(await loadMigrationFile(file));

    const { definition, list } = await variants(db);
    const ops = statements(options.rows);
    const check = `SELECT count(*)::int AS wrong FROM ${ident(TABLE)}
                    WHERE (id <= 1000 OR id > ${options.rows} AND id <= ${options.rows + 1000})
                      AND ${N2} IS DISTINCT FROM n * 2`;
    /** The seconds of each run, by variant and statement. */
    const times = new Map(
      list.map((v) => [v.key, new Map(ops.map((op) => [op.key, /** @type {number[]} */ ([])]))]),
    );
    // Every variant's run of a statement in turn, so a noisy stretch of the machine falls on all.
    for (let i = 0; i < options.repeat; i++) {
      for (const op of ops) {
        for (const v of list) {
          const run = await rolledBackRun(db, checkpointer, TABLE, {
            setup: v.setup,
            statement: op.sql,
            check: v.syncs ? check : undefined,
          });
          if (run.rows !== options.rows) throw new Error(`${op.sql} wrote ${run.rows} rows`);
          if (run.checked && run.checked.wrong !== 0)
            throw new Error(
              `${v.label}: ${run.checked.wrong} rows of n2 out of step after ${op.sql}`,
            );
          times.get(v.key)?.get(op.key)?.push(run.seconds);
          say(`run ${i + 1}/${options.repeat}, ${op.label}, ${v.label}: ${fmtSec(run.seconds)} s`);
        }
      }
    }
    const report = {
      machine: machineFacts(),
      postgres: await postgresFacts(db, where),
      rows: options.rows,
      repeat: options.repeat,
      definition,
      statements: ops.map(({ key, label, sql }) => ({ key, label, sql })),
      variants: list.map((v) => ({
        key: v.key,
        label: v.label,
        results: Object.fromEntries(
          ops.map((op) => {
            const runs = times.get(v.key)?.get(op.key) ?? [];
            const base = median(times.get('none')?.get(op.key) ?? []);
            return [op.key, { runs, median: median(runs), ratio: median(runs) / base }];
          }),
        ),
      })),
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
