/** Every operation of this slice through the full cycle: seed, start, both versions, rollback,
 *  start again, complete. */
import { describe, expect, it } from 'vitest';
import { InputError, OperationError } from '../../src/errors.js';
import { snapshotCatalog } from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

const products = [
  'CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL)',
  "INSERT INTO products SELECT g, 'product ' || g, g * 1.5 FROM generate_series(1, 50) g",
];

describe('create_table', () => {
  it('creates the table with its columns and constraints, visible in the new version only', async () => {
    await runCycle({
      setup: ['CREATE TABLE owners (id int PRIMARY KEY)', 'INSERT INTO owners VALUES (1), (2)'],
      migration: `
operations:
  - create_table:
      name: pets
      comment: animals
      columns:
        - name: id
          type: bigint
          pk: true
          generated:
            identity:
              user_specified_values: BY DEFAULT
        - name: name
          type: varchar(20)
          unique: true
          check:
            name: name_length
            constraint: length(name) > 1
          comment: the pet's name
        - name: owner_id
          type: int
          nullable: true
          references:
            name: pets_owner_fk
            table: owners
            column: id
            on_delete: CASCADE
        - name: kind
          type: text
          default: "'cat'"
        - name: name_upper
          type: text
          nullable: true
          generated:
            expression: upper(name)
      constraints:
        - name: kind_known
          type: check
          check: kind IN ('cat', 'dog')
`,
      async whileActive({ next, old, pass }) {
        // The old version has no view of the table.
        const oldView = await old.query(
          `SELECT to_regclass('public_m1.pets') IS NOT NULL AS visible`,
        );
        expect(oldView.rows[0].visible).toBe(true); // the new version schema exists...
        const oldPath = await old.query('SELECT current_schemas(false)::text[] AS path');
        expect(oldPath.rows[0].path).toEqual(['public']); // ...but the old session does not use it
        // DEFAULT through the view takes the table's identity and default.
        const inserted = await next.query(
          `INSERT INTO pets (id, name, owner_id, kind) VALUES (DEFAULT, $1, 1, DEFAULT) RETURNING id, kind, name_upper`,
          [`rex${pass}`],
        );
        expect(inserted.rows[0]).toMatchObject({ kind: 'cat', name_upper: `REX${pass}` });
        expect(Number(inserted.rows[0].id)).toBeGreaterThan(0);
        await expect(
          next.query(`INSERT INTO pets (name, kind) VALUES ('x', 'cat')`),
        ).rejects.toThrow(/name_length/);
        await expect(
          next.query(`INSERT INTO pets (name, kind) VALUES ('bob', 'cow')`),
        ).rejects.toThrow(/kind_known/);
        await expect(
          next.query(`INSERT INTO pets (name, owner_id) VALUES ('bob', 99)`),
        ).rejects.toThrow(/pets_owner_fk/);
        await expect(
          next.query(`INSERT INTO pets (name) VALUES ($1)`, [`rex${pass}`]),
        ).rejects.toThrow(/unique/);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, `SELECT to_regclass('public.pets') AS t`)).toEqual([
          { t: null },
        ]);
      },
      async afterComplete(db) {
        expect(await rows(db.pool, 'SELECT name, kind FROM pets ORDER BY id')).toEqual([
          { name: 'rex2', kind: 'cat' },
        ]);
        const comments = await db.query(
          `SELECT obj_description('pets'::regclass, 'pg_class') AS t, col_description('pets'::regclass, 2) AS c`,
        );
        expect(comments.rows[0]).toEqual({ t: 'animals', c: "the pet's name" });
        const cons = await rows<{ conname: string }>(
          db.pool,
          `SELECT conname FROM pg_constraint WHERE conrelid = 'pets'::regclass AND contype <> 'n' ORDER BY conname`,
        );
        expect(cons.map((c) => c.conname)).toEqual([
          'kind_known',
          'name_length',
          'pets_name_key',
          'pets_owner_fk',
          'pets_pkey',
        ]);
      },
    });
  });
});

