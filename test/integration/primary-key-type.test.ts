/** The classic case: a serial primary key runs out of integers. int to bigint on `users.id`,
 *  carried through to the foreign key of `posts` that references it, with writes running. */

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { constraintsOf } from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, versionClient, withTidal } from '../helpers/tidal.js';
import { sleep } from '../helpers/wait.js';

const setup = [
  'CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL)',
  `CREATE TABLE posts (id serial PRIMARY KEY, body text,
     user_id int REFERENCES users (id) ON DELETE CASCADE)`,
  "INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, 3000) g",
  'INSERT INTO posts (user_id, body) SELECT 1 + g % 3000, g::text FROM generate_series(1, 9000) g',
];

const migration = 'operations:\n  - alter_column: {table: users, column: id, type: bigint}\n';

async function types(db: pg.Pool) {
  return rows(
    db,
    `SELECT attrelid::regclass::text AS rel, attname AS col, format_type(atttypid, atttypmod) AS type
       FROM pg_attribute
      WHERE (attrelid, attname) IN (('users'::regclass, 'id'), ('posts'::regclass, 'user_id'))
      ORDER BY 1`,
  );
}

/** Posts whose user does not exist: a broken reference. */
const orphans = `SELECT count(*)::int AS n FROM posts p
                  WHERE p.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)`;

