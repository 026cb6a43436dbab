/**
 * Runs a chain of migrations (files that each build on the database the ones before left) on a
 * real database: once as a plain `migrate --complete`, and once step by step with rows written
 * through the old and the new version, each step rolled back once and started again before it
 * is completed.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LoadedMigration } from '../../src/migration/load.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { ident } from '../../src/pg/quote.js';
import { Tidal } from '../../src/tidal.js';
import { snapshotCatalog } from './catalog.js';
import type { ChainRun } from './chains.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { versionClient, withTidal } from './tidal.js';

/** A condition over one row of `table` (by its name in the version that reads it). */
export interface RowCheck {
  table: string;
  holds: string;
}

/** A chain and what its steps compute, each by migration name. */
export interface ChainSpec {
  run: ChainRun;
  /** For rows the old version wrote (or that were there before start): what the new version
   *  reads, as `up` (or a default) computed it. */
  upChecks?: Record<string, RowCheck[]>;
  /** For rows the new version wrote: what the old version reads, as `down` computed it. */
  downChecks?: Record<string, RowCheck[]>;
  /** SQL run through the old version after seeding, before start: data a step's `up` needs. */
  beforeStart?: Record<string, string[]>;
  /** Values the generic writer cannot guess (a check allows only some), by `table.column` as
   *  the writing version names them; `n` is unique per row. */
  values?: Record<string, (n: number) => string>;
}

/**
 * The plain run: `migrate --complete` over a folder of the chain's files. Declares its hooks and
 * its test in the calling `describe`; the database it leaves is there for the tests after it.
 */