describe('add_column', () => {
  it('adds a nullable column computed by up for existing rows and old-version writes', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - add_column:
      table: products
      up: upper(name)
      column:
        name: label
        type: text
        nullable: true
`,
      async whileActive({ old, next, pass }) {
        // Existing rows were backfilled.
        expect(await rows(next, 'SELECT label FROM products WHERE id = 7')).toEqual([
          { label: 'PRODUCT 7' },
        ]);
        // The old version does not see the column.
        await expect(old.query('SELECT label FROM products')).rejects.toThrow(/label/);
        // A row the old version writes gets `up`; an update through the old version recomputes it.
        await old.query(`INSERT INTO products VALUES ($1, 'old row', 1)`, [100 + pass]);
        expect(await rows(next, 'SELECT label FROM products WHERE id = $1', [100 + pass])).toEqual([
          { label: 'OLD ROW' },
        ]);
        await old.query(`UPDATE products SET name = 'renamed' WHERE id = 3`);
        expect(await rows(next, 'SELECT label FROM products WHERE id = 3')).toEqual([
          { label: 'RENAMED' },
        ]);
        // A row the new version writes keeps its own value and is visible to the old version.
        await next.query(
          `INSERT INTO products (id, name, price, label) VALUES ($1, 'new row', 2, 'mine')`,
          [200 + pass],
        );
        expect(await rows(old, 'SELECT name FROM products WHERE id = $1', [200 + pass])).toEqual([
          { name: 'new row' },
        ]);
        expect(await rows(next, 'SELECT label FROM products WHERE id = $1', [200 + pass])).toEqual([
          { label: 'mine' },
        ]);
      },
      async afterRollback(db) {
        expect(
          await rows(db.pool, 'SELECT count(*)::int AS n FROM products WHERE id IN (101, 201)'),
        ).toEqual([{ n: 2 }]);
      },
      async afterComplete(db) {
        const all = await rows<{ id: number; name: string; label: string | null }>(
          db.pool,
          'SELECT id, name, label FROM products ORDER BY id',
        );
        expect(all).toHaveLength(54);
        for (const row of all) {
          // 201 was written before the rollback, so the second start backfilled it like any row.
          if (row.id === 202) expect(row.label).toBe('mine');
          else expect(row.label).toBe(row.name.toUpperCase());
        }
      },
    });
  });

  it('adds a NOT NULL column enforced through a validated check, then SET NOT NULL at complete', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - add_column:
      table: products
      up: "'sku-' || id"
      column:
        name: sku
        type: text
        comment: stock keeping unit
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, 'SELECT sku FROM products WHERE id = 5')).toEqual([
          { sku: 'sku-5' },
        ]);
        await old.query(`INSERT INTO products VALUES ($1, 'x', 1)`, [300 + pass]);
        expect(await rows(next, 'SELECT sku FROM products WHERE id = $1', [300 + pass])).toEqual([
          { sku: `sku-${300 + pass}` },
        ]);
        // The new version must give the column a value.
        await expect(
          next.query(`INSERT INTO products (id, name, price) VALUES (999, 'y', 1)`),
        ).rejects.toThrow(/_tidal_nn_sku|null/);
      },
      async afterComplete(db) {
        const column = await rows(
          db.pool,
          `SELECT attnotnull, col_description(attrelid, attnum) AS comment FROM pg_attribute WHERE attrelid = 'products'::regclass AND attname = 'sku'`,
        );
        expect(column).toEqual([{ attnotnull: true, comment: 'stock keeping unit' }]);
        expect(
          await rows(db.pool, `SELECT count(*)::int AS n FROM products WHERE sku <> 'sku-' || id`),
        ).toEqual([{ n: 0 }]);
      },
    });
  });

  it('adds a NOT NULL column with a constant default without a rewrite or a backfill', async () => {
    let relfilenode = 0;
    await runCycle({
      setup: products,
      migration: `
operations:
  - add_column:
      table: products
      column:
        name: stock
        type: int
        default: "100"
`,
      async whileActive({ db, old, next, pass }) {
        const node = await rows<{ n: number }>(
          db.pool,
          `SELECT relfilenode::int AS n FROM pg_class WHERE oid = 'products'::regclass`,
        );
        relfilenode ||= node[0]?.n ?? 0;
        expect(node[0]?.n).toBe(relfilenode);
        const backfills = await rows(db.pool, 'SELECT count(*)::int AS n FROM tidal.backfills');
        expect(backfills).toEqual([{ n: 0 }]);
        expect(await rows(next, 'SELECT DISTINCT stock FROM products')).toEqual([{ stock: 100 }]);
        await old.query(`INSERT INTO products VALUES ($1, 'x', 1)`, [400 + pass]);
        expect(await rows(next, 'SELECT stock FROM products WHERE id = $1', [400 + pass])).toEqual([
          { stock: 100 },
        ]);
        await next.query(
          `INSERT INTO products (id, name, price, stock) VALUES ($1, 'y', 1, DEFAULT)`,
          [500 + pass],
        );
        expect(await rows(next, 'SELECT stock FROM products WHERE id = $1', [500 + pass])).toEqual([
          { stock: 100 },
        ]);
      },
      async afterComplete(db) {
        expect(
          await rows(
            db.pool,
            `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'products'::regclass AND attname = 'stock'`,
          ),
        ).toEqual([{ attnotnull: true }]);
      },
    });
  });

  it('fills a volatile default per existing row without rewriting the table', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - add_column:
      table: products
      column:
        name: token
        type: text
        default: md5(random()::text)
`,
      async whileActive({ db, next, old, pass }) {
        const distinct = await rows(
          next,
          'SELECT count(DISTINCT token)::int AS n, count(*) FILTER (WHERE token IS NULL)::int AS nulls FROM products WHERE id <= 50',
        );
        expect(distinct).toEqual([{ n: 50, nulls: 0 }]);
        await old.query(`INSERT INTO products VALUES ($1, 'x', 1)`, [600 + pass]);
        const fresh = await rows<{ token: string }>(
          next,
          'SELECT token FROM products WHERE id = $1',
          [600 + pass],
        );
        expect(fresh[0]?.token).toMatch(/^[0-9a-f]{32}$/);
        const backfill = await rows(
          db.pool,
          'SELECT done, rows_done::int AS n FROM tidal.backfills',
        );
        expect(backfill).toEqual([{ done: true, n: 50 + (pass === 2 ? 1 : 0) }]);
      },
    });
  });

  it('adds unique, check and foreign key constraints on the new column', async () => {
    await runCycle({
      setup: [
        ...products,
        'CREATE TABLE vendors (id int PRIMARY KEY)',
        'INSERT INTO vendors SELECT g FROM generate_series(1, 60) g',
      ],
      migration: `
operations:
  - add_column:
      table: products
      up: id
      column:
        name: vendor_id
        type: int
        nullable: true
        unique: true
        check:
          name: vendor_positive
          constraint: vendor_id > 0
        references:
          name: products_vendor_fk
          table: vendors
          column: id
`,
      async whileActive({ next, old, pass }) {
        await expect(
          next.query(`INSERT INTO products (id, name, price, vendor_id) VALUES (700, 'x', 1, 0)`),
        ).rejects.toThrow(/vendor_positive/);
        await expect(
          next.query(`INSERT INTO products (id, name, price, vendor_id) VALUES (700, 'x', 1, 61)`),
        ).rejects.toThrow(/products_vendor_fk/);
        await expect(
          next.query(`INSERT INTO products (id, name, price, vendor_id) VALUES (700, 'x', 1, 5)`),
        ).rejects.toThrow(/unique|duplicate/);
        await old.query(`INSERT INTO products VALUES ($1, 'x', 1)`, [50 + pass]).catch(() => {});
        expect(await rows(next, 'SELECT vendor_id FROM products WHERE id = 9')).toEqual([
          { vendor_id: 9 },
        ]);
      },
      async afterComplete(db) {
        const cons = await rows<{ conname: string; convalidated: boolean }>(
          db.pool,
          `SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'products'::regclass AND contype NOT IN ('p', 'n') ORDER BY conname`,
        );
        expect(cons).toEqual([
          { conname: 'products_vendor_fk', convalidated: true },
          { conname: 'products_vendor_id_key', convalidated: true },
          { conname: 'vendor_positive', convalidated: true },
        ]);
      },
    });
  });

  it('adds identity and generated columns to a table the same migration creates, under their final names', async () => {
    await runCycle({
      setup: [],
      migration: `
operations:
  - create_table:
      name: sales
      columns:
        - name: id
          type: int
          pk: true
        - name: title
          type: text
  - add_column:
      table: sales
      column:
        name: sale_no
        type: int
        generated:
          identity:
            user_specified_values: BY DEFAULT
            sequence_options: START WITH 100
  - add_column:
      table: sales
      column:
        name: slug
        type: text
        nullable: true
        generated:
          expression: lower(title)
`,
      async whileActive({ db, next, pass }) {
        expect(
          await rows(
            next,
            `INSERT INTO sales (id, title) VALUES ($1, 'Big Sale') RETURNING sale_no, slug`,
            [pass],
          ),
        ).toEqual([{ sale_no: 100, slug: 'big sale' }]);
        expect(
          await rows(
            db.pool,
            `SELECT attname, attidentity, attgenerated FROM pg_attribute
              WHERE attrelid = 'sales'::regclass AND attnum > 2 ORDER BY attnum`,
          ),
        ).toEqual([
          { attname: 'sale_no', attidentity: 'd', attgenerated: '' },
          { attname: 'slug', attidentity: '', attgenerated: 's' },
        ]);
      },
      async afterComplete(db) {
        // The identity's sequence is named after the column's final name.
        expect(
          await rows(db.pool, `SELECT pg_get_serial_sequence('sales', 'sale_no') AS sequence`),
        ).toEqual([{ sequence: 'public.sales_sale_no_seq' }]);
        expect(await rows(db.pool, 'SELECT id, sale_no, slug FROM sales')).toEqual([
          { id: 2, sale_no: 100, slug: 'big sale' },
        ]);
      },
    });
  });
});

