/** Constraints whose `up` keeps the values go on the existing columns: no copy column, no
 *  backfill, no rewrite; they bind both versions from start. */

import { describe, expect, it } from 'vitest';
import { OperationError } from '../../src/errors.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { columnOf, constraintsOf, snapshotCatalog } from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

/** The table's file and columns: the same file means no rewrite, the same columns no copy. */
async function shape(db: Queryable, table: string) {
  return rows(
    db,
    `SELECT c.relfilenode::int AS node,
            (SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
              WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS columns
       FROM pg_class c WHERE c.oid = $1::regclass`,
    [table],
  );
}

describe('constraints added in place', () => {
  it('alter_column NOT NULL, unique, check and foreign key without up: no copy, both versions bound', async () => {
    let before: unknown;
    await runCycle({
      setup: [
        'CREATE TABLE teams (id int PRIMARY KEY)',
        'INSERT INTO teams VALUES (1), (2)',
        'CREATE TABLE people (id int PRIMARY KEY, email text, team int)',
        `INSERT INTO people SELECT g, 'p' || g || '@x', 1 + g % 2 FROM generate_series(1, 50) g`,
      ],
      migration: `
operations:
  - alter_column:
      table: people
      column: email
      nullable: false
      unique: {name: people_email_unique}
      check: {name: email_has_at, constraint: "email LIKE '%@%'"}
  - alter_column:
      table: people
      column: team
      references: {name: people_team_fkey, table: teams, column: id}
`,
      async whileActive({ db, old, next, pass }) {
        before ??= await shape(db.pool, 'people');
        expect(await shape(db.pool, 'people')).toEqual(before);
        for (const [version, id] of [
          [old, 100 + pass],
          [next, 200 + pass],
        ] as const) {
          await expect(version.query('INSERT INTO people (id) VALUES ($1)', [id])).rejects.toThrow(
            /_tidal_nn_email/,
          );
          await expect(
            version.query(`INSERT INTO people VALUES ($1, 'p1@x', 1)`, [id]),
          ).rejects.toThrow(/people_email_unique/);
          await expect(
            version.query(`INSERT INTO people VALUES ($1, 'nobody', 1)`, [id]),
          ).rejects.toThrow(/email_has_at/);
          await expect(
            version.query(`INSERT INTO people VALUES ($1, $2, 9)`, [id, `${id}@x`]),
          ).rejects.toThrow(/people_team_fkey/);
          await version.query(`INSERT INTO people VALUES ($1, $2, 2)`, [id, `${id}@x`]);
        }
      },
      async afterComplete(db) {
        expect(await shape(db.pool, 'people')).toEqual(before);
        expect(await columnOf(db.pool, 'people', 'email')).toEqual([
          { type: 'text', notnull: true, default: null, comment: null },
        ]);
        expect(await constraintsOf(db.pool, 'people')).toEqual([
          { name: 'email_has_at', def: "CHECK ((email ~~ '%@%'::text))", validated: true },
          { name: 'people_email_unique', def: 'UNIQUE (email)', validated: true },
          { name: 'people_pkey', def: 'PRIMARY KEY (id)', validated: true },
          {
            name: 'people_team_fkey',
            def: 'FOREIGN KEY (team) REFERENCES teams(id)',
            validated: true,
          },
        ]);
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM people')).toEqual([{ n: 54 }]);
      },
    });
  });

  it('create_constraint primary key on a table without one, through a concurrent unique index', async () => {
    await runCycle({
      setup: [
        'CREATE TABLE log (id int, at timestamptz NOT NULL DEFAULT now(), line text)',
        `INSERT INTO log (id, line) SELECT g, 'line ' || g FROM generate_series(1, 30) g`,
      ],
      migration: `
operations:
  - create_constraint: {table: log, name: log_pkey, type: primary_key, columns: [id], up: {id: id}, down: {id: id}}
`,
      async whileActive({ old, next, pass }) {
        for (const version of [old, next]) {
          await expect(version.query(`INSERT INTO log (id) VALUES (1)`)).rejects.toThrow(
            /_tidal_log_pkey/,
          );
          await expect(version.query(`INSERT INTO log (line) VALUES ('x')`)).rejects.toThrow(
            /_tidal_nn_id/,
          );
        }
        await next.query(`INSERT INTO log (id) VALUES ($1)`, [100 + pass]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'log')).toEqual([
          { name: 'log_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
        expect(await columnOf(db.pool, 'log', 'id')).toMatchObject([{ notnull: true }]);
      },
    });
  });

  it('start fails before anything is visible when rows break it, naming them', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE log (id int, line text)');
      await db.query(`INSERT INTO log VALUES (1, 'a'), (2, 'b'), (2, 'c'), (3, 'd')`);
      const before = await snapshotCatalog(db.pool);
      const loaded = await migrationFromYaml(
        'm1',
        'operations:\n  - create_constraint: {table: log, name: log_id_unique, type: unique, columns: [id], up: {id: id}, down: {id: id}}\n',
      );
      const { plan } = await withTidal(db.url, (t) => t.plan(loaded));
      expect(plan.paths?.[0]?.path).toMatch(/^in place: .*no copy column and no backfill/);
      expect(plan.backfills).toEqual([]);
      const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(OperationError);
      // Without a primary key, rows are named by their physical location.
      expect((error as Error).message).toMatch(
        /could not create unique index "_tidal_log_id_unique"[\s\S]*rows that break it: ctid \(0,2\); ctid \(0,3\)\n[\s\S]*rolled back/,
      );
      expect(await snapshotCatalog(db.pool)).toEqual(before);
    } finally {
      await db.dispose();
    }
  });
});