export function plainChain(spec: ChainSpec): { db: () => TestDatabase } {
  let db: TestDatabase | undefined;
  let dir: string | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'tidal-chain-'));
    for (const m of spec.run.runs) await copyFile(m.file, join(dir, basename(m.file)));
  });

  afterAll(async () => {
    await db?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const database = () => {
    if (!db) throw new Error('the chain database is not ready');
    return db;
  };

  it('migrate --complete validates every file before the first runs, then applies them', async () => {
    const files = spec.run.runs;
    const last = files.at(-1)?.migration;
    const notices: string[] = [];
    const { result, status, latest } = await withTidal(
      database().url,
      async (tidal) => ({
        result: await tidal.migrate(dir ?? '', { complete: true }),
        status: await tidal.status(),
        latest: await tidal.latest(),
      }),
      { onEvent: (e) => (e.type === 'notice' ? notices.push(e.message) : undefined) },
    );
    // Each file planned against the schema the ones before it leave, from an empty database.
    expect(notices[0]).toBe(
      `validated ${files.length} pending files against the database before starting the first`,
    );
    expect(result).toEqual({ applied: files.map((m) => m.migration.name), active: null });
    expect(status.applied).toBe(files.length);
    expect(status.active).toBeNull();
    expect(latest).toEqual({ name: last?.name, versionSchema: `public_${last?.versionSchema}` });
    await expectNoTidalLeftovers(database());
  }, 180_000);

  return { db: database };
}

/**
 * The step-by-step run, one test per file in order on one database. Declares its hooks and
 * tests in the calling `describe`.
 */
export function chainStepByStep(spec: ChainSpec): void {
  let db: TestDatabase;
  let tidal: Tidal;
  const rows = new RowLedger();
  const writer = new RowWriter(spec.values ?? {});

  beforeAll(async () => {
    db = await createTestDatabase();
    tidal = await Tidal.connect({ connectionString: db.url, lockRetryDeadlineMs: 30_000 });
  });

  afterAll(async () => {
    await tidal?.close();
    await db?.dispose();
  });

  it('every check names a file of the chain', () => {
    const names = [...spec.run.runs, ...spec.run.leftOut.map((l) => l.loaded)].map(
      (m) => m.migration.name,
    );
    const named = [spec.upChecks, spec.downChecks, spec.beforeStart].flatMap((checks) =>
      Object.keys(checks ?? {}),
    );
    expect(named.filter((name) => !names.includes(name))).toEqual([]);
  });

  it.each(spec.run.runs.map((m) => [m.migration.name, m] as const))(
    '%s: both versions see each other, rollback restores, complete keeps every row',
    async (name, loaded) => {
      const appliedBefore = (await tidal.status()).applied;
      try {
        await stepWithData(db, tidal, loaded, { rows, writer }, spec);
      } catch (error) {
        // Leave the chain where the next file expects it, so one failure does not hide others.
        await finishAnyway(tidal, loaded);
        rows.clear();
        throw error;
      }
      expect((await tidal.status()).applied).toBe(appliedBefore + 1);
      expect((await tidal.latest())?.name).toBe(name);
    },
    120_000,
  );
}

const SEED_ROWS_PER_TABLE = 2;

/**
 * One file: seed the current version, start, write through both versions and compare what
 * each reads, roll back (catalog exactly as before, no row lost), start again and complete.
 */
async function stepWithData(
  db: TestDatabase,
  tidal: Tidal,
  loaded: LoadedMigration,
  { rows, writer }: { rows: RowLedger; writer: RowWriter },
  spec: ChainSpec,
): Promise<void> {
  const name = loaded.migration.name;
  const oldVersion = (await tidal.latest())?.versionSchema ?? null;
  const oldApp = await versionClient(db.url, oldVersion);
  try {
    const oldTables = await describeVersion(db, oldVersion);
    for (let i = 0; i < SEED_ROWS_PER_TABLE; i++) {
      await writer.writeEach(oldApp, oldTables, rows, `${name}: seeded`);
    }
    for (const sql of spec.beforeStart?.[name] ?? []) await oldApp.query(sql);
    const before = await snapshotCatalog(db.pool);

    await tidal.start(loaded);
    const newVersion = (await tidal.latest())?.versionSchema;
    expect(newVersion).toBe(`public_${loaded.migration.versionSchema}`);
    if (!newVersion) return;
    const newApp = await versionClient(db.url, newVersion);
    try {
      const newTables = await describeVersion(db, newVersion);
      // Described again: constraints on copy columns bind what the old version writes now.
      const oldActive = await describeVersion(db, oldVersion);
      await writer.writeEach(oldApp, oldActive, rows, `${name}: through old`);
      const byNew = await writer.writeEach(newApp, newTables, rows, `${name}: through new`);
      await expectVersionsAgree(
        { app: oldApp, tables: oldTables },
        { app: newApp, tables: newTables },
      );
      await expectRowsVisible(oldApp, oldTables, rows);
      await expectRowsVisible(newApp, newTables, rows);
      const fromNew = (table: VersionTable, key: string) => byNew.get(table.oid)?.has(key) ?? false;
      const notFromNew = (table: VersionTable, key: string) => !fromNew(table, key);
      await expectChecksHold(newApp, newTables, spec.upChecks?.[name] ?? [], notFromNew);
      await expectChecksHold(oldApp, oldTables, spec.downChecks?.[name] ?? [], fromNew);
    } finally {
      await newApp.end();
    }

    await tidal.rollback();
    expect(await snapshotCatalog(db.pool), 'catalog after rollback').toEqual(before);
    // Tables the migration created are gone, and their rows with them.
    rows.forgetTablesOtherThan(oldTables);
    await expectRowsVisible(oldApp, oldTables, rows);

    await tidal.start(loaded);
    await tidal.complete();
    const finalTables = await describeVersion(db, newVersion);
    expect(rows.forgetTablesOtherThan(finalTables).sort()).toEqual(droppedTables(loaded).sort());
    const finalApp = await versionClient(db.url, newVersion);
    try {
      await expectRowsVisible(finalApp, finalTables, rows);
    } finally {
      await finalApp.end();
    }
    if (oldVersion) expect(await schemaExists(db, oldVersion)).toBe(false);
    expect(await schemaExists(db, newVersion)).toBe(true);
    await expectNoTidalLeftovers(db);
  } finally {
    await oldApp.end();
  }
}

/** After a failed step: complete it, or apply it outright, ignoring errors (best effort). */
async function finishAnyway(tidal: Tidal, loaded: LoadedMigration): Promise<void> {
  try {
    const status = await tidal.status();
    if (status.active?.name === loaded.migration.name) await tidal.complete();
    else if (status.latest?.name !== loaded.migration.name)
      await tidal.start(loaded, { complete: true });
  } catch {}
}

function droppedTables(loaded: LoadedMigration): string[] {
  return loaded.migration.operations.flatMap((op) =>
    op.kind === 'drop_table' ? [op.options.name] : [],
  );
}

// ---------------------------------------------------------------------------------------------
// Tables of a version, and a generic row writer

/** A table as one version shows it: a view of a version schema, or a table of `public`. */
interface VersionTable {
  /** Name in this version. */
  name: string;
  /** OID of the physical table: the same across versions and renames. */
  oid: number;
  /** The physical table, schema-qualified and quoted. */
  physical: string;
  columns: WritableColumn[];
  /** Primary key columns, by their names in this version. */
  key: string[];
  foreignKeys: ForeignKey[];
}

/** A foreign key of the physical table, its columns by their names in this version. */
interface ForeignKey {
  columns: string[];
  /** The same columns, physical names. */
  physicalColumns: string[];
  /** The physical referenced table and columns. */
  ref: { table: string; columns: string[] };
}

interface WritableColumn {
  name: string;
  type: string;
  enumLabel: string | null;
  /** Filled by the database (identity, generated, serial): left out of inserts. */
  automatic: boolean;
}

/** Every table of a version, by physical table OID. `null` is the raw `public` schema. */
async function describeVersion(
  db: Queryable,
  versionSchema: string | null,
): Promise<Map<number, VersionTable>> {
  const { rows } = await db.query<{ oid: number; name: string; def: string | null }>(
    `SELECT c.oid::int AS oid, c.relname AS name,
            CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END AS def
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = ANY($2) AND c.relname NOT LIKE '\\_tidal\\_%'
      ORDER BY c.relname`,
    [versionSchema ?? 'public', versionSchema ? ['v'] : ['r', 'p']],
  );
  const tables = new Map<number, VersionTable>();
  for (const relation of rows) {
    const table = await describeRelation(db, relation);
    tables.set(table.oid, table);
  }
  return tables;
}

async function describeRelation(
  db: Queryable,
  relation: { oid: number; name: string; def: string | null },
): Promise<VersionTable> {
  const oid = relation.def === null ? relation.oid : await baseTableOf(db, relation.oid);
  // View column name -> physical column name (identity for a table).
  const physicalOf = relation.def === null ? null : viewColumns(relation.def);
  const physical = (name: string) => (physicalOf ? physicalOf.get(name) : name);
  const logical = (column: string) => {
    if (!physicalOf) return column;
    for (const [view, base] of physicalOf) if (base === column) return view;
    return undefined;
  };

  const { rows: columns } = await db.query<{
    name: string;
    type: string;
    enum_label: string | null;
  }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            (SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = a.atttypid
              ORDER BY e.enumsortorder LIMIT 1) AS enum_label
       FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [relation.oid],
  );
  const { rows: base } = await db.query<{ name: string; automatic: boolean }>(
    `SELECT a.attname AS name,
            a.attidentity <> '' OR a.attgenerated <> ''
              OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false) AS automatic
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`,
    [oid],
  );
  const automatic = new Set(base.filter((c) => c.automatic).map((c) => c.name));
  const key = await primaryKeyOf(db, oid);
  const foreignKeys: ForeignKey[] = [];
  for (const fk of await foreignKeysOf(db, oid)) {
    // A copy column's constraint binds the old version's column too: `up` carries what the old
    // version writes into it.
    const names = fk.columns.map((c) => logical(c) ?? logical(c.replace(/^_tidal_new_/, '')));
    if (names.every((n) => n !== undefined)) {
      foreignKeys.push({ columns: names, physicalColumns: fk.columns, ref: fk.ref });
    }
  }
  const { rows: regclass } = await db.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`,
    [oid],
  );

  return {
    name: relation.name,
    oid,
    physical: (regclass[0] as { name: string }).name,
    foreignKeys,
    columns: columns.map((c) => {
      const column = physical(c.name);
      if (column === undefined) throw new Error(`${relation.name}.${c.name}: no physical column`);
      return {
        name: c.name,
        type: c.type,
        enumLabel: c.enum_label,
        automatic: automatic.has(column),
      };
    }),
    key: key.map((column) => {
      const name = logical(column);
      if (name === undefined) throw new Error(`${relation.name}: key column ${column} not shown`);
      return name;
    }),
  };
}

/** The one table a version view selects from. */
async function baseTableOf(db: Queryable, view: number): Promise<number> {
  const { rows } = await db.query<{ oid: number }>(
    `SELECT DISTINCT d.refobjid::int AS oid
       FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
      WHERE r.ev_class = $1 AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> $1`,
    [view],
  );
  if (rows.length !== 1) throw new Error(`view ${view} selects from ${rows.length} tables`);
  return (rows[0] as { oid: number }).oid;
}

/**
 * View column -> physical column, from the view's definition. tidal's views only select plain
 * columns, which pg_get_viewdef prints as `col`, `col AS name`, or (before PostgreSQL 16)
 * `table.col AS name`.
 */
function viewColumns(definition: string): Map<string, string> {
  const select = definition.slice(
    definition.search(/\bSELECT\s/i) + 'SELECT'.length,
    definition.search(/\sFROM\s/i),
  );
  const name = String.raw`("[^"]+"|[\w$]+)`;
  const item = new RegExp(String.raw`^(?:${name}\.)?${name}(?:\s+AS\s+${name})?$`, 'i');
  const unquote = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replaceAll('""', '"') : s);
  const columns = new Map<string, string>();
  for (const part of select.split(',')) {
    const match = item.exec(part.trim());
    if (!match?.[2]) throw new Error(`unexpected view column "${part.trim()}" in: ${definition}`);
    columns.set(unquote(match[3] ?? match[2]), unquote(match[2]));
  }
  return columns;
}