describe('drop_column', () => {
  it('hides the column from the new version and fills it from down for new-version rows', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - drop_column:
      table: products
      column: price
      down: "0"
`,
      async whileActive({ old, next, pass }) {
        await expect(next.query('SELECT price FROM products')).rejects.toThrow(/price/);
        await next.query(`INSERT INTO products (id, name) VALUES ($1, 'new')`, [800 + pass]);
        expect(await rows(old, 'SELECT price FROM products WHERE id = $1', [800 + pass])).toEqual([
          { price: '0.00' },
        ]);
        await old.query(`INSERT INTO products VALUES ($1, 'old', 9.5)`, [900 + pass]);
        expect(await rows(next, 'SELECT name FROM products WHERE id = $1', [900 + pass])).toEqual([
          { name: 'old' },
        ]);
        expect(await rows(old, 'SELECT price FROM products WHERE id = 2')).toEqual([
          { price: '3.00' },
        ]);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, 'SELECT price FROM products WHERE id = 801')).toEqual([
          { price: '0.00' },
        ]);
      },
      async afterComplete(db) {
        const cols = await rows<{ attname: string }>(
          db.pool,
          `SELECT attname FROM pg_attribute WHERE attrelid = 'products'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        );
        expect(cols.map((c) => c.attname)).toEqual(['id', 'name']);
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM products')).toEqual([{ n: 54 }]);
      },
    });
  });
});

