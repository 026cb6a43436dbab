/** drop_constraint and drop_multicolumn_constraint: the constraint goes at start without a copy
 *  column or a rewrite, and rollback brings it back, giving rows that break it their `down`. */

import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { constraintsOf, indexesOf, snapshotCatalog } from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

const posts = [
  'CREATE TABLE users (id int PRIMARY KEY, name text)',
  "INSERT INTO users VALUES (1, 'ann'), (2, 'bob')",
  `CREATE TABLE posts (id int PRIMARY KEY, title varchar(255) NOT NULL,
     user_id int CONSTRAINT fk_users_id REFERENCES users (id),
     CONSTRAINT title_length CHECK (length(title) > 3))`,
  "INSERT INTO posts VALUES (1, 'first', 1), (2, 'second', 2), (3, 'third', NULL)",
];

async function relfilenode(db: Queryable, table: string): Promise<string> {
  const [row] = await rows<{ node: string }>(
    db,
    'SELECT relfilenode::text AS node FROM pg_class WHERE oid = $1::regclass',
    [table],
  );
  return row?.node ?? '';
}

async function copyColumns(db: Queryable): Promise<unknown[]> {
  return rows(
    db,
    `SELECT attname FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname LIKE '\\_tidal\\_%'`,
  );
}

describe('drop_constraint', () => {
  it('drops a check at start without a rewrite; rollback gives rows that break it down (example 23)', async () => {
    let node = '';
    await runCycle({
      setup: posts,
      migration: `
operations:
  - drop_constraint:
      table: posts
      name: title_length
      up: title
      down: SELECT CASE WHEN length(title) <= 3 THEN LPAD(title, 4, '-') ELSE title END
`,
      async whileActive({ db, old, next, pass }) {
        node ||= await relfilenode(db.pool, 'posts');
        expect(await relfilenode(db.pool, 'posts')).toBe(node);
        expect(await copyColumns(db.pool)).toEqual([]);
        // The new version writes what the constraint forbade; the old one reads it as it is.
        await next.query(`INSERT INTO posts (id, title) VALUES ($1, 'ab')`, [10 + pass]);
        await next.query(`UPDATE posts SET title = 'xy' WHERE id = 1`);
        expect(
          await rows(old, 'SELECT title FROM posts WHERE id IN (1, $1) ORDER BY id', [10 + pass]),
        ).toEqual([{ title: 'xy' }, { title: 'ab' }]);
        expect((await constraintsOf(db.pool, 'posts')).map((c) => c.name)).toEqual([
          'fk_users_id',
          'posts_pkey',
        ]);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, 'SELECT id, title FROM posts ORDER BY id')).toEqual([
          { id: 1, title: '--xy' },
          { id: 2, title: 'second' },
          { id: 3, title: 'third' },
          { id: 11, title: '--ab' },
        ]);
        expect(await relfilenode(db.pool, 'posts')).toBe(node);
        await expect(db.query(`UPDATE posts SET title = 'no' WHERE id = 2`)).rejects.toThrow(
          /title_length/,
        );
      },
      async afterComplete(db) {
        expect((await constraintsOf(db.pool, 'posts')).map((c) => c.name)).toEqual([
          'fk_users_id',
          'posts_pkey',
        ]);
        expect(await rows(db.pool, 'SELECT id, title FROM posts ORDER BY id')).toEqual([
          { id: 1, title: 'xy' },
          { id: 2, title: 'second' },
          { id: 3, title: 'third' },
          { id: 11, title: '--ab' },
          { id: 12, title: 'ab' },
        ]);
        expect(await relfilenode(db.pool, 'posts')).toBe(node);
      },
    });
  });

  it('drops a foreign key; rollback clears references the new version left dangling (example 24)', async () => {
    await runCycle({
      setup: posts,
      migration: `
operations:
  - drop_constraint:
      table: posts
      name: fk_users_id
      up: user_id
      down: SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE users.id = user_id) THEN user_id ELSE NULL END
`,
      async whileActive({ next, pass }) {
        await next.query(`INSERT INTO posts VALUES ($1, 'dangling', 99)`, [10 + pass]);
        await next.query(`DELETE FROM users WHERE id = 2`);
        await next.query(`INSERT INTO users VALUES (2, 'bob')`);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, 'SELECT id, user_id FROM posts ORDER BY id')).toEqual([
          { id: 1, user_id: 1 },
          { id: 2, user_id: 2 },
          { id: 3, user_id: null },
          { id: 11, user_id: null },
        ]);
        const fk = (await constraintsOf(db.pool, 'posts')).find((c) => c.name === 'fk_users_id');
        expect(fk).toEqual({
          name: 'fk_users_id',
          def: 'FOREIGN KEY (user_id) REFERENCES users(id)',
          validated: true,
        });
      },
      async afterComplete(db) {
        expect((await constraintsOf(db.pool, 'posts')).map((c) => c.name)).toEqual([
          'posts_pkey',
          'title_length',
        ]);
        expect(await rows(db.pool, 'SELECT user_id FROM posts WHERE id = 12')).toEqual([
          { user_id: 99 },
        ]);
      },
    });
  });

  it('drops a unique constraint and its index; rollback rebuilds it after down splits duplicates (example 27)', async () => {
    await runCycle({
      setup: [
        'CREATE TABLE reviews (id int PRIMARY KEY, review text CONSTRAINT reviews_review_unique UNIQUE)',
        "INSERT INTO reviews VALUES (1, 'good'), (2, 'bad'), (3, NULL)",
      ],
      migration: `
operations:
  - drop_constraint:
      table: reviews
      name: reviews_review_unique
      up: review
      down: review || '-' || id
`,
      async whileActive({ db, next, old, pass }) {
        expect((await indexesOf(db.pool, 'reviews')).map((i) => i.name)).toEqual(['reviews_pkey']);
        await next.query(`INSERT INTO reviews VALUES ($1, 'good'), ($2, 'good')`, [
          10 + pass,
          20 + pass,
        ]);
        await old.query(`INSERT INTO reviews VALUES ($1, 'bad')`, [30 + pass]);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, 'SELECT id, review FROM reviews ORDER BY id')).toEqual([
          { id: 1, review: 'good' },
          { id: 2, review: 'bad' },
          { id: 3, review: null },
          { id: 11, review: 'good-11' },
          { id: 21, review: 'good-21' },
          { id: 31, review: 'bad-31' },
        ]);
        expect(await indexesOf(db.pool, 'reviews')).toContainEqual({
          name: 'reviews_review_unique',
          def: 'CREATE UNIQUE INDEX reviews_review_unique ON public.reviews USING btree (review)',
          valid: true,
        });
      },
      async afterComplete(db) {
        expect((await constraintsOf(db.pool, 'reviews')).map((c) => c.name)).toEqual([
          'reviews_pkey',
        ]);
        expect(
          await rows(db.pool, `SELECT count(*)::int AS n FROM reviews WHERE review = 'good'`),
        ).toEqual([{ n: 3 }]);
      },
    });
  });

  it('drop_multicolumn_constraint takes down per column', async () => {
    await runCycle({
      setup: [
        `CREATE TABLE tickets (id int PRIMARY KEY, sellers_name text, sellers_zip int,
           CONSTRAINT check_zip_name CHECK (sellers_name = 'alice' OR sellers_zip > 0))`,
        "INSERT INTO tickets VALUES (1, 'alice', 0), (2, 'bob', 5)",
      ],
      migration: `
operations:
  - drop_multicolumn_constraint:
      table: tickets
      name: check_zip_name
      up:
        sellers_name: sellers_name
        sellers_zip: sellers_zip
      down:
        sellers_name: sellers_name
        sellers_zip: SELECT CASE WHEN sellers_zip <= 0 THEN 1 ELSE sellers_zip END
`,
      async whileActive({ next, pass }) {
        await next.query(`INSERT INTO tickets VALUES ($1, 'carol', -4)`, [10 + pass]);
      },
      async afterRollback(db) {
        // alice's row kept the constraint through its name: down only touches rows that break it.
        expect(await rows(db.pool, 'SELECT id, sellers_zip FROM tickets ORDER BY id')).toEqual([
          { id: 1, sellers_zip: 0 },
          { id: 2, sellers_zip: 5 },
          { id: 11, sellers_zip: 1 },
        ]);
        expect(await constraintsOf(db.pool, 'tickets')).toContainEqual({
          name: 'check_zip_name',
          def: "CHECK (((sellers_name = 'alice'::text) OR (sellers_zip > 0)))",
          validated: true,
        });
      },
      async afterComplete(db) {
        expect(await rows(db.pool, 'SELECT sellers_zip FROM tickets WHERE id = 12')).toEqual([
          { sellers_zip: -4 },
        ]);
      },
    });
  });

  it('replaces a primary key: the new one is built beside it, the old one holds until complete', async () => {
    let before: unknown;
    await runCycle({
      setup: [
        'CREATE TABLE accounts (id int PRIMARY KEY, tenant int NOT NULL)',
        'INSERT INTO accounts SELECT g, g % 3 FROM generate_series(1, 30) g',
      ],
      migration: `
operations:
  - drop_constraint: {table: accounts, name: accounts_pkey, up: id, down: id}
  - create_constraint:
      table: accounts
      name: accounts_pkey
      type: primary_key
      columns: [tenant, id]
      up: {tenant: tenant, id: id}
      down: {tenant: tenant, id: id}
`,
      async whileActive({ db, old, next, pass }) {
        before ??= await relfilenode(db.pool, 'accounts');
        expect(await relfilenode(db.pool, 'accounts')).toBe(before);
        for (const version of [old, next]) {
          await expect(version.query('INSERT INTO accounts VALUES (1, 7)')).rejects.toThrow(
            /accounts_pkey/,
          );
        }
        await next.query('INSERT INTO accounts VALUES ($1, 1)', [100 + pass]);
        expect(await indexesOf(db.pool, 'accounts')).toContainEqual({
          name: '_tidal_accounts_pkey',
          def: 'CREATE UNIQUE INDEX _tidal_accounts_pkey ON public.accounts USING btree (tenant, id)',
          valid: true,
        });
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'accounts')).toEqual([
          { name: 'accounts_pkey', def: 'PRIMARY KEY (tenant, id)', validated: true },
        ]);
        expect(await relfilenode(db.pool, 'accounts')).toBe(before);
        // The same id in another tenant is now allowed.
        await db.query('INSERT INTO accounts VALUES (1, 7)');
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM accounts')).toEqual([{ n: 33 }]);
      },
    });
  });

  it('rollback stops, migration still active, when down leaves rows that break the constraint', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of posts) await db.query(sql);
      const before = await snapshotCatalog(db.pool);
      const loaded = await migrationFromYaml(
        'm1',
        'operations:\n  - drop_constraint: {table: posts, name: title_length, up: title, down: title}\n',
      );
      await withTidal(db.url, (t) => t.start(loaded));
      await db.query(`INSERT INTO posts VALUES (9, 'ab', NULL)`);

      const error = await withTidal(db.url, (t) => t.rollback()).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/title_length/);
      expect((error as Error).message).toMatch(/rows that break it: id = 9\n/);
      expect((await withTidal(db.url, (t) => t.status())).active?.name).toBe('m1');
      expect(await rows(db.pool, 'SELECT title FROM posts WHERE id = 9')).toEqual([
        { title: 'ab' },
      ]);

      // Once the row is fixed, rollback finishes and the catalog is as before start.
      await db.query(`UPDATE posts SET title = 'abcd' WHERE id = 9`);
      await withTidal(db.url, (t) => t.rollback());
      expect((await withTidal(db.url, (t) => t.status())).active).toBeNull();
      expect(await snapshotCatalog(db.pool)).toEqual(before);
    } finally {
      await db.dispose();
    }
  });

  it('refuses what it cannot drop in place, before anything runs', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of posts) await db.query(sql);
      await db.query(`CREATE TABLE pairs (a int, b int, CONSTRAINT ab UNIQUE (a, b))`);
      await db.query(`CREATE TABLE codes (code text CONSTRAINT code_unique UNIQUE)`);
      await db.query(`CREATE TABLE uses (code text REFERENCES codes (code))`);
      await db.query('CREATE TABLE ex (a int, EXCLUDE (a WITH =))');
      const before = await snapshotCatalog(db.pool);
      const cases: [string, RegExp][] = [
        [
          '{table: pairs, name: ab, up: a, down: a}',
          /drop_constraint\.name: constraint "ab" covers 2 columns \(a, b\); drop it with drop_multicolumn_constraint/,
        ],
        [
          '{table: posts, name: title_length, up: upper(title), down: title}',
          /drop_constraint\.up\.title: .*up must be the column itself/,
        ],
        [
          '{table: posts, name: nope, up: title, down: title}',
          /drop_constraint\.name: constraint "nope" on table "posts" does not exist/,
        ],
        [
          '{table: ex, name: ex_a_excl, up: a, down: a}',
          /drop_constraint\.name: constraint "ex_a_excl" is an exclusion constraint/,
        ],
        [
          '{table: codes, name: code_unique, up: code, down: code}',
          /foreign key "uses_code_fkey" on uses references "code_unique"; drop that foreign key first/,
        ],
        [
          '{table: posts, name: title_length, up: title, down: no_such_column}',
          /drop_constraint\.down/,
        ],
      ];
      for (const [options, message] of cases) {
        const loaded = await migrationFromYaml(
          'm1',
          `operations:\n  - drop_constraint: ${options}\n`,
        );
        const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
        expect(error, options).toBeInstanceOf(InputError);
        expect((error as Error).message, options).toMatch(message);
        expect((error as Error).message).toMatch(/^m1\.yaml: operations\[0\]/);
      }
      expect(await snapshotCatalog(db.pool)).toEqual(before);
    } finally {
      await db.dispose();
    }
  });
});