async function foreignKeysOf(
  db: Queryable,
  table: number,
): Promise<{ columns: string[]; ref: ForeignKey['ref'] }[]> {
  const { rows } = await db.query<{ columns: string[]; table: string; ref: string[] }>(
    `SELECT array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                   ORDER BY k.i)::text[] AS columns,
            (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = con.confrelid) AS table,
            array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                   ORDER BY k.i)::text[] AS ref
       FROM pg_constraint con
      WHERE con.conrelid = $1 AND con.contype = 'f'`,
    [table],
  );
  return rows.map((r) => ({ columns: r.columns, ref: { table: r.table, columns: r.ref } }));
}

async function primaryKeyOf(db: Queryable, table: number): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_constraint con, unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attnum = k.attnum
      WHERE con.conrelid = $1 AND con.contype = 'p' AND a.attrelid = con.conrelid
      ORDER BY k.ord`,
    [table],
  );
  if (rows.length === 0) throw new Error(`table ${table} has no primary key`);
  return rows.map((r) => r.name);
}

let counter = 1000;

/**
 * A value of the column's type, unique per row (unique and exclusion constraints hold). Texts
 * are digits longer than 3 characters and numbers at least 1000, so checks such as
 * length(name) > 3, age >= 18 or length(name) > 0 hold; ranges of different rows do not overlap.
 */
function valueFor(column: WritableColumn, n: number): string {
  const type = column.type;
  if (column.enumLabel !== null) return column.enumLabel;
  if (/^(smallint|integer|bigint)$/.test(type)) return String(n);
  if (/^(numeric|real|double precision)/.test(type)) return `${n}.25`;
  const text = /^(text|character varying|character)(\((\d+)\))?$/.exec(type);
  // Digits, so a later migration's CAST(... AS integer) of a text column holds too.
  if (text) return `${1000 + n}`.slice(0, text[3] ? Number(text[3]) : undefined);
  if (type === 'tstzrange') {
    const hour = (h: number) => new Date(Date.UTC(2024, 0, 1) + h * 3_600_000).toISOString();
    return `[${hour(n)},${hour(n + 1)})`;
  }
  if (type.startsWith('timestamp')) return '2024-05-06 07:08:09+00';
  if (type === 'time with time zone') return '12:34:56+02';
  if (type === 'time without time zone') return '12:34:56';
  if (type === 'date') return '2024-05-06';
  if (type === 'boolean') return 'true';
  if (type === 'uuid') return randomUUID();
  if (type === 'json' || type === 'jsonb') return `{"n": ${n}}`;
  throw new Error(`no test value for column ${column.name} of type ${type}`);
}

/**
 * Values for a foreign key's columns: a referenced row no row of the table references yet if
 * there is one (unique constraints over foreign key columns hold), else any referenced row.
 */
async function referencedValues(
  app: pg.Client,
  table: VersionTable,
  fk: ForeignKey,
): Promise<string[]> {
  const refColumns = fk.ref.columns.map((c) => `r.${ident(c)}`);
  const { rows } = await app.query<{ v: string[] }>(
    `SELECT ARRAY[${refColumns.map((c) => `${c}::text`).join(', ')}] AS v
       FROM ${fk.ref.table} r
      ORDER BY EXISTS (SELECT 1 FROM ${table.physical} t
                        WHERE (${fk.physicalColumns.map((c) => `t.${ident(c)}`).join(', ')})
                            = (${refColumns.join(', ')})), 1
      LIMIT 1`,
  );
  if (!rows[0]) throw new Error(`no row in ${fk.ref.table} for a foreign key to reference`);
  return rows[0].v;
}

/** `json_build_array(key columns)` as text: one comparable string per row. */
function keyExpression(table: VersionTable): string {
  return `json_build_array(${table.key.map(ident).join(', ')})::text`;
}

/** Inserts rows through a version, with the chain's own values where it has them. */
class RowWriter {
  constructor(private readonly values: Record<string, (n: number) => string>) {}

  /** Writes one row into every table of a version, referenced tables first; returns keys by
   *  table. */
  async writeEach(
    app: pg.Client,
    tables: Map<number, VersionTable>,
    ledger: RowLedger,
    origin: string,
  ): Promise<Map<number, Set<string>>> {
    const written = new Map<number, Set<string>>();
    for (const table of referencedFirst(tables)) {
      const key = await this.writeRow(app, table);
      ledger.add(table.oid, key, `${origin} ${table.name}`);
      written.set(table.oid, new Set([key]));
    }
    return written;
  }

  /** Inserts one row through `app`'s version and returns its key. */
  private async writeRow(app: pg.Client, table: VersionTable): Promise<string> {
    const n = counter++;
    const referenced = new Map<string, string>();
    for (const fk of table.foreignKeys) {
      const values = await referencedValues(app, table, fk);
      for (const [i, column] of fk.columns.entries()) referenced.set(column, values[i] as string);
    }
    const columns = table.columns.filter((c) => referenced.has(c.name) || !c.automatic);
    const values = columns.map(
      (c) =>
        referenced.get(c.name) ?? this.values[`${table.name}.${c.name}`]?.(n) ?? valueFor(c, n),
    );
    const target = columns.length
      ? `(${columns.map((c) => ident(c.name)).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`
      : 'DEFAULT VALUES';
    const sql = `INSERT INTO ${ident(table.name)} ${target} RETURNING ${keyExpression(table)} AS key`;
    try {
      const { rows } = await app.query<{ key: string }>(sql, values);
      return (rows[0] as { key: string }).key;
    } catch (error) {
      const path = (await app.query<{ p: string }>('SHOW search_path')).rows[0]?.p;
      throw new Error(
        `insert through search_path ${path} failed: ${(error as Error).message}\n${sql}\nvalues: ${JSON.stringify(values)}`,
        { cause: error },
      );
    }
  }
}

function referencedFirst(tables: Map<number, VersionTable>): VersionTable[] {
  const depth = (t: VersionTable, seen: Set<string>): number => {
    const refs = t.foreignKeys.map((fk) => fk.ref.table);
    const parents = [...tables.values()].filter(
      (p) => refs.includes(p.physical) && !seen.has(p.physical),
    );
    return Math.max(0, ...parents.map((p) => 1 + depth(p, new Set([...seen, t.physical]))));
  };
  return [...tables.values()].sort((a, b) => depth(a, new Set()) - depth(b, new Set()));
}

/** Every row written so far, by physical table, with where it came from (for messages). */
class RowLedger {
  private readonly rows = new Map<number, Map<string, string>>();

  add(table: number, key: string, origin: string): void {
    if (!this.rows.has(table)) this.rows.set(table, new Map());
    this.rows.get(table)?.set(key, origin);
  }

  of(table: number): Map<string, string> {
    return this.rows.get(table) ?? new Map();
  }

  /** Drops the rows of tables not among `tables`; returns the names those rows were written as. */
  forgetTablesOtherThan(tables: Map<number, VersionTable>): string[] {
    const gone: string[] = [];
    for (const [oid, rows] of this.rows) {
      if (tables.has(oid)) continue;
      const origin = [...rows.values()].at(-1) ?? ''; // the latest write names it last
      gone.push(origin.slice(origin.lastIndexOf(' ') + 1));
      this.rows.delete(oid);
    }
    return gone;
  }

  clear(): void {
    this.rows.clear();
  }
}

async function visibleKeys(app: pg.Client, table: VersionTable): Promise<string[]> {
  const { rows } = await app.query<{ key: string }>(
    `SELECT ${keyExpression(table)} AS key FROM ${ident(table.name)} ORDER BY 1`,
  );
  return rows.map((r) => r.key);
}

/** Every row the ledger holds for each table is visible through `app`'s version. */
async function expectRowsVisible(
  app: pg.Client,
  tables: Map<number, VersionTable>,
  ledger: RowLedger,
): Promise<void> {
  for (const table of tables.values()) {
    const visible = new Set(await visibleKeys(app, table));
    const missing = [...ledger.of(table.oid)]
      .filter(([key]) => !visible.has(key))
      .map(([key, origin]) => `${origin} ${key}`);
    expect(missing, `rows missing from ${table.name}`).toEqual([]);
  }
}

/** A table both versions show holds the same rows through each. */
async function expectVersionsAgree(
  old: { app: pg.Client; tables: Map<number, VersionTable> },
  next: { app: pg.Client; tables: Map<number, VersionTable> },
): Promise<void> {
  for (const [oid, oldTable] of old.tables) {
    const newTable = next.tables.get(oid);
    if (!newTable) continue;
    expect(
      await visibleKeys(next.app, newTable),
      `${oldTable.name} (old) / ${newTable.name} (new)`,
    ).toEqual(await visibleKeys(old.app, oldTable));
  }
}

/** Through `app`'s version, each check holds on every row of its table that `selects` keeps,
 *  and keeps at least one. */
async function expectChecksHold(
  app: pg.Client,
  tables: Map<number, VersionTable>,
  checks: RowCheck[],
  selects: (table: VersionTable, key: string) => boolean,
): Promise<void> {
  for (const check of checks) {
    const table = [...tables.values()].find((t) => t.name === check.table);
    if (!table) throw new Error(`${check.table} is not in the version`);
    const { rows } = await app.query<{ key: string; ok: boolean | null; row: unknown }>(
      `SELECT ${keyExpression(table)} AS key, (${check.holds}) AS ok, to_jsonb(t) AS row
         FROM ${ident(table.name)} t`,
    );
    const selected = rows.filter((r) => selects(table, r.key));
    expect(selected.length, `rows of ${check.table} to check`).toBeGreaterThan(0);
    expect(
      selected.filter((r) => r.ok !== true).map((r) => r.row),
      `${check.table}: ${check.holds}`,
    ).toEqual([]);
  }
}

async function schemaExists(db: Queryable, schema: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
  return rows.length === 1;
}

const inPublic = `relnamespace = 'public'::regnamespace`;

/** After complete nothing temporary is left on the application's tables. */
async function expectNoTidalLeftovers(db: Queryable): Promise<void> {
  const { rows } = await db.query<{ what: string }>(
    `SELECT format('%s.%s', c.relname, a.attname) AS what
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.${inPublic} AND a.attname LIKE '\\_tidal\\_%' AND NOT a.attisdropped
        -- An index keeps the column name it was built on (a cosmetic trace, not an object).
        AND c.relkind <> 'i'
     UNION ALL
     SELECT format('%s %s', c.relname, t.tgname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.${inPublic} AND NOT t.tgisinternal
     UNION ALL
     SELECT format('%s %s', c.relname, con.conname) FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
      WHERE c.${inPublic} AND con.conname LIKE '\\_tidal\\_%'
     UNION ALL
     SELECT relname FROM pg_class WHERE ${inPublic} AND relname LIKE '\\_tidal\\_%'`,
  );
  expect(rows.map((r) => r.what)).toEqual([]);
}