describe('rename_column and rename_table', () => {
  it('shows new names to the new version and old names to the old one, then renames at complete', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - rename_column:
      table: products
      from: name
      to: title
  - rename_table:
      from: products
      to: items
`,
      async whileActive({ old, next, pass }) {
        await old.query(`INSERT INTO products (id, name, price) VALUES ($1, 'via old', 1)`, [
          1000 + pass,
        ]);
        await next.query(`INSERT INTO items (id, title, price) VALUES ($1, 'via new', 1)`, [
          1100 + pass,
        ]);
        expect(await rows(next, 'SELECT title FROM items WHERE id = $1', [1000 + pass])).toEqual([
          { title: 'via old' },
        ]);
        expect(await rows(old, 'SELECT name FROM products WHERE id = $1', [1100 + pass])).toEqual([
          { name: 'via new' },
        ]);
      },
      async afterComplete(db) {
        expect(
          await rows(db.pool, 'SELECT title FROM items WHERE id IN (1002, 1102) ORDER BY id'),
        ).toEqual([{ title: 'via old' }, { title: 'via new' }]);
        expect(await rows(db.pool, `SELECT to_regclass('public.products') AS t`)).toEqual([
          { t: null },
        ]);
        // The new version's view follows the physical renames.
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM public_m1.items')).toEqual([
          { n: 54 },
        ]);
      },
    });
  });
});

describe('drop_table', () => {
  it('keeps the table for the old version until complete drops it', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - drop_table:
      name: products
`,
      async whileActive({ old, next, pass }) {
        // The new version has no view of it (its search_path still reaches the raw table in
        // public, like any table, for types and functions).
        expect(await rows(next, `SELECT to_regclass('public_m1.products') AS t`)).toEqual([
          { t: null },
        ]);
        await old.query(`INSERT INTO products VALUES ($1, 'still here', 1)`, [1200 + pass]);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM products')).toEqual([{ n: 51 }]);
      },
      async afterComplete(db) {
        expect(await rows(db.pool, `SELECT to_regclass('public.products') AS t`)).toEqual([
          { t: null },
        ]);
      },
    });
  });
});

