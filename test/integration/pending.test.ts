/**
 * `tidal migrate` plans every pending file before the first one starts, each against the schema
 * the files before it will leave: an invalid file anywhere in the chain is refused before
 * anything runs, and a valid chain is never refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { snapshotCatalog } from '../helpers/catalog.js';
import { loadChain } from '../helpers/chains.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli, withTidal } from '../helpers/tidal.js';

interface Chain {
  db: TestDatabase;
  dir: string;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A fresh database with `setup` run, and a folder holding `files` (name to YAML). */
async function chain(setup: string, files: Record<string, string>): Promise<Chain> {
  const db = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'tidal-pending-'));
  cleanups.push(async () => {
    await db.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  if (setup) await db.query(setup);
  for (const [name, yaml] of Object.entries(files)) await writeFile(join(dir, name), yaml);
  return { db, dir };
}

/** `migrate` through the library: its result or error, and the notices it gave. */
async function migrate(
  { db, dir }: Chain,
  options: { complete?: boolean } = { complete: true },
): Promise<{ result?: { applied: string[] }; error?: Error; notices: string[] }> {
  const notices: string[] = [];
  return withTidal(
    db.url,
    async (tidal) => {
      try {
        return { result: await tidal.migrate(dir, options), notices };
      } catch (error) {
        return { error: error as Error, notices };
      }
    },
    { onEvent: (e) => (e.type === 'notice' ? notices.push(e.message) : undefined) },
  );
}

/** Nothing was applied: no migration recorded, the catalog as it was. */
async function expectNothingApplied(db: TestDatabase, before: unknown): Promise<void> {
  expect(await snapshotCatalog(db.pool)).toEqual(before);
  const state = await rows(db.pool, `SELECT 1 FROM pg_namespace WHERE nspname = 'tidal'`);
  if (state.length > 0) {
    expect(await rows(db.pool, 'SELECT name FROM tidal.migrations')).toEqual([]);
  }
}

const ITEMS = `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
  INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g;`;

/** Three valid files: each builds on the one before. */
const THREE_VALID = {
  '01_add_price.yaml': `operations:
  - add_column:
      table: items
      up: "10"
      column: {name: price, type: integer, default: "0"}
`,
  '02_add_sku.yaml': `operations:
  - add_column:
      table: items
      up: "'sku-' || id"
      column: {name: sku, type: text, nullable: true}
`,
  '03_rename_name.yaml': `operations:
  - rename_column: {table: items, from: name, to: title}
`,
};

describe('migrate refuses an invalid pending file before the first one runs', () => {
  it('exits 2 naming the fourth file, its operation and field; nothing is applied', async () => {
    const c = await chain(ITEMS, {
      ...THREE_VALID,
      '04_add_label.yaml': `operations:
  - add_column:
      table: items
      up: "colour || ' item'"
      column: {name: label, type: text, nullable: true}
`,
    });
    const before = await snapshotCatalog(c.db.pool);
    const run = await runCli(['migrate', c.dir, '--url', c.db.url]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain('04_add_label.yaml: operations[0].add_column.up');
    expect(run.stderr).toContain('column "colour" does not exist');
    expect(run.stderr).not.toMatch(/^\s+at /m);
    // No file got as far as its expand phase.
    expect(run.stderr).not.toMatch(/: expand/);
    await expectNothingApplied(c.db, before);
  });

  it('checks each file against the names and columns the files before it leave', async () => {
    const files = (up: string, column = 'label') => ({
      ...THREE_VALID,
      '04_add.yaml': `operations:
  - add_column:
      table: items
      up: "${up}"
      column: {name: ${column}, type: text, nullable: true}
`,
    });
    // `name` is there now, but 03 renames it: refused.
    const renamed = await chain(ITEMS, files("name || ' item'"));
    const before = await snapshotCatalog(renamed.db.pool);
    const { error } = await migrate(renamed);
    expect(error).toBeInstanceOf(InputError);
    expect(error?.message).toMatch(
      /04_add\.yaml: operations\[0\]\.add_column\.up: column "name" does not exist/,
    );
    expect(error?.message).toContain('the 3 pending migrations before it');
    await expectNothingApplied(renamed.db, before);

    // `sku` is not there now, but 02 adds it: a column of that name is refused.
    const taken = await chain(ITEMS, files("title || ' item'", 'sku'));
    const { error: takenError } = await migrate(taken);
    expect(takenError?.message).toMatch(
      /04_add\.yaml: operations\[0\]\.add_column\.column\.name: column "sku" already exists/,
    );

    // An expression over the columns as they will be type-checks as they will be: `price` is
    // an integer, `sku` text.
    const typed = await chain(ITEMS, files('price || sku > 1'));
    const { error: typeError } = await migrate(typed);
    expect(typeError?.message).toMatch(/04_add\.yaml: operations\[0\]\.add_column\.up: .*text/);

    // Over the names they will have, the same file is valid.
    const valid = await chain(ITEMS, files("title || ' ' || sku || ' at ' || price"));
    const { result, error: none, notices } = await migrate(valid);
    expect(none).toBeUndefined();
    expect(result?.applied).toEqual(['01_add_price', '02_add_sku', '03_rename_name', '04_add']);
    expect(notices).toContain(
      'validated 4 pending files against the database before starting the first',
    );
    expect(await rows(valid.db.pool, 'SELECT label FROM items WHERE id = 1')).toEqual([
      { label: 'item 1 sku-1 at 10' },
    ]);
  });
});

describe('migrate validates a chain whose later files build on the earlier ones', () => {
  it('plans each against what the files before it create, rename, add and drop', async () => {
    const c = await chain(
      `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
       CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric NOT NULL);
       INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 5) g;
       INSERT INTO orders SELECT g, 1 + g % 5, g * 10 FROM generate_series(1, 10) g;`,
      {
        '01_notes_and_rules.yaml': `operations:
  - create_table:
      name: notes
      columns:
        - {name: id, type: serial, pk: true}
        - {name: body, type: varchar(100)}
        - {name: topic, type: text, unique: true, nullable: true}
  - add_column:
      table: customers
      column: {name: email, type: text, nullable: true}
  - create_constraint:
      table: orders
      name: orders_total_positive
      type: check
      columns: [total]
      check: total > 0
      up: {total: total}
      down: {total: total}
  - create_index:
      name: orders_customer_idx
      table: orders
      columns: [{column: customer_id}]
`,
        '02_status_and_email.yaml': `operations:
  - add_column:
      table: orders
      up: "'new'"
      column: {name: status, type: text, default: "'new'"}
  - alter_column:
      table: customers
      column: email
      nullable: false
      up: "coalesce(email, 'c' || id || '@example.com')"
      down: email
`,
        '03_renames.yaml': `operations:
  - rename_table: {from: orders, to: purchases}
  - rename_column: {table: customers, from: name, to: full_name}
  - create_constraint:
      table: customers
      name: customers_email_key
      type: unique
      columns: [email]
      up: {email: email}
      down: {email: email}
  - drop_column:
      table: notes
      column: topic
`,
        '04_use_them.yaml': `operations:
  - add_column:
      table: purchases
      up: "status || ' order of ' || customer_id"
      column: {name: label, type: text, nullable: true}
  - drop_constraint:
      table: purchases
      name: orders_total_positive
      up: total
      down: greatest(total, 1)
  - drop_index:
      name: orders_customer_idx
  - set_replica_identity:
      table: customers
      identity: {type: index, index: customers_email_key}
  - alter_column:
      table: notes
      column: body
      type: varchar(500)
  - drop_column:
      table: notes
      column: id
      down: "0"
`,
      },
    );
    const { result, error, notices } = await migrate(c);
    expect(error).toBeUndefined();
    expect(result?.applied).toEqual([
      '01_notes_and_rules',
      '02_status_and_email',
      '03_renames',
      '04_use_them',
    ]);
    expect(notices[0]).toBe(
      'validated 4 pending files against the database before starting the first',
    );
    expect(await rows(c.db.pool, 'SELECT label FROM purchases WHERE id = 3')).toEqual([
      { label: 'new order of 4' },
    ]);
    expect(
      await rows(
        c.db.pool,
        `SELECT conname FROM pg_constraint WHERE conrelid = 'purchases'::regclass AND contype = 'c'`,
      ),
    ).toEqual([]);
    expect(await rows(c.db.pool, `SELECT to_regclass('orders_customer_idx') AS idx`)).toEqual([
      { idx: null },
    ]);
  });

  it('knows the constraints PostgreSQL names itself by the names it gives them', async () => {
    const table = 'a_rather_long_table_name_for_customer_loyalty_programmes';
    const c = await chain('', {
      '01_members.yaml': `operations:
  - create_table:
      name: ${table}
      columns:
        - {name: id, type: int, pk: true}
        - {name: membership_reference_code_for_partners, type: text, unique: true}
        - {name: x, type: text, unique: true}
`,
      '02_drop_keys.yaml': `operations:
  - drop_constraint:
      table: ${table}
      name: a_rather_long_table_name_for__membership_reference_code_for_key
      up: membership_reference_code_for_partners
      down: membership_reference_code_for_partners
  - drop_constraint:
      table: ${table}
      name: ${table}_x_key
      up: x
      down: x
`,
    });
    const { result, error } = await migrate(c);
    expect(error).toBeUndefined();
    expect(result?.applied).toEqual(['01_members', '02_drop_keys']);
  });

  it('asks the live database nothing about a table an earlier file renames or creates', async () => {
    // Now "things" has a column a view uses, which a copy of it could not keep; once 01 and 02
    // ran, "things" is a new table whose column nothing uses.
    const c = await chain(
      `CREATE TABLE things (id int PRIMARY KEY, size int);
       CREATE VIEW thing_sizes AS SELECT size FROM things;`,
      {
        '01_retire_things.yaml': `operations:
  - rename_table: {from: things, to: old_things}
`,
        '02_new_things.yaml': `operations:
  - create_table:
      name: things
      columns:
        - {name: id, type: int, pk: true}
        - {name: size, type: int, nullable: true}
`,
        '03_positive_size.yaml': `operations:
  - alter_column:
      table: things
      column: size
      check: {name: things_size_positive, constraint: size > 0}
      up: greatest(size, 1)
      down: size
`,
      },
    );
    const { result, error } = await migrate(c);
    expect(error).toBeUndefined();
    expect(result?.applied).toEqual(['01_retire_things', '02_new_things', '03_positive_size']);
  });

  it('probes a type change on a table an earlier file creates as that file leaves it', async () => {
    const created = `operations:
  - create_table:
      name: events
      columns:
        - {name: id, type: serial, pk: true}
        - {name: code, type: varchar(10), check: {name: events_code_length, constraint: length(code) > 1}}
        - {name: happened, type: integer, nullable: true}
`;
    // No cast from integer to date: the copy it takes cannot assign the old value. The live
    // database has no "events" to probe; the table 01 leaves does.
    const refused = await chain('', {
      '01_create_events.yaml': created,
      '02_events_date.yaml': `operations:
  - alter_column: {table: events, column: happened, type: date}
`,
    });
    const before = await snapshotCatalog(refused.db.pool);
    const { error } = await migrate(refused);
    expect(error?.message).toMatch(
      /02_events_date\.yaml: operations\[0\]\.alter_column\.up: column "happened" is of type date but expression is of type integer/,
    );
    await expectNothingApplied(refused.db, before);

    // varchar(10) to text, on a column with a check PostgreSQL checks again after the change:
    // probed with the check, as the file's own start will, and a valid chain.
    const c = await chain('', {
      '01_create_events.yaml': created,
      '02_events_text.yaml': `operations:
  - alter_column: {table: events, column: code, type: text}
`,
    });
    const { result, error: validError } = await migrate(c);
    expect(validError).toBeUndefined();
    expect(result?.applied).toEqual(['01_create_events', '02_events_text']);
  });

  it('counts no view of a version schema that is gone by the time a file runs', async () => {
    const c = await chain(ITEMS, {
      '00_base.yaml': `operations:
  - add_column:
      table: items
      column: {name: note, type: text, nullable: true}
`,
    });
    await migrate(c);
    // The views of 00's version schema use items.name now; 01's complete drops them.
    await writeFile(
      join(c.dir, '01_other.yaml'),
      `operations:
  - create_table:
      name: others
      columns: [{name: id, type: int, pk: true}]
`,
    );
    await writeFile(
      join(c.dir, '02_name_check.yaml'),
      `operations:
  - alter_column:
      table: items
      column: name
      check: {name: items_name_not_empty, constraint: name <> ''}
      up: "CASE WHEN name = '' THEN '?' ELSE name END"
      down: name
`,
    );
    const { result, error } = await migrate(c);
    expect(error).toBeUndefined();
    expect(result?.applied).toEqual(['01_other', '02_name_check']);
  });

  it('finishes an already started first file, then validates the rest before the next starts', async () => {
    const c = await chain(ITEMS, {
      ...THREE_VALID,
      '04_bad.yaml': `operations:
  - drop_column: {table: items, column: name}
`,
    });
    await withTidal(c.db.url, async (tidal) => {
      const [first] = await loadChain(c.dir);
      if (first) await tidal.start(first);
    });
    const { error } = await migrate(c);
    expect(error?.message).toMatch(
      /04_bad\.yaml: operations\[0\]\.drop_column\.column: column "name" does not exist/,
    );
    // The started one was completed, as migrate completes every file but the last; no other ran.
    expect(await rows(c.db.pool, 'SELECT name, phase FROM tidal.migrations')).toEqual([
      { name: '01_add_price', phase: 'completed' },
    ]);
  });
});

describe('migrate after raw SQL in an earlier pending file', () => {
  const diary = (up: string) => ({
    '01_diary.yaml': `operations:
  - sql:
      up: |
        CREATE TYPE mood AS ENUM ('ok', 'meh');
        CREATE TABLE diary (id int PRIMARY KEY, body text NOT NULL);
        COMMENT ON TABLE diary IS 'made by raw SQL';
`,
    '02_mood.yaml': `operations:
  - add_column:
      table: diary
      column: {name: mood, type: mood, default: "'ok'"}
`,
    '03_score.yaml': `operations:
  - add_column:
      table: diary
      up: "${up}"
      column: {name: score, type: integer, nullable: true}
`,
  });

  it('plans against the types and tables the SQL defines, exactly', async () => {
    const bad = await chain('', diary('mood + 1'));
    const before = await snapshotCatalog(bad.db.pool);
    const { error } = await migrate(bad);
    expect(error?.message).toMatch(
      /03_score\.yaml: operations\[0\]\.add_column\.up: operator does not exist: mood \+ integer/,
    );
    await expectNothingApplied(bad.db, before);

    const good = await chain('', diary("CASE WHEN mood = 'ok' THEN length(body) END"));
    const { result, error: none, notices } = await migrate(good);
    expect(none).toBeUndefined();
    expect(result?.applied).toEqual(['01_diary', '02_mood', '03_score']);
    expect(notices[0]).toMatch(/^validated 3 pending files/);
  });

  it('follows ALTER TABLE ... ADD COLUMN, with the column type it gives', async () => {
    const files = (up: string) => ({
      '01_weight.yaml': `operations:
  - sql:
      up: ALTER TABLE items ADD COLUMN weight integer
      onComplete: true
`,
      '02_heavy.yaml': `operations:
  - add_column:
      table: items
      up: "${up}"
      column: {name: heavy, type: boolean, nullable: true}
`,
    });
    const bad = await chain(ITEMS, files("weight > 'heavy'"));
    const before = await snapshotCatalog(bad.db.pool);
    const { error } = await migrate(bad);
    expect(error?.message).toMatch(/02_heavy\.yaml: operations\[0\]\.add_column\.up: .*integer/);
    await expectNothingApplied(bad.db, before);
    const good = await chain(ITEMS, files('weight > 10'));
    const { result } = await migrate(good);
    expect(result?.applied).toEqual(['01_weight', '02_heavy']);
  });

  it('leaves the files after SQL it cannot follow to their turn, and says so', async () => {
    const c = await chain(ITEMS, {
      '01_rename.yaml': `operations:
  - sql:
      up: ALTER TABLE items RENAME COLUMN name TO label
      down: ALTER TABLE items RENAME COLUMN label TO name
`,
      // Only there once 01's SQL ran: planned against the schema as it is, it would be refused.
      '02_nullable.yaml': `operations:
  - alter_column:
      table: items
      column: label
      nullable: true
      down: "'none'"
`,
    });
    const { result, error, notices } = await migrate(c);
    expect(error).toBeUndefined();
    expect(result?.applied).toEqual(['01_rename', '02_nullable']);
    expect(notices[0]).toMatch(
      /^validated 1 of 2 pending files against the database before starting the first; the rest come after raw SQL it cannot follow \(.*01_rename\.yaml: operations\[0\]\.sql: ALTER TABLE items RENAME COLUMN name TO label\) and are validated when their turn comes$/,
    );
  });
});
