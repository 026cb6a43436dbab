/** alter_column changes that need a copy column: `type`, `nullable: false`, `unique`, `check` and
 *  `references`, through the full cycle, with values read through both versions. */

import { describe, expect, it } from 'vitest';
import { InputError, OperationError } from '../../src/errors.js';
import { columnOf, constraintsOf, indexesOf, snapshotCatalog } from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

/** pgroll example 14's table, with 20 reviews: every fifth has no review, every tenth no rating. */
const reviews = [
  'CREATE TABLE reviews (id int PRIMARY KEY, username text NOT NULL, product text NOT NULL, review text, rating text)',
  `INSERT INTO reviews SELECT g, 'user' || g, 'product ' || g,
          CASE WHEN g % 5 = 0 THEN NULL ELSE 'good' END,
          CASE WHEN g % 10 = 0 THEN NULL ELSE (g % 10)::text END
     FROM generate_series(1, 20) g`,
];

describe('alter_column with a copy column', () => {
  it('changes text to integer (example 18): backfill, both directions, index kept', async () => {
    await runCycle({
      setup: [...reviews, 'CREATE INDEX reviews_rating_idx ON reviews (rating)'],
      migration: `
operations:
  - alter_column:
      table: reviews
      column: rating
      type: integer
      up: CAST(rating AS integer)
      down: CAST(rating AS text)
`,
      async whileActive({ old, next, pass }) {
        // Existing rows were backfilled.
        expect(
          await rows(next, 'SELECT id, rating FROM reviews WHERE id IN (7, 10) ORDER BY id'),
        ).toEqual([
          { id: 7, rating: 7 },
          { id: 10, rating: null },
        ]);
        expect(await rows(old, 'SELECT rating FROM reviews WHERE id = 7')).toEqual([
          { rating: '7' },
        ]);
        // The old version writes text; the new version reads an integer.
        await old.query(`INSERT INTO reviews VALUES ($1, 'old', 'lamp', NULL, '7')`, [100 + pass]);
        expect(await rows(next, 'SELECT rating FROM reviews WHERE id = $1', [100 + pass])).toEqual([
          { rating: 7 },
        ]);
        await old.query(`UPDATE reviews SET rating = '3' WHERE id = 5`);
        expect(await rows(next, 'SELECT rating FROM reviews WHERE id = 5')).toEqual([
          { rating: 3 },
        ]);
        // The new version writes an integer; the old version reads text.
        await next.query(
          `INSERT INTO reviews (id, username, product, rating) VALUES ($1, 'new', 'desk', 9)`,
          [200 + pass],
        );
        expect(await rows(old, 'SELECT rating FROM reviews WHERE id = $1', [200 + pass])).toEqual([
          { rating: '9' },
        ]);
        await next.query('UPDATE reviews SET rating = 4 WHERE id = 2');
        expect(await rows(old, 'SELECT rating FROM reviews WHERE id = 2')).toEqual([
          { rating: '4' },
        ]);
        await expect(next.query(`UPDATE reviews SET rating = 'x' WHERE id = 2`)).rejects.toThrow(
          /integer/,
        );
      },
      async afterRollback(db) {
        expect(
          await rows(
            db.pool,
            'SELECT id, rating FROM reviews WHERE id IN (2, 101, 201) ORDER BY id',
          ),
        ).toEqual([
          { id: 2, rating: '4' },
          { id: 101, rating: '7' },
          { id: 201, rating: '9' },
        ]);
      },
      async afterComplete(db) {
        expect(await columnOf(db.pool, 'reviews', 'rating')).toEqual([
          { type: 'integer', notnull: false, default: null, comment: null },
        ]);
        const expected = [];
        for (let id = 1; id <= 20; id++) {
          const rating = id === 2 ? 4 : id === 5 ? 3 : id % 10 === 0 ? null : id % 10;
          expected.push({ id, rating });
        }
        expected.push(
          { id: 101, rating: 7 },
          { id: 102, rating: 7 },
          { id: 201, rating: 9 },
          { id: 202, rating: 9 },
        );
        expect(await rows(db.pool, 'SELECT id, rating FROM reviews ORDER BY id')).toEqual(expected);
        // The index on the column was rebuilt on the new column and has its name back.
        expect(await indexesOf(db.pool, 'reviews')).toEqual([
          {
            name: 'reviews_pkey',
            def: 'CREATE UNIQUE INDEX reviews_pkey ON public.reviews USING btree (id)',
            valid: true,
          },
          {
            name: 'reviews_rating_idx',
            def: 'CREATE INDEX reviews_rating_idx ON public.reviews USING btree (rating)',
            valid: true,
          },
        ]);
      },
    });
  });

  it('sets NOT NULL (example 16): up fills NULLs, the old version may still write NULL', async () => {
    await runCycle({
      setup: [
        ...reviews,
        `ALTER TABLE reviews ADD CONSTRAINT review_not_empty CHECK (review <> '')`,
      ],
      migration: `
operations:
  - alter_column:
      table: reviews
      column: review
      nullable: false
      up: SELECT CASE WHEN review IS NULL THEN product || ' is good' ELSE review END
      down: review
`,
      async whileActive({ old, next, pass }) {
        expect(
          await rows(next, 'SELECT id, review FROM reviews WHERE id IN (4, 5) ORDER BY id'),
        ).toEqual([
          { id: 4, review: 'good' },
          { id: 5, review: 'product 5 is good' },
        ]);
        expect(await rows(old, 'SELECT review FROM reviews WHERE id = 5')).toEqual([
          { review: null },
        ]);
        // The old version may still write NULL; the new version reads up's value.
        await old.query(`INSERT INTO reviews VALUES ($1, 'old', 'lamp', NULL, NULL)`, [100 + pass]);
        expect(await rows(old, 'SELECT review FROM reviews WHERE id = $1', [100 + pass])).toEqual([
          { review: null },
        ]);
        expect(await rows(next, 'SELECT review FROM reviews WHERE id = $1', [100 + pass])).toEqual([
          { review: 'lamp is good' },
        ]);
        // The new version may not.
        await expect(
          next.query(
            `INSERT INTO reviews (id, username, product, review) VALUES (999, 'new', 'desk', NULL)`,
          ),
        ).rejects.toThrow(/_tidal_nn_|null value/);
        await expect(next.query('UPDATE reviews SET review = NULL WHERE id = 1')).rejects.toThrow(
          /_tidal_nn_|null value/,
        );
        // The check the column had holds for the new version too.
        await expect(
          next.query(
            `INSERT INTO reviews (id, username, product, review) VALUES (999, 'new', 'desk', '')`,
          ),
        ).rejects.toThrow(/check constraint/);
        await next.query(
          `INSERT INTO reviews (id, username, product, review) VALUES ($1, 'new', 'desk', 'fine')`,
          [200 + pass],
        );
        expect(await rows(old, 'SELECT review FROM reviews WHERE id = $1', [200 + pass])).toEqual([
          { review: 'fine' },
        ]);
      },
      async afterRollback(db) {
        expect(
          await rows(
            db.pool,
            'SELECT id, review FROM reviews WHERE id IN (5, 101, 201) ORDER BY id',
          ),
        ).toEqual([
          { id: 5, review: null },
          { id: 101, review: null },
          { id: 201, review: 'fine' },
        ]);
      },
      async afterComplete(db) {
        expect(await columnOf(db.pool, 'reviews', 'review')).toEqual([
          { type: 'text', notnull: true, default: null, comment: null },
        ]);
        expect(
          await rows(
            db.pool,
            'SELECT id, review FROM reviews WHERE id IN (4, 5, 101, 102, 202) ORDER BY id',
          ),
        ).toEqual([
          { id: 4, review: 'good' },
          { id: 5, review: 'product 5 is good' },
          { id: 101, review: 'lamp is good' },
          { id: 102, review: 'lamp is good' },
          { id: 202, review: 'fine' },
        ]);
        expect(
          await rows(db.pool, 'SELECT count(*)::int AS n FROM reviews WHERE review IS NULL'),
        ).toEqual([{ n: 0 }]);
        expect(await constraintsOf(db.pool, 'reviews')).toEqual([
          { name: 'review_not_empty', def: "CHECK ((review <> ''::text))", validated: true },
          { name: 'reviews_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
      },
    });
  });

  it('adds a unique constraint (example 15) with an up that makes values unique', async () => {
    await runCycle({
      setup: reviews,
      migration: `
operations:
  - alter_column:
      table: reviews
      column: review
      unique:
        name: reviews_review_unique
      up: review || '-' || id
      down: review
`,
      async whileActive({ old, next, pass }) {
        expect(
          await rows(next, 'SELECT id, review FROM reviews WHERE id IN (1, 2, 5) ORDER BY id'),
        ).toEqual([
          { id: 1, review: 'good-1' },
          { id: 2, review: 'good-2' },
          { id: 5, review: null },
        ]);
        // The old version still writes duplicates; up makes them unique for the new version.
        await old.query(`INSERT INTO reviews VALUES ($1, 'old', 'lamp', 'good', NULL)`, [
          100 + pass,
        ]);
        expect(await rows(next, 'SELECT review FROM reviews WHERE id = $1', [100 + pass])).toEqual([
          { review: `good-${100 + pass}` },
        ]);
        await next.query(
          `INSERT INTO reviews (id, username, product, review) VALUES ($1, 'new', 'desk', $2)`,
          [200 + pass, `mine ${pass}`],
        );
        expect(await rows(old, 'SELECT review FROM reviews WHERE id = $1', [200 + pass])).toEqual([
          { review: `mine ${pass}` },
        ]);
        // The new version may not write a duplicate.
        await expect(
          next.query(
            `INSERT INTO reviews (id, username, product, review) VALUES (999, 'new', 'desk', 'good-1')`,
          ),
        ).rejects.toThrow(/duplicate key/);
        await expect(
          next.query(`UPDATE reviews SET review = 'good-1' WHERE id = 2`),
        ).rejects.toThrow(/duplicate key/);
      },
      async afterRollback(db) {
        expect(
          await rows(
            db.pool,
            'SELECT id, review FROM reviews WHERE id IN (1, 101, 201) ORDER BY id',
          ),
        ).toEqual([
          { id: 1, review: 'good' },
          { id: 101, review: 'good' },
          { id: 201, review: 'mine 1' },
        ]);
      },
      async afterComplete(db) {
        expect(
          await rows(
            db.pool,
            'SELECT id, review FROM reviews WHERE id IN (1, 102, 201, 202) ORDER BY id',
          ),
        ).toEqual([
          { id: 1, review: 'good-1' },
          { id: 102, review: 'good-102' },
          { id: 201, review: 'mine 1-201' },
          { id: 202, review: 'mine 2' },
        ]);
        expect(await constraintsOf(db.pool, 'reviews')).toEqual([
          { name: 'reviews_pkey', def: 'PRIMARY KEY (id)', validated: true },
          { name: 'reviews_review_unique', def: 'UNIQUE (review)', validated: true },
        ]);
        expect(await columnOf(db.pool, 'reviews', 'review')).toEqual([
          { type: 'text', notnull: false, default: null, comment: null },
        ]);
        await expect(
          db.query(
            `INSERT INTO reviews (id, username, product, review) VALUES (999, 'u', 'p', 'good-1')`,
          ),
        ).rejects.toThrow(/reviews_review_unique/);
      },
    });
  });

  it('adds a check constraint (example 22); the old version still writes what it rejects', async () => {
    await runCycle({
      setup: [
        'CREATE TABLE posts (id int PRIMARY KEY, title varchar(255) NOT NULL, user_id int)',
        "INSERT INTO posts VALUES (1, 'abc', NULL), (2, 'hello', NULL), (3, 'x', NULL)",
      ],
      migration: `
operations:
  - alter_column:
      table: posts
      column: title
      check:
        name: title_length
        constraint: length(title) > 3
      up: SELECT CASE WHEN length(title) <= 3 THEN LPAD(title, 4, '-') ELSE title END
      down: title
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, 'SELECT id, title FROM posts WHERE id <= 3 ORDER BY id')).toEqual([
          { id: 1, title: '-abc' },
          { id: 2, title: 'hello' },
          { id: 3, title: '---x' },
        ]);
        await old.query(`INSERT INTO posts VALUES ($1, 'xy')`, [100 + pass]);
        expect(await rows(old, 'SELECT title FROM posts WHERE id = $1', [100 + pass])).toEqual([
          { title: 'xy' },
        ]);
        expect(await rows(next, 'SELECT title FROM posts WHERE id = $1', [100 + pass])).toEqual([
          { title: '--xy' },
        ]);
        await expect(
          next.query(`INSERT INTO posts (id, title) VALUES (999, 'ab')`),
        ).rejects.toThrow(/title_length/);
        await expect(next.query(`UPDATE posts SET title = 'ab' WHERE id = 2`)).rejects.toThrow(
          /title_length/,
        );
        await next.query(`INSERT INTO posts (id, title) VALUES ($1, 'a long title')`, [200 + pass]);
        expect(await rows(old, 'SELECT title FROM posts WHERE id = $1', [200 + pass])).toEqual([
          { title: 'a long title' },
        ]);
      },
      async afterRollback(db) {
        expect(await constraintsOf(db.pool, 'posts')).toEqual([
          { name: 'posts_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
        expect(await rows(db.pool, 'SELECT title FROM posts WHERE id = 101')).toEqual([
          { title: 'xy' },
        ]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'posts')).toEqual([
          { name: 'posts_pkey', def: 'PRIMARY KEY (id)', validated: true },
          { name: 'title_length', def: 'CHECK ((length((title)::text) > 3))', validated: true },
        ]);
        // Only the constraint changed: the type and NOT NULL are the column's own.
        expect(await columnOf(db.pool, 'posts', 'title')).toEqual([
          { type: 'character varying(255)', notnull: true, default: null, comment: null },
        ]);
        expect(await rows(db.pool, 'SELECT id, title FROM posts ORDER BY id')).toEqual([
          { id: 1, title: '-abc' },
          { id: 2, title: 'hello' },
          { id: 3, title: '---x' },
          { id: 101, title: '--xy' },
          { id: 102, title: '--xy' },
          { id: 201, title: 'a long title' },
          { id: 202, title: 'a long title' },
        ]);
        await expect(db.query(`INSERT INTO posts (id, title) VALUES (999, 'ab')`)).rejects.toThrow(
          /title_length/,
        );
      },
    });
  });

  it('adds a foreign key with ON DELETE CASCADE (example 21); up clears dangling references', async () => {
    await runCycle({
      setup: [
        'CREATE TABLE users (id int PRIMARY KEY, name text)',
        "INSERT INTO users VALUES (1, 'ann'), (2, 'bob')",
        'CREATE TABLE posts (id int PRIMARY KEY, title text NOT NULL, user_id int)',
        "INSERT INTO posts VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 99), (4, 'd', NULL)",
      ],
      migration: `
operations:
  - alter_column:
      table: posts
      column: user_id
      references:
        name: fk_users_id
        table: users
        column: id
        on_delete: CASCADE
      up: SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE users.id = user_id) THEN user_id ELSE NULL END
      down: user_id
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, 'SELECT id, user_id FROM posts WHERE id <= 4 ORDER BY id')).toEqual(
          [
            { id: 1, user_id: 1 },
            { id: 2, user_id: 2 },
            { id: 3, user_id: null },
            { id: 4, user_id: null },
          ],
        );
        // The old version still writes a dangling reference; the new version sees NULL.
        await old.query(`INSERT INTO posts VALUES ($1, 'old', 77)`, [100 + pass]);
        expect(await rows(old, 'SELECT user_id FROM posts WHERE id = $1', [100 + pass])).toEqual([
          { user_id: 77 },
        ]);
        expect(await rows(next, 'SELECT user_id FROM posts WHERE id = $1', [100 + pass])).toEqual([
          { user_id: null },
        ]);
        await expect(
          next.query(`INSERT INTO posts (id, title, user_id) VALUES (999, 'x', 55)`),
        ).rejects.toThrow(/fk_users_id/);
        await expect(next.query('UPDATE posts SET user_id = 55 WHERE id = 1')).rejects.toThrow(
          /fk_users_id/,
        );
        await next.query(`INSERT INTO posts (id, title, user_id) VALUES ($1, 'new', 2)`, [
          200 + pass,
        ]);
        expect(await rows(old, 'SELECT user_id FROM posts WHERE id = $1', [200 + pass])).toEqual([
          { user_id: 2 },
        ]);
      },
      async afterRollback(db) {
        expect(await constraintsOf(db.pool, 'posts')).toEqual([
          { name: 'posts_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
        expect(
          await rows(db.pool, 'SELECT id, user_id FROM posts WHERE id IN (3, 101) ORDER BY id'),
        ).toEqual([
          { id: 3, user_id: 99 },
          { id: 101, user_id: 77 },
        ]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'posts')).toEqual([
          {
            name: 'fk_users_id',
            def: 'FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE',
            validated: true,
          },
          { name: 'posts_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
        expect(await rows(db.pool, 'SELECT id, user_id FROM posts ORDER BY id')).toEqual([
          { id: 1, user_id: 1 },
          { id: 2, user_id: 2 },
          { id: 3, user_id: null },
          { id: 4, user_id: null },
          { id: 101, user_id: null },
          { id: 102, user_id: null },
          { id: 201, user_id: 2 },
          { id: 202, user_id: 2 },
        ]);
        await db.query('DELETE FROM users WHERE id = 2');
        expect(await rows(db.pool, 'SELECT id FROM posts WHERE user_id IS NOT NULL')).toEqual([
          { id: 1 },
        ]);
      },
    });
  });

  it('makes several changes in one operation (example 35 with a valid down)', async () => {
    await runCycle({
      setup: [
        `CREATE TABLE events (id int PRIMARY KEY, name varchar(255) DEFAULT '<placeholder>')`,
        "COMMENT ON COLUMN events.name IS 'the name of the event'",
        "INSERT INTO events VALUES (1, 'conference'), (2, NULL), (3, 'ab'), (4, 'meetup')",
      ],
      migration: `
operations:
  - alter_column:
      table: events
      column: name
      type: text
      default: "'unknown event'"
      nullable: false
      comment: the full name of the event
      unique:
        name: events_event_name_unique
      check:
        name: event_name_length
        constraint: length(name) > 3
      up: SELECT CASE WHEN name IS NULL OR LENGTH(name) <= 3 THEN 'placeholder-' || id ELSE name END
      down: name
`,
      async whileActive({ db, old, next, pass }) {
        expect(await rows(next, 'SELECT id, name FROM events WHERE id <= 4 ORDER BY id')).toEqual([
          { id: 1, name: 'conference' },
          { id: 2, name: 'placeholder-2' },
          { id: 3, name: 'placeholder-3' },
          { id: 4, name: 'meetup' },
        ]);
        // The new version's default and comment; the old version keeps its own.
        await next.query('BEGIN');
        expect(await rows(next, 'INSERT INTO events (id) VALUES (998) RETURNING name')).toEqual([
          { name: 'unknown event' },
        ]);
        await next.query('ROLLBACK');
        expect(
          await rows(
            db.pool,
            `SELECT col_description('public_m1.events'::regclass, 2) AS next, col_description('public.events'::regclass, 2) AS old`,
          ),
        ).toEqual([{ next: 'the full name of the event', old: 'the name of the event' }]);
        // The old version writes what the new constraints reject; up converts it.
        await old.query('INSERT INTO events VALUES ($1, NULL), ($2, $3)', [
          100 + pass,
          110 + pass,
          'ab',
        ]);
        expect(
          await rows(next, 'SELECT id, name FROM events WHERE id IN ($1, $2) ORDER BY id', [
            100 + pass,
            110 + pass,
          ]),
        ).toEqual([
          { id: 100 + pass, name: `placeholder-${100 + pass}` },
          { id: 110 + pass, name: `placeholder-${110 + pass}` },
        ]);
        // The new version may not.
        await expect(next.query('INSERT INTO events VALUES (999, NULL)')).rejects.toThrow(
          /_tidal_nn_|null value/,
        );
        await expect(next.query(`INSERT INTO events VALUES (999, 'abc')`)).rejects.toThrow(
          /event_name_length/,
        );
        await expect(next.query(`INSERT INTO events VALUES (999, 'conference')`)).rejects.toThrow(
          /duplicate key/,
        );
        await next.query('INSERT INTO events VALUES ($1, $2)', [200 + pass, `launch ${pass}`]);
        expect(await rows(old, 'SELECT name FROM events WHERE id = $1', [200 + pass])).toEqual([
          { name: `launch ${pass}` },
        ]);
      },
      async afterRollback(db) {
        expect(await columnOf(db.pool, 'events', 'name')).toEqual([
          {
            type: 'character varying(255)',
            notnull: false,
            default: "'<placeholder>'::character varying",
            comment: 'the name of the event',
          },
        ]);
        expect(
          await rows(db.pool, 'SELECT id, name FROM events WHERE id IN (2, 101, 201) ORDER BY id'),
        ).toEqual([
          { id: 2, name: null },
          { id: 101, name: null },
          { id: 201, name: 'launch 1' },
        ]);
      },
      async afterComplete(db) {
        expect(await columnOf(db.pool, 'events', 'name')).toEqual([
          {
            type: 'text',
            notnull: true,
            default: "'unknown event'::text",
            comment: 'the full name of the event',
          },
        ]);
        expect(await constraintsOf(db.pool, 'events')).toEqual([
          { name: 'event_name_length', def: 'CHECK ((length(name) > 3))', validated: true },
          { name: 'events_event_name_unique', def: 'UNIQUE (name)', validated: true },
          { name: 'events_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
        expect(await rows(db.pool, 'SELECT id, name FROM events ORDER BY id')).toEqual([
          { id: 1, name: 'conference' },
          { id: 2, name: 'placeholder-2' },
          { id: 3, name: 'placeholder-3' },
          { id: 4, name: 'meetup' },
          { id: 101, name: 'placeholder-101' },
          { id: 102, name: 'placeholder-102' },
          { id: 111, name: 'placeholder-111' },
          { id: 112, name: 'placeholder-112' },
          { id: 201, name: 'launch 1' },
          { id: 202, name: 'launch 2' },
        ]);
      },
    });
  });
});

describe('two alter_column operations on one column', () => {
  it('with only other tables between them, they make one copy: ups and downs compose, one backfill', async () => {
    const migration = `
operations:
  - alter_column: {table: posts, column: n, type: integer, up: "n::integer", down: "n::text"}
  - create_table: {name: other, columns: [{name: id, type: int, pk: true}]}
  - alter_column: {table: posts, column: n, name: score, nullable: false, up: "coalesce(n, 0) * 10", down: "score / 10"}
`;
    await runCycle({
      setup: [
        'CREATE TABLE posts (id int PRIMARY KEY, n text)',
        "INSERT INTO posts VALUES (1, '1'), (2, NULL), (3, '3')",
      ],
      migration,
      async whileActive({ db, old, next, pass }) {
        expect(await rows(next, 'SELECT id, score FROM posts WHERE id <= 3 ORDER BY id')).toEqual([
          { id: 1, score: 10 },
          { id: 2, score: 0 },
          { id: 3, score: 30 },
        ]);
        await old.query(`INSERT INTO posts VALUES ($1, '5')`, [100 + pass]);
        await next.query('INSERT INTO posts (id, score) VALUES ($1, 70)', [200 + pass]);
        expect(await rows(next, 'SELECT score FROM posts WHERE id = $1', [100 + pass])).toEqual([
          { score: 50 },
        ]);
        expect(await rows(old, 'SELECT n FROM posts WHERE id = $1', [200 + pass])).toEqual([
          { n: '7' },
        ]);
        // One copy column, one backfill.
        const columns = await rows(
          db.pool,
          `SELECT attname FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname LIKE '\\_tidal\\_new%'`,
        );
        expect(columns).toEqual([{ attname: '_tidal_new_n' }]);
      },
      async afterComplete(db) {
        expect(await columnOf(db.pool, 'posts', 'score')).toEqual([
          { type: 'integer', notnull: true, default: null, comment: null },
        ]);
        expect(await rows(db.pool, 'SELECT id, score FROM posts ORDER BY id')).toEqual([
          { id: 1, score: 10 },
          { id: 2, score: 0 },
          { id: 3, score: 30 },
          { id: 101, score: 50 },
          { id: 102, score: 50 },
          { id: 201, score: 70 },
          { id: 202, score: 70 },
        ]);
      },
    });
  });

  it('with a change of the same table between them, or with two checks, they are refused before anything runs', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE posts (id int PRIMARY KEY, n text, m text)');
      const cases: [string, RegExp][] = [
        [
          `  - alter_column: {table: posts, column: n, type: integer, up: "n::integer"}
  - alter_column: {table: posts, column: m, type: integer, up: "m::integer"}
  - alter_column: {table: posts, column: n, nullable: false, up: "coalesce(n, 0)"}`,
          /operations\[2\]\.alter_column\.column: column "n" is already changed through a copy by an earlier operation of this migration; put both changes in one alter_column, or with no other change of this table between them/,
        ],
        [
          `  - alter_column: {table: posts, column: n, check: {name: a, constraint: "n <> ''"}, up: "coalesce(n, 'x')"}
  - alter_column: {table: posts, column: n, check: {name: b, constraint: "n <> 'y'"}, up: n}`,
          /operations\[1\]\.alter_column\.check: the operation before changes the same column and also adds a check/,
        ],
      ];
      for (const [operations, message] of cases) {
        const loaded = await migrationFromYaml('m1', `operations:\n${operations}\n`);
        const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
        expect(error).toBeInstanceOf(InputError);
        expect((error as Error).message).toMatch(message);
      }
      expect(await rows(db.pool, `SELECT to_regnamespace('tidal') AS s`)).toEqual([{ s: null }]);
    } finally {
      await db.dispose();
    }
  });
});

describe('alter_column with a copy column, refused or failed', () => {
  it('refuses columns of composite primary keys and multi-column indexes, and keys a table references itself, before anything runs', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE users (id int PRIMARY KEY, org int, team int)');
      await db.query('CREATE INDEX users_org_team_idx ON users (org, team)');
      await db.query('CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b))');
      await db.query('CREATE TABLE nodes (id int PRIMARY KEY, parent int REFERENCES nodes (id))');
      const before = await snapshotCatalog(db.pool);
      const cases = [
        ['pairs', 'a', 'type: bigint', 'primary key of several columns'],
        ['users', 'org', 'type: bigint', 'multi-column or expression index "users_org_team_idx"'],
        ['users', 'team', 'type: text', 'multi-column or expression index'],
        ['nodes', 'id', 'type: bigint', 'foreign key "nodes_parent_fkey" of table "nodes"'],
      ];
      for (const [table, column, change, why] of cases) {
        const loaded = await migrationFromYaml(
          'm1',
          `
operations:
  - alter_column:
      table: ${table}
      column: ${column}
      ${change}
      up: ${column}
      down: ${column}
`,
        );
        const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
        expect(error, `${table}.${column}`).toBeInstanceOf(InputError);
        expect((error as Error).message).toMatch(
          /m1\.yaml: operations\[0\]\.alter_column\b.*not supported by this version of tidal yet/,
        );
        expect((error as Error).message).toContain(why);
        expect(await rows(db.pool, `SELECT to_regnamespace('tidal') AS s`)).toEqual([{ s: null }]);
      }
      expect(await snapshotCatalog(db.pool)).toEqual(before);
    } finally {
      await db.dispose();
    }
  });

  it('fails start and rolls back when up leaves values the new constraint rejects', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of reviews) await db.query(sql);
      const before = await snapshotCatalog(db.pool);
      const data = await rows(db.pool, 'SELECT * FROM reviews ORDER BY id');
      const changes = [
        ['nulls', 'nullable: false'], // every fifth review is NULL
        ['dups', 'unique:\n        name: reviews_review_unique'], // 'good' many times
      ];
      for (const [name, change] of changes) {
        const loaded = await migrationFromYaml(
          `${name}`,
          `
operations:
  - alter_column:
      table: reviews
      column: review
      ${change}
      up: review
      down: review
`,
        );
        const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
        expect(error, name).toBeInstanceOf(OperationError);
        expect((error as Error).message).toMatch(/rolled back/);
        expect(await snapshotCatalog(db.pool)).toEqual(before);
        expect(await rows(db.pool, 'SELECT * FROM reviews ORDER BY id')).toEqual(data);
        const status = await withTidal(db.url, (t) => t.status());
        expect(status.active).toBeNull();
      }
    } finally {
      await db.dispose();
    }
  });
});