describe('create_index and drop_index', () => {
  it('builds indexes concurrently at start and drops indexes at complete', async () => {
    await runCycle({
      setup: [...products, 'CREATE INDEX products_price ON products (price)'],
      migration: `
operations:
  - create_index:
      name: products_name_lower
      table: products
      columns:
        - column: name
          sort: DESC
      predicate: price > 10
      storage_parameters: fillfactor = 80
  - create_index:
      name: products_name_hash
      table: products
      method: hash
      columns:
        - column: name
  - drop_index:
      name: products_price
`,
      async whileActive({ db }) {
        const indexes = await rows<{ name: string; valid: boolean; def: string }>(
          db.pool,
          `SELECT c.relname AS name, i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'products'::regclass ORDER BY 1`,
        );
        expect(indexes.map((i) => [i.name, i.valid])).toEqual([
          ['products_name_hash', true],
          ['products_name_lower', true],
          ['products_pkey', true],
          ['products_price', true],
        ]);
        expect(indexes.find((i) => i.name === 'products_name_lower')?.def).toMatch(
          /name DESC\) WITH \(fillfactor='?80'?\) WHERE \(price > /,
        );
        expect(indexes.find((i) => i.name === 'products_name_hash')?.def).toMatch(/USING hash/);
      },
      async afterComplete(db) {
        const names = await rows<{ relname: string }>(
          db.pool,
          `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'products'::regclass ORDER BY 1`,
        );
        expect(names.map((n) => n.relname)).toEqual([
          'products_name_hash',
          'products_name_lower',
          'products_pkey',
        ]);
      },
    });
  });
});

describe('sql', () => {
  it('runs up at start and down at rollback, one statement at a time', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - sql:
      up: |
        CREATE TABLE audit (id int PRIMARY KEY, note text);
        INSERT INTO audit VALUES (1, 'a;b');
        CREATE INDEX CONCURRENTLY audit_note ON audit (note);
      down: DROP TABLE audit
`,
      async whileActive({ next }) {
        // Tables raw SQL makes appear in the new version.
        expect(await rows(next, 'SELECT note FROM audit')).toEqual([{ note: 'a;b' }]);
      },
      async afterComplete(db) {
        expect(
          await rows(db.pool, `SELECT to_regclass('public.audit_note') IS NOT NULL AS ok`),
        ).toEqual([{ ok: true }]);
      },
    });
  });

  it('runs onComplete SQL at complete and shows its effect in the version schema', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - sql:
      up: ALTER TABLE products ADD COLUMN note text
      onComplete: true
`,
      async whileActive({ next }) {
        await expect(next.query('SELECT note FROM products')).rejects.toThrow(/note/);
      },
      async afterComplete(db) {
        expect(await rows(db.pool, 'SELECT count(note)::int AS n FROM public_m1.products')).toEqual(
          [{ n: 0 }],
        );
      },
    });
  });
});

