/**
 * The pgroll example chain (shared/compat/pgroll-examples) on a real database: once as a plain
 * `migrate --complete`, and once step by step with rows written through the old and the new
 * version, each step rolled back once and started again before it is completed.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { type LoadedMigration, loadMigrationFile } from '../../src/migration/load.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { ident } from '../../src/pg/quote.js';
import { Tidal } from '../../src/tidal.js';
import { snapshotCatalog } from '../helpers/catalog.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { versionClient, withTidal } from '../helpers/tidal.js';

const examplesDir = fileURLToPath(
  new URL('../../../shared/compat/pgroll-examples', import.meta.url),
);

const examples: LoadedMigration[] = [];
for (const file of (await readdir(examplesDir)).filter((f) => f.endsWith('.yaml')).sort()) {
  examples.push(await loadMigrationFile(join(examplesDir, file)));
}

/** 35's `down` names a column that does not exist (`event_name`): tidal refuses it. */
const REFUSED = ['35_alter_column_multiple.yaml'];

const inScope = examples.filter((m) => !REFUSED.includes(basename(m.file)));

describe('pgroll examples', () => {
  it('every example but the refused one runs', () => {
    expect(examples).toHaveLength(56);
    expect(inScope).toHaveLength(55);
  });
});

describe('pgroll examples: plain chain', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'tidal-pgroll-examples-'));
    for (const m of inScope) await copyFile(m.file, join(dir, basename(m.file)));
  });

  afterAll(async () => {
    await db?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('migrate --complete applies every in-scope example', async () => {
    const names = inScope.map((m) => m.migration.name);
    const { result, status, latest } = await withTidal(db.url, async (tidal) => ({
      result: await tidal.migrate(dir, { complete: true }),
      status: await tidal.status(),
      latest: await tidal.latest(),
    }));
    expect(result).toEqual({ applied: names, active: null });
    expect(status.applied).toBe(inScope.length);
    expect(status.active).toBeNull();
    expect(latest).toEqual({
      name: '56_with_version_schema',
      versionSchema: 'public_with_version_schema',
    });
  }, 180_000);

  it('refuses 35 before anything runs, naming its down', async () => {
    const [refused] = examples.filter((m) => REFUSED.includes(basename(m.file)));
    if (!refused) throw new Error('example 35 is missing');
    const before = await snapshotCatalog(db.pool);
    const error = await withTidal(db.url, (t) => t.start(refused)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(
      /35_alter_column_multiple\.yaml: operations\[0\]\.alter_column\.down: .*event_name/,
    );
    expect(await snapshotCatalog(db.pool)).toEqual(before);
  });

  it('leaves the schema the chain describes', async () => {
    expect(
      await names(db, `SELECT relname FROM pg_class WHERE ${inPublic} AND relkind = 'r'`),
    ).toEqual([
      'bills',
      'clients',
      'employees',
      'events',
      'fruits',
      'items',
      'library',
      'orders',
      'people',
      'phonebook',
      'posts',
      'products',
      'reviews',
      'sellers',
      'tasks',
      'telephone_providers',
      'tickets',
      'users',
    ]);
    // Each complete drops the previous version schema: only the last one is left.
    expect(
      await names(db, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'public\\_%'`),
    ).toEqual(['public_with_version_schema']);
    const views = await names(
      db,
      `SELECT relname FROM pg_class WHERE relnamespace = 'public_with_version_schema'::regnamespace AND relkind = 'v'`,
    );
    expect(views).toContain('products');
    expect(views).toContain('clients');
    expect(views).not.toContain('customers');

    expect(await columnsOf(db, 'fruits')).toEqual(['id', 'name', 'size']);
    expect(await columnsOf(db, 'people')).toEqual([
      'id',
      'name',
      'age',
      'description',
      'birth_date',
    ]);
    expect(await columnsOf(db, 'employees')).toEqual(['id', 'job_title']);
    expect(await columnsOf(db, 'products')).toEqual(['id', 'name']);

    const description = await column(db, 'people', 'description');
    expect(description).toMatchObject({
      notnull: true,
      comment: 'This is a comment for the description column',
    });
    expect(await column(db, 'employees', 'job_title')).toMatchObject({
      comment: 'This is a comment for the role column',
    });
    expect(await column(db, 'fruits', 'size')).toMatchObject({
      type: 'fruit_size',
      default: `'small'::fruit_size`,
    });
    expect(await column(db, 'products', 'category')).toBeUndefined();

    const indexes = await db.query<{ name: string; def: string; valid: boolean }>(
      `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid AS valid
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'public.fruits'::regclass AND c.relname LIKE 'idx\\_%'
        ORDER BY 1`,
    );
    expect(indexes.rows.map((r) => r.name)).toEqual([
      'idx_fruits_custom_opclass',
      'idx_fruits_id_gt_10',
      'idx_fruits_name',
      'idx_fruits_unique_name',
    ]);
    expect(indexes.rows.every((r) => r.valid)).toBe(true);
    const def = (name: string) => indexes.rows.find((r) => r.name === name)?.def;
    expect(def('idx_fruits_id_gt_10')).toMatch(/USING btree \(id\) WHERE \(id > 10\)$/);
    expect(def('idx_fruits_name')).toMatch(/USING hash \(name\) WITH \(fillfactor='?70'?\)$/);
    expect(def('idx_fruits_unique_name')).toMatch(/^CREATE UNIQUE INDEX .* USING btree \(name\)$/);
    expect(def('idx_fruits_custom_opclass')).toMatch(/USING btree \(id\)$/);

    await expectNoTidalLeftovers(db);
  });
});

describe('pgroll examples: step by step with data', () => {
  let db: TestDatabase;
  let tidal: Tidal;
  const rows = new RowLedger();

  beforeAll(async () => {
    db = await createTestDatabase();
    tidal = await Tidal.connect({ connectionString: db.url, lockRetryDeadlineMs: 30_000 });
  });

  afterAll(async () => {
    await tidal?.close();
    await db?.dispose();
  });

  it.each(inScope.map((m) => [m.migration.name, m] as const))(
    '%s: both versions see each other, rollback restores, complete keeps every row',
    async (name, loaded) => {
      const appliedBefore = (await tidal.status()).applied;
      try {
        await stepWithData(db, tidal, loaded, rows);
      } catch (error) {
        // Leave the chain where the next example expects it, so one failure does not hide others.
        await finishAnyway(tidal, loaded);
        rows.clear();
        throw error;
      }
      expect((await tidal.status()).applied).toBe(appliedBefore + 1);
      expect((await tidal.latest())?.name).toBe(name);
    },
    120_000,
  );
});

/** For rows the old version wrote (or that existed before start): what the new version reads. */
const UP_CHECKS: Record<string, { table: string; holds: string }[]> = {
  '03_add_column': [
    {
      table: 'products',
      holds: `description = UPPER(name) AND category = name || '-category' AND stock = 100`,
    },
  ],
  '06_add_column_to_sql_table': [{ table: 'users', holds: 'description = UPPER(name)' }],
  '17_add_rating_column': [{ table: 'reviews', holds: `rating = '0'` }],
  '26_add_column_with_check_constraint': [{ table: 'people', holds: 'age = 18' }],
  '30_add_column_simple_up': [{ table: 'people', holds: `description = 'temporary-description'` }],
  '39_add_column_with_multiple_pk_in_table': [{ table: 'sellers', holds: 'rating = 10' }],
  '41_add_enum_column': [{ table: 'fruits', holds: `size = 'small'` }],
  '53_add_column_with_volatile_default': [{ table: 'library', holds: 'value BETWEEN 0 AND 1000' }],
};

/**
 * Run through the old version after seeding, before start: data an example's `up` needs to
 * satisfy its new constraint (47's `up` is the identity, so every ticket must name a seller).
 */
const BEFORE_START: Record<string, string[]> = {
  '47_add_table_foreign_key_constraint': [
    `INSERT INTO sellers (name, zip) SELECT sellers_name, sellers_zip FROM tickets
      WHERE sellers_name IS NOT NULL AND sellers_zip IS NOT NULL ON CONFLICT DO NOTHING`,
  ],
};

const SEED_ROWS_PER_TABLE = 2;

/**
 * One example: seed the current version, start, write through both versions and compare what
 * each reads, roll back (catalog exactly as before, no row lost), start again and complete.
 */
async function stepWithData(
  db: TestDatabase,
  tidal: Tidal,
  loaded: LoadedMigration,
  rows: RowLedger,
): Promise<void> {
  const name = loaded.migration.name;
  const oldVersion = (await tidal.latest())?.versionSchema ?? null;
  const oldApp = await versionClient(db.url, oldVersion);
  try {
    const oldTables = await describeVersion(db, oldVersion);
    for (let i = 0; i < SEED_ROWS_PER_TABLE; i++) {
      await writeEach(oldApp, oldTables, rows, `${name}: seeded`);
    }
    for (const sql of BEFORE_START[name] ?? []) await oldApp.query(sql);
    const before = await catalogPicture(db);

    await tidal.start(loaded);
    const newVersion = (await tidal.latest())?.versionSchema;
    expect(newVersion).toBe(`public_${loaded.migration.versionSchema}`);
    if (!newVersion) return;
    const newApp = await versionClient(db.url, newVersion);
    try {
      const newTables = await describeVersion(db, newVersion);
      // Described again: constraints on copy columns bind what the old version writes now.
      const oldActive = await describeVersion(db, oldVersion);
      await writeEach(oldApp, oldActive, rows, `${name}: through old`);
      const byNew = await writeEach(newApp, newTables, rows, `${name}: through new`);
      await expectVersionsAgree(
        { app: oldApp, tables: oldTables },
        { app: newApp, tables: newTables },
      );
      await expectRowsVisible(oldApp, oldTables, rows);
      await expectRowsVisible(newApp, newTables, rows);
      await expectUpApplied(newApp, newTables, UP_CHECKS[name] ?? [], byNew);
      if (name === '09_drop_column') await expectDownApplied(oldApp, oldTables, byNew);
    } finally {
      await newApp.end();
    }

    await tidal.rollback();
    expect(await catalogPicture(db), 'catalog after rollback').toEqual(before);
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
    op.kind === 'drop_table' ? [(op.options as { name: string }).name] : [],
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
    // A copy column's constraint binds the old version's column too: `up` (the identity in
    // these examples) carries what the old version writes into it.
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
 * A value of the column's type, unique per row (unique constraints and the exclusion constraint
 * of 52 hold). Texts are digits longer than 3 characters and numbers at least 1000, so the examples'
 * checks (length(name) > 3, age >= 18, length(name) > 0) hold.
 */
function valueFor(column: WritableColumn, n: number): string {
  const type = column.type;
  if (column.enumLabel !== null) return column.enumLabel;
  if (/^(smallint|integer|bigint)$/.test(type)) return String(n);
  if (/^(numeric|real|double precision)/.test(type)) return `${n}.25`;
  const text = /^(text|character varying|character)(\((\d+)\))?$/.exec(type);
  // Digits, so a later example's CAST(... AS integer) of a text column (18) holds too.
  if (text) return `${1000 + n}`.slice(0, text[3] ? Number(text[3]) : undefined);
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

/** Inserts one row through `app`'s version and returns its key. */
async function writeRow(app: pg.Client, table: VersionTable): Promise<string> {
  const n = counter++;
  const referenced = new Map<string, string>();
  for (const fk of table.foreignKeys) {
    const values = await referencedValues(app, table, fk);
    for (const [i, column] of fk.columns.entries()) referenced.set(column, values[i] as string);
  }
  const columns = table.columns.filter((c) => referenced.has(c.name) || !c.automatic);
  const values = columns.map((c) => referenced.get(c.name) ?? valueFor(c, n));
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

/** Writes one row into every table of a version, referenced tables first; returns keys by table. */
async function writeEach(
  app: pg.Client,
  tables: Map<number, VersionTable>,
  ledger: RowLedger,
  origin: string,
): Promise<Map<number, Set<string>>> {
  const written = new Map<number, Set<string>>();
  for (const table of referencedFirst(tables)) {
    const key = await writeRow(app, table);
    ledger.add(table.oid, key, `${origin} ${table.name}`);
    written.set(table.oid, new Set([key]));
  }
  return written;
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

/** Rows not written through the new version read, through it, as `up` (or the default) made them. */
async function expectUpApplied(
  newApp: pg.Client,
  tables: Map<number, VersionTable>,
  checks: { table: string; holds: string }[],
  byNew: Map<number, Set<string>>,
): Promise<void> {
  for (const check of checks) {
    const table = [...tables.values()].find((t) => t.name === check.table);
    if (!table) throw new Error(`${check.table} is not in the new version`);
    const { rows } = await newApp.query<{ key: string; ok: boolean | null; row: unknown }>(
      `SELECT ${keyExpression(table)} AS key, (${check.holds}) AS ok, to_jsonb(t) AS row
         FROM ${ident(table.name)} t`,
    );
    const fromNew = byNew.get(table.oid) ?? new Set();
    expect(rows.filter((r) => !fromNew.has(r.key)).length).toBeGreaterThan(0);
    expect(
      rows.filter((r) => !fromNew.has(r.key) && r.ok !== true).map((r) => r.row),
      `${check.table}: ${check.holds}`,
    ).toEqual([]);
  }
}

/** 09_drop_column: a row the new version writes has `down` ("0") in the dropped column. */
async function expectDownApplied(
  oldApp: pg.Client,
  tables: Map<number, VersionTable>,
  byNew: Map<number, Set<string>>,
): Promise<void> {
  const fruits = [...tables.values()].find((t) => t.name === 'fruits');
  if (!fruits) throw new Error('fruits is not in the old version');
  const [key] = byNew.get(fruits.oid) ?? [];
  const { rows } = await oldApp.query<{ price: string }>(
    `SELECT price::text AS price FROM fruits WHERE ${keyExpression(fruits)} = $1`,
    [key],
  );
  expect(rows).toEqual([{ price: '0.00' }]);
}

// ---------------------------------------------------------------------------------------------
// Catalog look-ups

const inPublic = `relnamespace = 'public'::regnamespace`;

async function names(db: Queryable, sql: string): Promise<string[]> {
  const { rows } = await db.query<Record<string, string>>(`${sql} ORDER BY 1`);
  return rows.map((r) => Object.values(r)[0] as string);
}

async function columnsOf(db: Queryable, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [`public.${table}`],
  );
  return rows.map((r) => r.name);
}

async function column(db: Queryable, table: string, name: string) {
  const { rows } = await db.query<{
    type: string;
    notnull: boolean;
    default: string | null;
    comment: string | null;
  }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            pg_get_expr(d.adbin, d.adrelid) AS default, col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped`,
    [`public.${table}`, name],
  );
  return rows[0];
}

/**
 * snapshotCatalog plus what it leaves out and raw SQL may create: user-defined types (with enum
 * labels) and sequences. Rollback must restore these too, or starting again fails.
 */
async function catalogPicture(db: Queryable) {
  const lines = async (sql: string) =>
    (await db.query<{ line: string }>(sql)).rows.map((r) => r.line).sort();
  const userSchema = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'tidal') AND n.nspname NOT LIKE 'pg\\_%'`;
  return {
    ...(await snapshotCatalog(db)),
    types: await lines(
      `SELECT format('%s.%s %s %s', n.nspname, t.typname, t.typtype,
              (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                WHERE e.enumtypid = t.oid)) AS line
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE ${userSchema} AND (t.typtype IN ('e', 'd', 'r', 'm') OR c.relkind = 'c')`,
    ),
    sequences: await lines(
      `SELECT format('%s.%s', n.nspname, c.relname) AS line
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE ${userSchema} AND c.relkind = 'S'`,
    ),
  };
}

async function schemaExists(db: Queryable, schema: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
  return rows.length === 1;
}

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
