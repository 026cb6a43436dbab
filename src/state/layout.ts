import { messageOf, OperationError } from '../errors.js';
import type { Queryable } from '../pg/queryable.js';
import { ident } from '../pg/quote.js';

/**
 * The state schema's layout, as numbered upgrades. A database at layout N gets upgrades N+1..
 * applied in order; a newer tidal appends upgrades here and never edits a released one.
 */
function upgrades(s: string): string[][] {
  return [
    [
      `CREATE TABLE ${s}.layout (version integer NOT NULL)`,
      `INSERT INTO ${s}.layout VALUES (0)`,
      `CREATE TABLE ${s}.migrations (
         schema text NOT NULL,
         name text NOT NULL,
         version_schema text NOT NULL,
         parent text,
         checksum text NOT NULL,
         content text NOT NULL,
         migration jsonb NOT NULL,
         plan jsonb NOT NULL,
         phase text NOT NULL CHECK (phase IN ('starting', 'active', 'completing', 'completed', 'rolling_back')),
         progress jsonb NOT NULL DEFAULT '{}',
         last_error text,
         started_at timestamptz NOT NULL DEFAULT now(),
         completed_at timestamptz,
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (schema, name)
       )`,
      // One migration at a time per application schema.
      `CREATE UNIQUE INDEX migrations_one_active ON ${s}.migrations (schema) WHERE phase <> 'completed'`,
      `CREATE TABLE ${s}.events (
         id bigserial PRIMARY KEY,
         at timestamptz NOT NULL DEFAULT now(),
         schema text NOT NULL,
         migration text,
         kind text NOT NULL,
         detail jsonb NOT NULL DEFAULT '{}'
       )`,
      `CREATE TABLE ${s}.backfills (
         schema text NOT NULL,
         migration text NOT NULL,
         table_name text NOT NULL,
         last_key jsonb,
         rows_done bigint NOT NULL DEFAULT 0,
         rows_total bigint,
         done boolean NOT NULL DEFAULT false,
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (schema, migration, table_name)
       )`,
    ],
    [
      // What the running backfill is doing, for `tidal status` on any machine.
      `ALTER TABLE ${s}.backfills
         ADD COLUMN batch_size integer,
         ADD COLUMN rows_per_second double precision,
         ADD COLUMN throttle text`,
      // Live control: `tidal backfill pause|resume|rate`.
      `CREATE TABLE ${s}.backfill_control (
         schema text NOT NULL,
         migration text NOT NULL,
         paused boolean NOT NULL DEFAULT false,
         rows_per_second integer CHECK (rows_per_second > 0),
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (schema, migration)
       )`,
    ],
    [
      // The verification pass after the fill, with a checkpoint of its own.
      `ALTER TABLE ${s}.backfills
         ADD COLUMN verify_key jsonb,
         ADD COLUMN rows_verified bigint NOT NULL DEFAULT 0,
         ADD COLUMN verified boolean NOT NULL DEFAULT false`,
    ],
    [
      // Parallel backfill workers: each pass split into segments, each with its own checkpoint
      // (a batch records its segment's position), taken by one worker at a time.
      `CREATE TABLE ${s}.backfill_segments (
         schema text NOT NULL,
         migration text NOT NULL,
         table_name text NOT NULL,
         pass text NOT NULL CHECK (pass IN ('fill', 'verify')),
         segment integer NOT NULL,
         start_key jsonb,
         end_key jsonb,
         position jsonb,
         rows_done bigint NOT NULL DEFAULT 0,
         done boolean NOT NULL DEFAULT false,
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (schema, migration, table_name, pass, segment)
       )`,
      `ALTER TABLE ${s}.backfills ADD COLUMN workers integer`,
    ],
    [
      // The files started as one with the migration (`tidal migrate --as-one`), before it in
      // file order: each `{name, checksum, content}`, so each counts as applied on its own.
      `ALTER TABLE ${s}.migrations ADD COLUMN members jsonb NOT NULL DEFAULT '[]'`,
    ],
    [
      // Each stored step as it ran: its lock and how long it waited for it, for the timeline of
      // `tidal dashboard` on any machine.
      `CREATE TABLE ${s}.step_runs (
         id bigserial PRIMARY KEY,
         schema text NOT NULL,
         migration text NOT NULL,
         phase text NOT NULL,
         step integer NOT NULL,
         summary text NOT NULL,
         lock text NOT NULL,
         table_name text,
         started_at timestamptz NOT NULL,
         ms integer NOT NULL,
         attempts integer NOT NULL,
         waited_ms integer NOT NULL
       )`,
      `CREATE INDEX step_runs_migration ON ${s}.step_runs (schema, migration, id)`,
    ],
  ];
}