describe('several operations on one table', () => {
  it('combines add, rename and drop in one trigger, direction chosen by tidal.version too', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - add_column:
      table: products
      up: name || ' (' || price || ')'
      column:
        name: display
        type: text
  - rename_column:
      table: products
      from: name
      to: title
  - drop_column:
      table: products
      column: price
      down: length(title)
`,
      async whileActive({ db, next, old, pass }) {
        expect(await rows(next, 'SELECT title, display FROM products WHERE id = 2')).toEqual([
          { title: 'product 2', display: 'product 2 (3.00)' },
        ]);
        await next.query(`INSERT INTO products (id, title, display) VALUES ($1, 'abcd', 'shown')`, [
          1300 + pass,
        ]);
        expect(
          await rows(old, 'SELECT name, price FROM products WHERE id = $1', [1300 + pass]),
        ).toEqual([{ name: 'abcd', price: '4.00' }]);
        // A session on the raw tables that says it is the new version writes in the new direction.
        const session = await db.client();
        await session.query(`SET tidal.version = 'm1'`);
        await session.query(
          `INSERT INTO public_m1.products (id, title, display) VALUES ($1, 'xy', 'z')`,
          [1400 + pass],
        );
        expect(await rows(old, 'SELECT price FROM products WHERE id = $1', [1400 + pass])).toEqual([
          { price: '2.00' },
        ]);
        await old.query(`INSERT INTO products VALUES ($1, 'old', 7)`, [1500 + pass]);
        expect(
          await rows(next, 'SELECT display FROM products WHERE id = $1', [1500 + pass]),
        ).toEqual([{ display: 'old (7.00)' }]);
      },
      async afterComplete(db) {
        const cols = await rows<{ attname: string }>(
          db.pool,
          `SELECT attname FROM pg_attribute WHERE attrelid = 'products'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        );
        expect(cols.map((c) => c.attname)).toEqual(['id', 'title', 'display']);
        expect(await rows(db.pool, 'SELECT display FROM products WHERE id = 1502')).toEqual([
          { display: 'old (7.00)' },
        ]);
      },
    });
  });
});

describe('a failed start', () => {
  it('drops the invalid index a failed concurrent build leaves, rolls back, and changes nothing', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE tags (id int PRIMARY KEY, label text)');
      await db.query("INSERT INTO tags VALUES (1, 'a'), (2, 'a')");
      const before = await snapshotCatalog(db.pool);
      const loaded = await migrationFromYaml(
        'uniq',
        `
operations:
  - add_column:
      table: tags
      column:
        name: note
        type: text
        nullable: true
  - create_index:
      name: tags_label_unique
      table: tags
      unique: true
      columns:
        - column: label
`,
      );
      const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toMatch(/tags_label_unique[\s\S]*rolled back/);
      expect(await snapshotCatalog(db.pool)).toEqual(before);
      const status = await withTidal(db.url, (t) => t.status());
      expect(status.active).toBeNull();
    } finally {
      await db.dispose();
    }
  });
});