describe('alter_column type of a primary key that a foreign key references', () => {
  it('goes int to bigint on both sides; the key, the reference and the sequence come through', async () => {
    await runCycle({
      setup,
      migration,
      async whileActive({ db, old, next, pass }) {
        // The new version sees bigint on both sides, the old one int.
        const newTypes = await rows(
          next,
          `SELECT pg_typeof(u.id)::text AS users, pg_typeof(p.user_id)::text AS posts
             FROM users u JOIN posts p ON p.user_id = u.id LIMIT 1`,
        );
        expect(newTypes).toEqual([{ users: 'bigint', posts: 'bigint' }]);
        // Users and posts written through each version reference each other across versions.
        const [a] = await rows<{ id: number }>(
          old,
          `INSERT INTO users (name) VALUES ('old ' || $1) RETURNING id`,
          [pass],
        );
        const [b] = await rows<{ id: string }>(
          next,
          `INSERT INTO users (name) VALUES ('new ' || $1) RETURNING id`,
          [pass],
        );
        await next.query(`INSERT INTO posts (user_id, body) VALUES ($1, 'by new')`, [a?.id]);
        await old.query(`INSERT INTO posts (user_id, body) VALUES ($1, 'by old')`, [b?.id]);
        expect(Number(b?.id)).toBeGreaterThan(3000);
        // Both keys refuse a post for a user that does not exist.
        for (const version of [old, next]) {
          await expect(
            version.query(`INSERT INTO posts (user_id, body) VALUES (999999, 'x')`),
          ).rejects.toThrow(/foreign key/);
        }
        // A delete through the new version cascades.
        await next.query(`DELETE FROM users WHERE id = $1`, [pass]);
        expect(
          await rows(old, 'SELECT count(*)::int AS n FROM posts WHERE user_id = $1', [pass]),
        ).toEqual([{ n: 0 }]);
        expect(await rows(db.pool, orphans)).toEqual([{ n: 0 }]);
      },
      async afterRollback(db) {
        expect(await types(db.pool)).toEqual([
          { rel: 'posts', col: 'user_id', type: 'integer' },
          { rel: 'users', col: 'id', type: 'integer' },
        ]);
        expect(await rows(db.pool, orphans)).toEqual([{ n: 0 }]);
      },
      async afterComplete(db) {
        expect(await types(db.pool)).toEqual([
          { rel: 'posts', col: 'user_id', type: 'bigint' },
          { rel: 'users', col: 'id', type: 'bigint' },
        ]);
        expect(await constraintsOf(db.pool, 'users')).toEqual([
          { name: 'users_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
        expect(await constraintsOf(db.pool, 'posts')).toEqual([
          { name: 'posts_pkey', def: 'PRIMARY KEY (id)', validated: true },
          {
            name: 'posts_user_id_fkey',
            def: 'FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE',
            validated: true,
          },
        ]);
        // The sequence moved to the new column and grew to bigint.
        expect(
          await rows(
            db.pool,
            `SELECT pg_get_serial_sequence('users', 'id') AS seq,
                    (SELECT format_type(seqtypid, NULL) FROM pg_sequence
                      WHERE seqrelid = 'users_id_seq'::regclass) AS type`,
          ),
        ).toEqual([{ seq: 'public.users_id_seq', type: 'bigint' }]);
        await db.query(`SELECT setval('users_id_seq', 3000000000)`);
        const [big] = await rows<{ id: string }>(
          db.pool,
          `INSERT INTO users (name) VALUES ('big') RETURNING id::text`,
        );
        await db.query(`INSERT INTO posts (user_id, body) VALUES ($1, 'big')`, [big?.id]);
        expect(big?.id).toBe('3000000001');
        expect(await rows(db.pool, orphans)).toEqual([{ n: 0 }]);
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM users')).toEqual([
          { n: 3000 - 2 + 4 + 1 },
        ]);
      },
    });
  });

  it('keeps every row and reference while both versions write through start and complete', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of setup) await db.query(sql);
      const loaded = await migrationFromYaml('m1', migration);
      const writers: Writer[] = [];
      const old = await versionClient(db.url, null);
      writers.push(new Writer(old, 'old'));
      try {
        await withTidal(db.url, async (tidal) => {
          await tidal.start(loaded);
          const next = await versionClient(db.url, 'public_m1');
          writers.push(new Writer(next, 'new'));
          await sleep(300);
          // No old instance is left when complete runs: that is what complete means.
          await writers[0]?.stop();
          await tidal.complete();
          await sleep(200);
        });
      } finally {
        for (const w of writers) await w.stop();
      }

      for (const w of writers) {
        expect(w.errors, `${w.name} writer`).toEqual([]);
        expect(w.users.length, `${w.name} writer`).toBeGreaterThan(0);
        const found = await rows<{ n: number }>(
          db.pool,
          `SELECT count(*)::int AS n FROM users u JOIN posts p ON p.user_id = u.id
            WHERE u.id = ANY($1::bigint[]) AND p.body = 'w'`,
          [w.users],
        );
        // Each user the writer made has both of its posts, attached to it.
        expect(found).toEqual([{ n: 2 * w.users.length }]);
      }
      expect(await rows(db.pool, orphans)).toEqual([{ n: 0 }]);
      expect(await types(db.pool)).toEqual([
        { rel: 'posts', col: 'user_id', type: 'bigint' },
        { rel: 'users', col: 'id', type: 'bigint' },
      ]);
    } finally {
      await db.dispose();
    }
  }, 120_000);
});

/** A user and two posts per transaction, as fast as the server takes them, until stopped. */
class Writer {
  readonly users: string[] = [];
  readonly errors: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly client: pg.Client,
    readonly name: string,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        await this.client.query('BEGIN');
        const { rows: made } = await this.client.query<{ id: string }>(
          `INSERT INTO users (name) VALUES ($1) RETURNING id::text`,
          [this.name],
        );
        const id = made[0]?.id;
        await this.client.query(`INSERT INTO posts (user_id, body) VALUES ($1, 'w'), ($1, 'w')`, [
          id,
        ]);
        await this.client.query('COMMIT');
        if (id) this.users.push(id);
      } catch (error) {
        await this.client.query('ROLLBACK').catch(() => {});
        this.errors.push((error as Error).message);
        // A broken connection fails at once: give the event loop a turn, and stop after a few.
        if (this.errors.length > 20) break;
        await sleep(10);
      }
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return this.done;
    this.running = false;
    await this.done;
    await this.client.end();
  }
}