export const LAYOUT_VERSION = upgrades('s').length;

/**
 * Creates the state schema or brings it to the current layout. Idempotent; concurrent calls
 * serialise on a transaction-level advisory lock. Returns the layout versions applied. A state
 * schema already at the current layout is only read, so commands need no more than read access
 * to it; a privilege missing for what must be written is named with the statement needing it.
 */
export async function ensureStateSchema(db: Queryable, stateSchema: string): Promise<number[]> {
  if ((await layoutVersion(db, stateSchema)) === LAYOUT_VERSION) return [];
  const s = ident(stateSchema);
  const applied: number[] = [];
  let statement = '';
  const run = async (sql: string, params?: unknown[]) => {
    statement = sql;
    return db.query(sql, params);
  };
  await db.query('BEGIN');
  try {
    await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
      `tidal-state:${stateSchema}`,
    ]);
    const { rows } = await db.query<{ exists: boolean }>(
      `SELECT to_regnamespace($1) IS NOT NULL AS exists`,
      [ident(stateSchema)],
    );
    if (!rows[0]?.exists) await run(`CREATE SCHEMA ${s}`);
    const current = await layoutVersion(db, stateSchema);
    if (current > LAYOUT_VERSION) {
      throw new OperationError(
        `state schema ${s} has layout ${current}, newer than this tidal understands (${LAYOUT_VERSION}); upgrade tidal`,
      );
    }
    const all = upgrades(s);
    for (let version = current + 1; version <= all.length; version++) {
      for (const sql of all[version - 1] ?? []) await run(sql);
      await run(`UPDATE ${s}.layout SET version = $1`, [version]);
      applied.push(version);
    }
    await db.query('COMMIT');
  } catch (error) {
    await db.query('ROLLBACK').catch(() => {});
    if ((error as { code?: string }).code === INSUFFICIENT_PRIVILEGE) {
      throw new OperationError(
        `cannot ${statement.startsWith('CREATE SCHEMA') ? 'create' : 'upgrade'} tidal's state schema ${s}: ${messageOf(error)}\n  statement: ${statement.split('\n')[0]}\n  it needs ${statement.startsWith('CREATE SCHEMA') ? 'CREATE on the database' : `ownership of schema ${s}`}; run \`tidal init\` once as a role that has it`,
        { cause: error },
      );
    }
    throw error;
  }
  return applied;
}

const INSUFFICIENT_PRIVILEGE = '42501';

/** Whether the state schema exists (read only). */
export async function stateExists(db: Queryable, stateSchema: string): Promise<boolean> {
  return (await layoutVersion(db, stateSchema)) > 0;
}

/** Brings an existing state schema to the current layout and says whether there was one. It is
 *  not created here: commands create it only once they are about to record something, so bad
 *  input leaves no trace. */
export async function upgradeStateIfPresent(db: Queryable, stateSchema: string): Promise<boolean> {
  if (!(await stateExists(db, stateSchema))) return false;
  await ensureStateSchema(db, stateSchema);
  return true;
}

/** The state schema's layout version; 0 when it does not exist yet. */
export async function layoutVersion(db: Queryable, stateSchema: string): Promise<number> {
  const { rows } = await db.query<{ exists: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AS exists`,
    [`${ident(stateSchema)}.layout`],
  );
  if (!rows[0]?.exists) return 0;
  const version = await db.query<{ version: number }>(
    `SELECT version FROM ${ident(stateSchema)}.layout`,
  );
  return version.rows[0]?.version ?? 0;
}