describe('operations that build on each other in one migration', () => {
  it('renames an added column, renames a column twice, and drops a column of a renamed table', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - add_column:
      table: products
      up: name
      column:
        name: draft
        type: text
        nullable: true
  - rename_column:
      table: products
      from: draft
      to: label
  - rename_column:
      table: products
      from: name
      to: title
  - rename_column:
      table: products
      from: title
      to: heading
  - rename_table:
      from: products
      to: goods
  - drop_column:
      table: goods
      column: price
      down: "1"
`,
      async whileActive({ next, old, pass }) {
        expect(await rows(next, 'SELECT heading, label FROM goods WHERE id = 4')).toEqual([
          { heading: 'product 4', label: 'product 4' },
        ]);
        await next.query(`INSERT INTO goods (id, heading, label) VALUES ($1, 'h', 'l')`, [
          1600 + pass,
        ]);
        expect(
          await rows(old, 'SELECT name, price FROM products WHERE id = $1', [1600 + pass]),
        ).toEqual([{ name: 'h', price: '1.00' }]);
      },
      async afterComplete(db) {
        const cols = await rows<{ attname: string }>(
          db.pool,
          `SELECT attname FROM pg_attribute WHERE attrelid = 'goods'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        );
        expect(cols.map((c) => c.attname)).toEqual(['id', 'heading', 'label']);
        expect(await rows(db.pool, 'SELECT heading, label FROM goods WHERE id = 1602')).toEqual([
          { heading: 'h', label: 'l' },
        ]);
      },
    });
  });
});

describe('sql without down', () => {
  it('rolls back what its CREATE statements made', async () => {
    await runCycle({
      setup: products,
      migration: `
operations:
  - sql:
      up: |
        CREATE TYPE mood AS ENUM ('happy', 'sad');
        CREATE SEQUENCE tickets;
        CREATE TABLE notes (id int PRIMARY KEY, mood mood);
        CREATE INDEX notes_mood ON notes (mood);
        CREATE VIEW happy_notes AS SELECT * FROM notes WHERE mood = 'happy';
`,
      async whileActive({ next, pass }) {
        await next.query(`INSERT INTO notes VALUES ($1, 'happy')`, [pass]);
        expect(await rows(next, 'SELECT count(*)::int AS n FROM happy_notes')).toEqual([{ n: 1 }]);
      },
      async afterComplete(db) {
        expect(await rows(db.pool, 'SELECT id FROM notes')).toEqual([{ id: 2 }]);
      },
    });
  });
});

describe('another application schema', () => {
  it('migrates tables of --schema, with version schemas named after it', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE SCHEMA "shop floor"');
      await db.query('CREATE TABLE "shop floor".bins (id int PRIMARY KEY, label text NOT NULL)');
      await db.query(`INSERT INTO "shop floor".bins VALUES (1, 'a'), (2, 'b')`);
      const options = { schema: 'shop floor', stateSchema: 'tidal state' };
      const loaded = await migrationFromYaml(
        'bins',
        `
operations:
  - add_column:
      table: bins
      up: upper(label)
      column:
        name: code
        type: text
`,
      );
      await withTidal(db.url, (t) => t.start(loaded), options);
      expect(await rows(db.pool, 'SELECT code FROM "shop floor_bins".bins ORDER BY id')).toEqual([
        { code: 'A' },
        { code: 'B' },
      ]);
      await withTidal(db.url, (t) => t.complete(), options);
      expect(await rows(db.pool, 'SELECT code FROM "shop floor".bins ORDER BY id')).toEqual([
        { code: 'A' },
        { code: 'B' },
      ]);
      expect(await rows(db.pool, `SELECT name FROM "tidal state".migrations`)).toEqual([
        { name: 'bins' },
      ]);
      // The default schema knows nothing of it.
      expect((await withTidal(db.url, (t) => t.status())).applied).toBe(0);
    } finally {
      await db.dispose();
    }
  });
});

describe('a file changed after it was started', () => {
  it('has a checksum of its content (not of its length), and starting it again is refused', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      const file = (column: string) => `
operations:
  - add_column:
      table: notes
      column:
        name: ${column}
        type: text
        nullable: true
`;
      const started = await migrationFromYaml('notes', file('title'));
      const changed = await migrationFromYaml('notes', file('topic'));
      expect(changed.content).toHaveLength(started.content.length);
      expect(changed.checksum).not.toBe(started.checksum);

      await withTidal(db.url, (t) => t.start(started));
      const error = await withTidal(db.url, (t) => t.start(changed)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toBe(
        'notes.yaml: migration "notes" was started from different content; roll it back first',
      );
      // The same content resumes (here: is already active).
      expect((await withTidal(db.url, (t) => t.start(started))).phase).toBe('active');
    } finally {
      await db.dispose();
    }
  });
});
